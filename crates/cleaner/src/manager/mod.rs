//! The Image Cleaner's manager side: everything that runs in the manager's pod (the
//! controllers, the index service and verdict cache, the `vulndb-builder`) and the admin
//! commands' decisions. It never imports [`crate::node`]: what it hears from the nodes comes
//! through the shared wire modules at the crate root.

pub mod admin;
pub mod breaker;
pub mod cached;
pub mod controller;
pub mod fold;
pub mod history;
pub mod metrics;
pub mod osvsync;
pub mod plan;
pub mod podspec;
pub mod schedule;
#[cfg(test)]
pub(crate) mod testing;
pub mod verdict_cache;
pub mod vulndist;
