//! A mock API server for tests (feature `mock`): the controller-rs `ApiServerVerifier`
//! pattern over `tower-test`.
//!
//! A test lists the exact calls it expects ([`Exchange`]: method, path with query, a JSON
//! subset the body must include, optionally the content type, and the canned reply). The verifier answers them in order and
//! fails the test on a call that differs. A **missing** call leaves [`Verifier::finish`]
//! waiting, which fails after [`MISSING_CALL_TIMEOUT`] (in paused tokio time this is instant);
//! an **extra** call after the last expected one finds the mock closed and fails in the code
//! under test (kube reports `Service(Closed)`).

use std::time::Duration;

use http::{Method, Request, Response};
use kube::client::Body;
use serde_json::Value;
use tokio::task::JoinHandle;
use tower_test::mock;

/// How long [`Verifier::finish`] waits for the expected calls to arrive.
pub const MISSING_CALL_TIMEOUT: Duration = Duration::from_secs(1);
/// The content type of a server-side apply patch (`Patch::Apply`); a JSON body is valid YAML.
pub const APPLY_PATCH: &str = "application/apply-patch+yaml";
/// The query of a server-side apply by Drydock's field manager that takes over conflicting
/// fields (`PatchParams::apply("drydock").force()`), as kube writes it.
pub const APPLY_QUERY: &str = "?&force=true&fieldManager=drydock";

/// One expected call and its reply.
#[derive(Clone, Debug)]
pub struct Exchange {
    /// The HTTP method.
    pub method: Method,
    /// The path and query, exactly as sent.
    pub path: String,
    /// A JSON value the request body must include (objects by subset, the rest by equality).
    pub body: Option<Value>,
    /// The `content-type` the request must carry (a patch's kind: merge, apply, …).
    pub content_type: Option<&'static str>,
    /// The reply's status code.
    pub status: u16,
    /// The reply's JSON body.
    pub reply: Value,
    /// Plays the API server's validation: a message means the body is invalid, and the call is
    /// answered 422 `Invalid` with it instead of the reply.
    pub validate: Option<fn(&Value) -> Option<String>>,
}

impl Exchange {
    /// A call answered 200 with `reply`.
    pub fn new(method: Method, path: impl Into<String>, reply: Value) -> Exchange {
        Exchange {
            method,
            path: path.into(),
            body: None,
            content_type: None,
            status: 200,
            reply,
            validate: None,
        }
    }

    /// Answers 422 `Invalid` with `validate`'s message when it finds the body invalid (the
    /// schema of a CRD, as the API server would apply it).
    pub fn validated_by(mut self, validate: fn(&Value) -> Option<String>) -> Exchange {
        self.validate = Some(validate);
        self
    }

    /// The request body must include `body`.
    pub fn with_body(mut self, body: Value) -> Exchange {
        self.body = Some(body);
        self
    }

    /// The request must carry this `content-type` (e.g. [`APPLY_PATCH`]).
    pub fn with_content_type(mut self, content_type: &'static str) -> Exchange {
        self.content_type = Some(content_type);
        self
    }

    /// Answers with this status and a Kubernetes `Status` object as the reply.
    pub fn failing(mut self, code: u16, reason: &str, message: &str) -> Exchange {
        self.status = code;
        self.reply = serde_json::json!({
            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": message, "reason": reason, "code": code,
        });
        self
    }
}

/// The running verifier.
pub struct Verifier(JoinHandle<()>);

/// A client whose every call goes to a verifier expecting `exchanges`, in order.
pub fn client(exchanges: Vec<Exchange>) -> (kube::Client, Verifier) {
    let (service, mut handle) = mock::pair::<Request<Body>, Response<Body>>();
    let task = tokio::spawn(async move {
        for (index, expected) in exchanges.into_iter().enumerate() {
            let Some((request, send)) = handle.next_request().await else {
                panic!(
                    "call {index} ({} {}) never came",
                    expected.method, expected.path
                );
            };
            let (parts, body) = request.into_parts();
            let path = parts.uri.path_and_query().map(ToString::to_string);
            assert_eq!(
                (&parts.method, path.as_deref()),
                (&expected.method, Some(expected.path.as_str())),
                "call {index}"
            );
            if let Some(want) = expected.content_type {
                let got = parts
                    .headers
                    .get(http::header::CONTENT_TYPE)
                    .and_then(|v| v.to_str().ok());
                assert_eq!(
                    got,
                    Some(want),
                    "call {index} ({} {}): content type",
                    expected.method,
                    expected.path
                );
            }
            let mut expected = expected;
            if expected.body.is_some() || expected.validate.is_some() {
                let bytes = body.collect_bytes().await.expect("request body");
                let got: Value = serde_json::from_slice(&bytes).expect("request body is JSON");
                if let Some(want) = &expected.body {
                    assert!(
                        includes(&got, want),
                        "call {index} ({} {}): body {got} does not include {want}",
                        expected.method,
                        expected.path
                    );
                }
                if let Some(message) = expected.validate.and_then(|validate| validate(&got)) {
                    /// HTTP Unprocessable Entity, the API server's answer to an invalid object.
                    const INVALID: u16 = 422;
                    expected = expected.failing(INVALID, "Invalid", &message);
                }
            }
            let response = Response::builder()
                .status(expected.status)
                .header("content-type", "application/json")
                .body(Body::from(expected.reply.to_string().into_bytes()))
                .expect("a valid response");
            send.send_response(response);
        }
    });
    (kube::Client::new(service, "default"), Verifier(task))
}

impl Verifier {
    /// Waits until every expected call was made, failing after [`MISSING_CALL_TIMEOUT`].
    ///
    /// # Panics
    ///
    /// A call was missing, or the verifier's task failed an assertion.
    pub async fn finish(self) {
        match tokio::time::timeout(MISSING_CALL_TIMEOUT, self.0).await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => std::panic::resume_unwind(error.into_panic()),
            Err(_) => panic!("an expected API call was never made"),
        }
    }
}

/// Whether `got` includes `want`: objects by key subset (recursively), everything else equal.
pub fn includes(got: &Value, want: &Value) -> bool {
    match (got, want) {
        (Value::Object(g), Value::Object(w)) => w
            .iter()
            .all(|(k, wv)| g.get(k).is_some_and(|gv| includes(gv, wv))),
        _ => got == want,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::Node;
    use kube::Api;
    use serde_json::json;

    #[tokio::test(start_paused = true)]
    async fn an_expected_call_is_answered() {
        let (client, verifier) = client(vec![Exchange::new(
            Method::GET,
            "/api/v1/nodes/n1",
            json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1"}}),
        )]);
        let node = Api::<Node>::all(client).get("n1").await.unwrap();
        assert_eq!(node.metadata.name.as_deref(), Some("n1"));
        verifier.finish().await;
    }

    #[tokio::test(start_paused = true)]
    async fn an_extra_call_fails_in_the_caller() {
        let (client, verifier) = client(vec![]);
        assert!(Api::<Node>::all(client).get("n1").await.is_err());
        verifier.finish().await;
    }

    #[tokio::test(start_paused = true)]
    #[should_panic(expected = "never made")]
    async fn a_missing_call_fails_the_test() {
        let (_client, verifier) = client(vec![Exchange::new(
            Method::GET,
            "/api/v1/nodes/n1",
            json!({}),
        )]);
        verifier.finish().await;
    }

    fn node_apply() -> Exchange {
        Exchange::new(
            Method::PATCH,
            format!("/api/v1/nodes/n1{APPLY_QUERY}"),
            json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1"}}),
        )
        .with_content_type(APPLY_PATCH)
    }

    #[tokio::test(start_paused = true)]
    async fn a_server_side_apply_carries_the_apply_content_type() {
        let (client, verifier) = client(vec![node_apply()]);
        let params = kube::api::PatchParams::apply("drydock").force();
        let patch = kube::api::Patch::Apply(json!({"apiVersion": "v1", "kind": "Node"}));
        Api::<Node>::all(client)
            .patch("n1", &params, &patch)
            .await
            .unwrap();
        verifier.finish().await;
    }

    #[tokio::test(start_paused = true)]
    #[should_panic(expected = "content type")]
    async fn a_merge_patch_where_an_apply_is_expected_fails_the_test() {
        let mut expected = node_apply();
        expected.path = "/api/v1/nodes/n1?&fieldManager=drydock".into();
        let (client, verifier) = client(vec![expected]);
        let params = kube::api::PatchParams::apply("drydock");
        let patch = kube::api::Patch::Merge(json!({"metadata": {"labels": {"a": "b"}}}));
        let _ = Api::<Node>::all(client).patch("n1", &params, &patch).await;
        verifier.finish().await;
    }

    #[test]
    fn bodies_are_matched_by_subset() {
        assert!(includes(
            &json!({"a": {"b": 1, "c": 2}}),
            &json!({"a": {"b": 1}})
        ));
        assert!(!includes(&json!({"a": {"b": 1}}), &json!({"a": {"b": 2}})));
        assert!(includes(&json!({"a": null}), &json!({"a": null})));
        assert!(!includes(&json!({}), &json!({"a": null})));
    }
}
