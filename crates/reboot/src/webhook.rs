//! Sending notifications: each [`NotifyUrl`] becomes one HTTP request ([`request`], pure),
//! sent with reqwest over rustls ([`send`]). The bodies are what shoutrrr v0.8 sends for each
//! service, so existing Slack apps, Teams connectors and webhook receivers see the same JSON.
//! `smtp://` URLs are mail, sent by [`crate::smtp`] instead.

use std::time::Duration;

use serde_json::{Map, Value, json};

use crate::notify::NotifyUrl;

/// How long one notification may take; a slow receiver never holds up a reboot for longer.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(10);

/// The Slack Web API method that posts a message.
const SLACK_POST_MESSAGE: &str = "https://slack.com/api/chat.postMessage";

/// One HTTP request to make.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outgoing {
    /// The HTTP method.
    pub method: String,
    /// Where to.
    pub url: String,
    /// Request headers (content type first).
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: String,
}

fn json_post(url: &str, body: &Value) -> Outgoing {
    Outgoing {
        method: "POST".into(),
        url: url.to_owned(),
        headers: vec![("Content-Type".into(), "application/json".into())],
        body: body.to_string(),
    }
}

fn with_optional(mut body: Value, key: &str, value: Option<&String>) -> Value {
    if let Some(v) = value {
        body[key] = json!(v);
    }
    body
}

/// The request for `message` to `url`; `None` for a service sent without HTTP (SMTP).
pub fn request(url: &NotifyUrl, message: &str) -> Option<Outgoing> {
    Some(match url {
        NotifyUrl::SlackWebhook { url, options } => json_post(
            url,
            &with_optional(
                json!({ "text": message }),
                "username",
                options.get("botname"),
            ),
        ),
        NotifyUrl::SlackBot { token, channel, .. } => {
            let mut out = json_post(
                SLACK_POST_MESSAGE,
                &json!({ "channel": channel, "text": message }),
            );
            out.headers
                .push(("Authorization".into(), format!("Bearer {token}")));
            out
        }
        NotifyUrl::Teams { url, options } => json_post(
            url,
            &with_optional(
                json!({
                    "@type": "MessageCard",
                    "@context": "http://schema.org/extensions",
                    "text": message,
                }),
                "title",
                options.get("title"),
            ),
        ),
        NotifyUrl::Discord { url, options } => json_post(
            url,
            &with_optional(
                json!({ "content": message }),
                "username",
                options.get("username"),
            ),
        ),
        NotifyUrl::Mattermost {
            url,
            channel,
            username,
            ..
        } => {
            let body = with_optional(json!({ "text": message }), "channel", channel.as_ref());
            json_post(url, &with_optional(body, "username", username.as_ref()))
        }
        NotifyUrl::Webhook {
            url,
            method,
            content_type,
            headers,
            extra,
            template,
        } => {
            let body = if template.as_deref() == Some("json") {
                let mut fields = Map::new();
                fields.insert("title".into(), json!(""));
                fields.insert("message".into(), json!(message));
                for (k, v) in extra {
                    fields.insert(k.clone(), json!(v));
                }
                Value::Object(fields).to_string()
            } else {
                message.to_owned()
            };
            let mut all = vec![("Content-Type".into(), content_type.clone())];
            all.extend(headers.iter().cloned());
            Outgoing {
                method: method.clone(),
                url: url.clone(),
                headers: all,
                body,
            }
        }
        NotifyUrl::Smtp { .. } => return None,
    })
}

/// Sends `message` to `url`: an HTTP request with `http`, or a mail for `smtp://` (dated
/// `now`), within [`SEND_TIMEOUT`].
///
/// # Errors
///
/// The request failed or timed out, the receiver answered with an error status, or an HTTP
/// request was needed without a client.
pub async fn send(
    http: Option<&reqwest::Client>,
    url: &NotifyUrl,
    message: &str,
    now: jiff::Timestamp,
) -> Result<(), String> {
    let Some(out) = request(url, message) else {
        return match tokio::time::timeout(SEND_TIMEOUT, crate::smtp::send(url, message, now)).await
        {
            Ok(outcome) => outcome,
            Err(_) => Err(format!("no answer within {SEND_TIMEOUT:?}")),
        };
    };
    let http = http.ok_or("no HTTP client (no URL needed one at start)")?;
    let method = reqwest::Method::from_bytes(out.method.as_bytes()).map_err(|e| e.to_string())?;
    let mut builder = http.request(method, &out.url).timeout(SEND_TIMEOUT);
    for (name, value) in &out.headers {
        builder = builder.header(name, value);
    }
    let response = builder
        .body(out.body)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    response
        .error_for_status()
        .map(|_| ())
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    fn parse(url: &str) -> NotifyUrl {
        NotifyUrl::parse(url).unwrap()
    }

    #[test]
    fn each_service_gets_shoutrrrs_body() {
        let slack = request(&parse("slack://bot@A/B/C"), "hi").unwrap();
        assert_eq!(slack.url, "https://hooks.slack.com/services/A/B/C");
        assert_eq!(slack.body, r#"{"text":"hi","username":"bot"}"#);
        let discord = request(&parse("discord://tok@1234"), "hi").unwrap();
        assert_eq!(discord.body, r#"{"content":"hi"}"#);
        let teams = request(&parse("teams://g@t/a/o?host=x.webhook.office.com"), "hi").unwrap();
        assert!(teams.body.contains(r#""@type":"MessageCard""#));
        let mm = request(&parse("mattermost://me@chat.example.com/tok/ops"), "hi").unwrap();
        assert_eq!(mm.body, r#"{"channel":"ops","text":"hi","username":"me"}"#);
        let smtp = parse("smtp://h:25/?fromAddress=a@b&toAddresses=c@d");
        assert_eq!(request(&smtp, "hi"), None);
    }

    #[tokio::test]
    async fn a_generic_webhook_is_posted_to_a_real_local_server() {
        drydock_kube::client::install_crypto_provider();
        let seen: Arc<Mutex<Vec<String>>> = Arc::default();
        let store = seen.clone();
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |body: String| {
                let store = store.clone();
                async move {
                    store.lock().unwrap().push(body);
                    "ok"
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = tokio::spawn(async move { axum::serve(listener, app).await });
        let url = parse(&format!(
            "generic+http://127.0.0.1:{port}/hook?template=json"
        ));
        let http = reqwest::Client::new();
        send(
            Some(&http),
            &url,
            "Rebooting node n1",
            jiff::Timestamp::UNIX_EPOCH,
        )
        .await
        .unwrap();
        assert_eq!(
            seen.lock().unwrap().as_slice(),
            [r#"{"message":"Rebooting node n1","title":""}"#]
        );
        let missing = parse(&format!("generic+http://127.0.0.1:{port}/nope"));
        assert!(
            send(Some(&http), &missing, "x", jiff::Timestamp::UNIX_EPOCH)
                .await
                .unwrap_err()
                .contains("404")
        );
        server.abort();
    }
}
