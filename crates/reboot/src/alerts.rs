//! The Prometheus alert blocker (`--prometheus-url`): an instant query of `ALERTS`, filtered
//! as kured filters it, failing closed.
//!
//! kured's rules (`pkg/blockers/prometheus.go`): a sample counts when it has an `alertname`,
//! its value is not 0, the name passes `--alert-filter-regexp` / `--alert-filter-match-only`
//! ([`PrometheusBlocker::counts`]), and, with `--alert-firing-only`, its `alertstate` is
//! `firing`. Names are de-duplicated and sorted. Any error (unreachable server, bad answer)
//! blocks.

use std::collections::BTreeSet;
use std::time::Duration;

use jiff::Timestamp;
use serde_json::Value;

use crate::config::PrometheusBlocker;

/// How long the query may take before it counts as failed (and so blocks).
pub const QUERY_TIMEOUT: Duration = Duration::from_secs(10);

/// kured prints at most this many alert names, then `...`.
pub const MAX_NAMES_SHOWN: usize = 10;

/// The alert names that block, from a `/api/v1/query` answer.
///
/// # Errors
///
/// The answer is not a successful vector result.
pub fn active_alerts(answer: &Value, blocker: &PrometheusBlocker) -> Result<Vec<String>, String> {
    if answer["status"] != "success" {
        return Err(format!(
            "query failed: {}",
            answer["error"].as_str().unwrap_or("no success status")
        ));
    }
    let samples = answer["data"]["result"]
        .as_array()
        .ok_or("the answer has no result vector")?;
    let mut names = BTreeSet::new();
    for sample in samples {
        let Some(name) = sample["metric"]["alertname"].as_str() else {
            continue;
        };
        let value = sample["value"][1]
            .as_str()
            .and_then(|v| v.parse::<f64>().ok());
        if value == Some(0.0) || !blocker.counts(name) {
            continue;
        }
        if blocker.firing_only && sample["metric"]["alertstate"] != "firing" {
            continue;
        }
        names.insert(name.to_owned());
    }
    Ok(names.into_iter().collect())
}

/// kured's log line for blocking alerts (`None` when there are none).
pub fn blocked_message(names: &[String]) -> Option<String> {
    if names.is_empty() {
        return None;
    }
    let mut shown: Vec<&str> = names
        .iter()
        .take(MAX_NAMES_SHOWN)
        .map(String::as_str)
        .collect();
    if names.len() > MAX_NAMES_SHOWN {
        shown.push("...");
    }
    Some(format!(
        "Reboot blocked: {} active alerts: [{}]",
        names.len(),
        shown.join(" ")
    ))
}

/// Why the alert blocker blocks now: empty, or one `Reboot blocked: …` message (a query error
/// blocks too).
pub async fn blockers(
    http: &reqwest::Client,
    blocker: &PrometheusBlocker,
    now: Timestamp,
) -> Vec<String> {
    // RFC 3339 needs no escaping in a query string.
    let url = format!(
        "{}/api/v1/query?query=ALERTS&time={now}",
        blocker.url.trim_end_matches('/')
    );
    let answer = async {
        http.get(&url)
            .timeout(QUERY_TIMEOUT)
            .send()
            .await
            .map_err(|e| e.to_string())?
            .json::<Value>()
            .await
            .map_err(|e| e.to_string())
    }
    .await;
    match answer.and_then(|a| active_alerts(&a, blocker)) {
        Ok(names) => blocked_message(&names).into_iter().collect(),
        Err(error) => vec![format!("Reboot blocked: prometheus query error: {error}")],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use regex::Regex;
    use serde_json::json;

    /// kured's `TestActiveAlerts` fixture: five samples, four firing and one pending.
    fn answer() -> Value {
        let sample = |name: &str, state: &str| json!({ "metric": { "alertname": name, "alertstate": state }, "value": [1, "1"] });
        json!({ "status": "success", "data": { "resultType": "vector", "result": [
            sample("GatekeeperViolations", "firing"),
            sample("PodCrashing-dev", "firing"),
            sample("PodRestart-dev", "firing"),
            sample("PodCrashing-prod", "firing"),
            sample("RebootRequired", "pending"),
        ] } })
    }

    fn blocker(filter: Option<&str>, firing_only: bool, match_only: bool) -> PrometheusBlocker {
        PrometheusBlocker {
            url: String::new(),
            alert_filter: filter.map(|f| Regex::new(f).unwrap()),
            match_only,
            firing_only,
        }
    }

    #[test]
    fn kureds_filter_table_holds() {
        let count = |b: PrometheusBlocker| active_alerts(&answer(), &b).unwrap().len();
        assert_eq!(count(blocker(Some(""), false, false)), 0);
        assert_eq!(count(blocker(Some("Pod"), false, false)), 2);
        assert_eq!(count(blocker(Some("Gatekeeper"), false, true)), 1);
        assert_eq!(count(blocker(None, false, false)), 5);
        assert_eq!(count(blocker(None, true, false)), 4);
        assert_eq!(count(blocker(Some("RebootRequired"), false, true)), 1);
    }

    #[test]
    fn a_failed_answer_is_an_error_and_a_zero_sample_does_not_count() {
        let failed = json!({ "status": "error", "error": "bad query" });
        assert!(active_alerts(&failed, &blocker(None, false, false)).is_err());
        let zero = json!({ "status": "success", "data": { "result": [
            { "metric": { "alertname": "A" }, "value": [1, "0"] } ] } });
        assert_eq!(
            active_alerts(&zero, &blocker(None, false, false))
                .unwrap()
                .len(),
            0
        );
    }

    #[test]
    fn the_message_is_kureds_and_truncates_long_lists() {
        assert_eq!(blocked_message(&[]), None);
        assert_eq!(
            blocked_message(&["A".into(), "B".into()]).unwrap(),
            "Reboot blocked: 2 active alerts: [A B]"
        );
        let many: Vec<String> = (0..12).map(|i| format!("A{i:02}")).collect();
        assert!(blocked_message(&many).unwrap().ends_with("A09 ...]"));
    }

    #[tokio::test]
    async fn an_unreachable_prometheus_blocks() {
        drydock_kube::client::install_crypto_provider();
        let http = reqwest::Client::new();
        let mut b = blocker(None, false, false);
        b.url = "http://127.0.0.1:1".into();
        let why = blockers(&http, &b, Timestamp::UNIX_EPOCH).await;
        assert_eq!(why.len(), 1);
        assert!(
            why[0].starts_with("Reboot blocked: prometheus query error"),
            "{why:?}"
        );
    }
}
