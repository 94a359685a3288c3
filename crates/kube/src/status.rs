//! Sorting API errors: the few status codes callers act on.

/// What an API error means to a caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ApiFailure {
    /// 409: a conditional write lost (the resourceVersion changed).
    Conflict,
    /// 404: the object does not exist.
    NotFound,
    /// 429: refused for now (an eviction a PodDisruptionBudget does not allow).
    TooManyRequests,
    /// Anything else: the server could not be reached or failed.
    Other,
}

/// HTTP 429, which the Eviction API returns when a PodDisruptionBudget refuses.
const TOO_MANY_REQUESTS: u16 = 429;

/// Sorts an error.
pub fn classify(error: &kube::Error) -> ApiFailure {
    match error {
        kube::Error::Api(status) if status.is_conflict() => ApiFailure::Conflict,
        kube::Error::Api(status) if status.is_not_found() => ApiFailure::NotFound,
        kube::Error::Api(status) if status.code == TOO_MANY_REQUESTS => ApiFailure::TooManyRequests,
        _ => ApiFailure::Other,
    }
}

/// HTTP 403: the caller's role does not grant the request.
pub const FORBIDDEN: u16 = 403;

/// Whether the API server answered 403 Forbidden: a right the caller's role lacks (kured's and
/// Eraser's charts grant less than Drydock's own manifests; callers fall back).
#[must_use]
pub fn is_forbidden(error: &kube::Error) -> bool {
    matches!(error, kube::Error::Api(status) if status.code == FORBIDDEN)
}

/// The server's message for an API error (its `Status.message`), or the error's text.
pub fn message(error: &kube::Error) -> String {
    match error {
        kube::Error::Api(status) if !status.message.is_empty() => status.message.clone(),
        other => other.to_string(),
    }
}
