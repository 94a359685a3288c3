//! On-demand reboots: `drydock reboot now NODE [--force]` asks for one node's reboot through the
//! cluster, with no shell on the node.
//!
//! The request is an annotation on the Node, [`REBOOT_REQUEST_ANNOTATION`], holding
//!
//! ```json
//! {"bootID":"3f1c…","requested":"2026-11-22T03:00:00Z","force":false}
//! ```
//!
//! `bootID` is the node's boot ID when the reboot was asked for. The request stands only while
//! the node still runs that boot ([`RebootRequest::is_active`]): any reboot (Drydock's, or one
//! by hand) satisfies it, so a crash between the reboot and the annotation's removal can never
//! cause a second reboot. The daemon removes the annotation when it verifies the reboot;
//! `drydock reboot cancel NODE` removes it before.
//!
//! A standing request counts as "reboot required", as the sentinel does, and goes through
//! everything a sentinel does: the blockers, the lock, the drain. `force` lets the node start
//! outside the maintenance window; it never passes a blocker or the lock.
//!
//! Only daemons running with `--reboot-on-request` (a Drydock flag, on in Drydock's chart and
//! manifests, off under kured's flags) look at the annotation: an idle daemon then reads its
//! Node every [`REQUEST_POLL`].

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// The Node annotation holding an on-demand reboot request.
pub const REBOOT_REQUEST_ANNOTATION: &str = "drydock.dev/reboot-requested";

/// How often an idle daemon running with `--reboot-on-request` reads its own Node for a
/// request: a minute keeps `reboot now` prompt while costing one GET per node per minute
/// (17 requests per second on a 1,000-node cluster, well within an API server's budget).
pub const REQUEST_POLL: SignedDuration = SignedDuration::from_mins(1);

/// An on-demand reboot request, as stored in [`REBOOT_REQUEST_ANNOTATION`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RebootRequest {
    /// The node's boot ID when the reboot was asked for.
    #[serde(rename = "bootID")]
    pub boot_id: String,
    /// When it was asked for.
    pub requested: Timestamp,
    /// Start outside the maintenance window (never past a blocker or the lock).
    #[serde(default)]
    pub force: bool,
}

impl RebootRequest {
    /// Decodes the annotation's value.
    ///
    /// # Errors
    ///
    /// [`Error::RequestDecode`] naming the value, when it is not a request.
    pub fn decode(text: &str) -> Result<RebootRequest> {
        let request: RebootRequest =
            serde_json::from_str(text).map_err(|e| Error::RequestDecode {
                value: text.to_owned(),
                reason: e.to_string(),
            })?;
        if request.boot_id.is_empty() {
            return Err(Error::RequestDecode {
                value: text.to_owned(),
                reason: "empty bootID".to_owned(),
            });
        }
        Ok(request)
    }

    /// Encodes it for the annotation.
    ///
    /// # Errors
    ///
    /// Never in practice (every field is plain data); [`Error::LockEncode`] otherwise.
    pub fn encode(&self) -> Result<String> {
        serde_json::to_string(self).map_err(Error::LockEncode)
    }

    /// Whether the request still stands on a node now running `boot_id`: it does until the
    /// node boots again.
    pub fn is_active(&self, boot_id: &str) -> bool {
        self.boot_id == boot_id
    }
}

/// What a daemon makes of its Node's request annotation (`None`: absent).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RequestState {
    /// No request, or one the node's reboot already satisfied.
    None,
    /// A standing request.
    Active(RebootRequest),
    /// The annotation is not a request (the message names its value); it is ignored.
    Invalid(String),
}

impl RequestState {
    /// Reads the annotation of a node now running `boot_id`.
    pub fn of(annotation: Option<&str>, boot_id: &str) -> RequestState {
        match annotation.map(RebootRequest::decode) {
            None => RequestState::None,
            Some(Ok(request)) if request.is_active(boot_id) => RequestState::Active(request),
            Some(Ok(_)) => RequestState::None,
            Some(Err(error)) => RequestState::Invalid(error.to_string()),
        }
    }

    /// Whether a reboot is requested.
    pub fn is_active(&self) -> bool {
        matches!(self, RequestState::Active(_))
    }

    /// Whether the request may start outside the window.
    pub fn is_forced(&self) -> bool {
        matches!(self, RequestState::Active(r) if r.force)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(force: bool) -> RebootRequest {
        RebootRequest {
            boot_id: "boot-a".into(),
            requested: "2026-11-22T03:00:00Z".parse().unwrap(),
            force,
        }
    }

    #[test]
    fn a_request_round_trips_in_its_documented_shape() {
        let text = request(true).encode().unwrap();
        assert_eq!(
            text,
            r#"{"bootID":"boot-a","requested":"2026-11-22T03:00:00Z","force":true}"#
        );
        assert_eq!(RebootRequest::decode(&text).unwrap(), request(true));
    }

    #[test]
    fn force_defaults_to_false() {
        let r = RebootRequest::decode(r#"{"bootID":"boot-a","requested":"2026-11-22T03:00:00Z"}"#)
            .unwrap();
        assert_eq!(r, request(false));
    }

    #[test]
    fn a_request_stands_only_until_the_node_boots_again() {
        let text = request(false).encode().unwrap();
        assert!(RequestState::of(Some(&text), "boot-a").is_active());
        assert_eq!(RequestState::of(Some(&text), "boot-b"), RequestState::None);
        assert_eq!(RequestState::of(None, "boot-a"), RequestState::None);
        assert!(!RequestState::of(Some(&text), "boot-a").is_forced());
        let forced = request(true).encode().unwrap();
        assert!(RequestState::of(Some(&forced), "boot-a").is_forced());
    }

    #[test]
    fn garbage_is_refused_with_a_message_naming_it() {
        for bad in [
            "",
            "yes",
            "{}",
            "[]",
            r#"{"bootID":"","requested":"2026-11-22T03:00:00Z"}"#,
            r#"{"bootID":"b","requested":"yesterday"}"#,
            r#"{"bootID":5,"requested":"2026-11-22T03:00:00Z"}"#,
        ] {
            let error = RebootRequest::decode(bad).unwrap_err().to_string();
            assert!(error.contains(&format!("{bad:?}")), "{error}");
            assert!(
                matches!(RequestState::of(Some(bad), "b"), RequestState::Invalid(m) if m == error)
            );
        }
    }
}
