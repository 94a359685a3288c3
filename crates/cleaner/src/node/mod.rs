//! The Image Cleaner's node side: everything that runs in the worker pods on each node (and
//! `drydock clean` on a host). It never imports [`crate::manager`]: what it tells the manager
//! goes through the shared wire modules at the crate root.

pub mod clean;
pub mod decide;
pub mod fetch;
pub mod inventory;
pub mod language;
pub mod pipes;
pub mod scan;
pub mod stages;
pub mod verdict_client;
