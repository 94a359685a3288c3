//! One module per subcommand: parse inputs, call the libraries, print results.

pub(crate) mod clean;
pub(crate) mod image_cleaner;
pub(crate) mod manager;
pub(crate) mod manifests;
pub(crate) mod reboot;
pub(crate) mod rebootd;
pub(crate) mod scan;
pub(crate) mod table;
pub(crate) mod vulndb;
pub(crate) mod worker;
