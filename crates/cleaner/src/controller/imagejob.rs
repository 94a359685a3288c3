//! The ImageJob controller (being written): plans nodes, creates one worker pod per eligible
//! node, folds the job's own pods into its status, and deletes the job after its delay.

use std::sync::Arc;

use tokio::sync::watch;

use super::{Context, stopped};
use crate::Result;

/// Runs the ImageJob controller until `shutdown` turns true.
///
/// # Errors
/// The controller cannot start.
pub async fn run(ctx: Arc<Context>, shutdown: watch::Receiver<bool>) -> Result<()> {
    let _ = ctx;
    stopped(shutdown).await;
    Ok(())
}
