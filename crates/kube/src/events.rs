//! Events about a Node, written as kubelet writes its own: core/v1 Events in the `default`
//! namespace whose `involvedObject` is the Node (with the Node's name as its UID, as kubelet
//! does), so `kubectl describe node` and `kubectl get events` show them.
//!
//! kube-runtime's `Recorder` writes events.k8s.io/v1 Events and keeps a per-process cache to
//! aggregate repeats; a reboot daemon emits a handful of Events per reboot, so a plain create
//! is enough and keeps each Event one API call. An Event that cannot be written is the
//! caller's to log; it must never stop the work it describes.

use jiff::Timestamp;
use k8s_openapi::api::core::v1::{Event, EventSource, ObjectReference};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use kube::Api;
use kube::api::PostParams;

use crate::Result;

/// The namespace Node Events go to (kubelet's choice: Nodes are cluster-scoped).
pub const NODE_EVENT_NAMESPACE: &str = "default";

/// One Event about a Node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeEvent {
    /// The Node's name.
    pub node: String,
    /// `Normal` or `Warning`.
    pub type_: String,
    /// A CamelCase reason.
    pub reason: String,
    /// The human-readable message.
    pub message: String,
    /// The component reporting it (`drydock-rebootd`).
    pub component: String,
}

impl NodeEvent {
    /// The Event object, stamped `now`.
    pub fn to_event(&self, now: Timestamp) -> Event {
        Event {
            metadata: ObjectMeta {
                generate_name: Some(format!("{}.", self.node)),
                namespace: Some(NODE_EVENT_NAMESPACE.to_owned()),
                ..ObjectMeta::default()
            },
            involved_object: ObjectReference {
                api_version: Some("v1".to_owned()),
                kind: Some("Node".to_owned()),
                name: Some(self.node.clone()),
                uid: Some(self.node.clone()),
                ..ObjectReference::default()
            },
            type_: Some(self.type_.clone()),
            reason: Some(self.reason.clone()),
            message: Some(self.message.clone()),
            source: Some(EventSource {
                component: Some(self.component.clone()),
                host: Some(self.node.clone()),
            }),
            reporting_component: Some(self.component.clone()),
            reporting_instance: Some(format!("{}-{}", self.component, self.node)),
            first_timestamp: Some(Time(now)),
            last_timestamp: Some(Time(now)),
            // No `eventTime`: API servers reject a new-style Event about a cluster-scoped object
            // in `default` ("involvedObject.namespace does not match"); kubelet-style Events
            // (first/last timestamps only) are accepted by every version.
            action: Some(self.reason.clone()),
            count: Some(1),
            ..Event::default()
        }
    }
}

/// Creates the Event.
///
/// # Errors
///
/// The API call fails (the caller logs it; Events are best effort).
pub async fn publish(client: &kube::Client, event: &NodeEvent, now: Timestamp) -> Result<()> {
    let api: Api<Event> = Api::namespaced(client.clone(), NODE_EVENT_NAMESPACE);
    api.create(&PostParams::default(), &event.to_event(now))
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_node_event_refers_to_the_node_as_kubelet_does() {
        let event = NodeEvent {
            node: "n1".into(),
            type_: "Normal".into(),
            reason: "Draining".into(),
            message: "Draining node n1".into(),
            component: "drydock-rebootd".into(),
        }
        .to_event("2026-11-22T03:00:00Z".parse().unwrap());
        let json = serde_json::to_value(&event).unwrap();
        assert_eq!(json["involvedObject"]["kind"], "Node");
        assert_eq!(json["involvedObject"]["name"], "n1");
        assert_eq!(json["metadata"]["generateName"], "n1.");
        assert_eq!(json["reason"], "Draining");
        assert_eq!(json["lastTimestamp"], "2026-11-22T03:00:00Z");
    }
}
