//! Drydock's wire types, and nothing else: the Eraser CRDs (`ImageList`, `ImageJob`, group
//! `eraser.sh`), the `EraserConfig` file in all three Eraser API versions folded into one
//! internal [`config::Config`], the JSON `Image` record that travels through the worker pipes,
//! Go-style durations, and the label, annotation, name and environment-variable constants that
//! make Drydock a drop-in for Eraser.
//!
//! This crate does no IO: no Kubernetes client, no sockets, no files. Everything here is
//! `serde` + `schemars` so that every other crate (and kubectl users) agree on the bytes.

pub mod config;
pub mod crd;
pub mod imagejob;
pub mod imagelist;
pub mod names;
pub mod pipe;
pub mod selector;

/// Go-style durations, from their own crate (the scanner core reads them without these types).
pub use drydock_duration as duration;
pub use drydock_duration::GoDuration;
pub use pipe::Image;

/// Everything that can go wrong while decoding Drydock's wire types.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The configuration file is not valid YAML or does not fit the schema.
    #[error("{source_name}: {message}")]
    Config {
        /// Where the configuration came from (a path, or a ConfigMap key).
        source_name: String,
        /// What is wrong, naming the key where possible.
        message: String,
    },
    /// A pipe payload is not the Eraser `[{"image_id": …}]` JSON.
    #[error("{source_name}: not an Eraser image list: {message}")]
    Pipe {
        /// The pipe or file the payload came from.
        source_name: String,
        /// What is wrong.
        message: String,
    },
    /// Rendering a CRD to YAML failed.
    #[error("rendering {what} as YAML: {message}")]
    Render {
        /// The object being rendered.
        what: String,
        /// The serializer's message.
        message: String,
    },
}

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
