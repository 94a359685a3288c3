//! What the vulnerability index's integration tests share: the fixed build time, a manager's
//! index settings, and a loopback HTTP server.

use std::net::SocketAddr;
use std::path::Path;

use axum::Router;
use drydock_cleaner::manager::vulndist::{DEFAULT_REFRESH, Settings, Source, VulnDb};
use jiff::Timestamp;
use tokio::sync::oneshot;

/// The fixed time every index of the tests is built at.
pub fn now() -> Timestamp {
    "2026-03-01T00:00:00Z".parse().unwrap()
}

/// The manager's index of `sources`, kept in `dir`, refreshed at the default interval.
pub fn vulndb(sources: Vec<Source>, dir: &Path) -> VulnDb {
    VulnDb::new(Settings {
        sources,
        dir: dir.to_owned(),
        refresh: DEFAULT_REFRESH,
        built_by: None,
    })
    .unwrap()
}

/// Serves `router` on a loopback port: its base URL (`http://127.0.0.1:PORT`), and the sender
/// that stops it when it drops.
pub async fn serve(router: Router) -> (String, oneshot::Sender<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(async move {
        axum::serve(listener, router)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await
            .unwrap();
    });
    (format!("http://{addr}"), stop)
}
