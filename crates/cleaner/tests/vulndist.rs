//! The vulnerability index's way from the manager to the nodes, with real parts: the index is
//! built from the repository's OSV fixtures (`testdata/osv`), served by the real router on a
//! loopback port, and fetched by the scanner's real client into a real cache directory.
#![allow(clippy::unwrap_used)] // a failed unwrap in a test is a failed test, with its backtrace

mod common;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::Request;
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::Response;
use common::{now, vulndb};
use drydock_cleaner::Error;
use drydock_cleaner::download::INDEX_FILE;
use drydock_cleaner::manager::vulndist::{
    self, DEFAULT_REFRESH, Published, SOURCES_DIR, Settings, Source, Status, VulnDb,
};
use drydock_cleaner::node::fetch::{self, ETAG_FILE, Outcome};
use drydock_vuln::Index;
use tokio::sync::{oneshot, watch};
use tokio::time::Instant;
use tower::ServiceExt as _;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/osv")
}

/// One request as the server saw it.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    if_none_match: Option<String>,
    status: StatusCode,
    /// The `Content-Length` the server announced.
    length: Option<u64>,
    /// Whether the body is known to be empty.
    empty: bool,
}

type Log = Arc<Mutex<Vec<Seen>>>;

/// Serves `router` on a loopback port, recording each exchange; stops when the sender drops.
async fn start(router: Router) -> (String, Log, oneshot::Sender<()>) {
    let log: Log = Arc::default();
    let recorded = log.clone();
    let router = router.layer(middleware::from_fn(move |request: Request, next: Next| {
        let log = recorded.clone();
        async move {
            let method = request.method().to_string();
            let if_none_match = request
                .headers()
                .get(header::IF_NONE_MATCH)
                .map(|v| v.to_str().unwrap().to_owned());
            let response: Response = next.run(request).await;
            let empty = axum::body::HttpBody::size_hint(response.body()).exact() == Some(0);
            let length = response
                .headers()
                .get(header::CONTENT_LENGTH)
                .map(|v| v.to_str().unwrap().parse().unwrap());
            log.lock().unwrap().push(Seen {
                method,
                if_none_match,
                status: response.status(),
                length,
                empty,
            });
            response
        }
    }));
    let (base, stop) = common::serve(router).await;
    (base, log, stop)
}

/// A manager with the fixture index built, serving on a loopback port.
async fn manager(dir: &Path) -> (VulnDb, Published, String, Log, oneshot::Sender<()>) {
    let db = vulndb(vec![Source::Path(fixtures())], dir);
    let published = db.build_once(now()).await.unwrap();
    let (base, log, stop) = start(vulndist::router(db.clone())).await;
    (
        db,
        published,
        format!("{base}{}", vulndist::PATH),
        log,
        stop,
    )
}

/// The requests of `log` the server found something for (a mirror's missing change list, a
/// 404, left out).
fn found(log: &Log) -> Vec<Seen> {
    log.lock()
        .unwrap()
        .iter()
        .filter(|s| s.status != StatusCode::NOT_FOUND)
        .cloned()
        .collect()
}

/// A manager serving the fixture index, and a node's cache that fetched it once.
struct FetchedOnce {
    /// The manager's directory, kept while the test runs.
    _server_dir: tempfile::TempDir,
    cache: tempfile::TempDir,
    published: Published,
    url: String,
    /// Stops the manager's server when dropped.
    stop: oneshot::Sender<()>,
    http: reqwest::Client,
    /// The bytes of the index in the cache.
    before: Vec<u8>,
}

async fn fetched_once() -> FetchedOnce {
    let server_dir = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let (_db, published, url, _log, stop) = manager(server_dir.path()).await;
    let http = fetch::fetch_client().unwrap();
    fetch::fetch(&http, &url, cache.path()).await.unwrap();
    let before = read(&cache.path().join(INDEX_FILE));
    FetchedOnce {
        _server_dir: server_dir,
        cache,
        published,
        url,
        stop,
        http,
        before,
    }
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap()
}

fn temp_files(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".tmp") || name.starts_with(".etag-"))
        .collect()
}

#[tokio::test]
async fn a_node_downloads_the_index_once_then_revalidates_it_with_a_304_and_no_body() {
    let server_dir = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let (_db, published, url, log, _stop) = manager(server_dir.path()).await;
    let http = fetch::fetch_client().unwrap();

    let first = fetch::fetch(&http, &url, cache.path()).await.unwrap();
    assert!(
        matches!(first.outcome, Outcome::Downloaded),
        "{:?}",
        first.outcome
    );
    assert_eq!(first.index, cache.path().join(INDEX_FILE));
    assert_eq!(first.digest.as_deref(), Some(published.digest.as_str()));
    assert_eq!(
        read(&first.index),
        read(&server_dir.path().join(INDEX_FILE)),
        "the cache holds the served bytes"
    );
    assert_eq!(
        std::fs::read_to_string(cache.path().join(ETAG_FILE)).unwrap(),
        published.digest
    );
    let info = Index::open(&first.index).unwrap().info().unwrap();
    assert_eq!(info.records, 3, "the three fixture records");

    let second = fetch::fetch(&http, &url, cache.path()).await.unwrap();
    assert!(
        matches!(second.outcome, Outcome::NotModified),
        "{:?}",
        second.outcome
    );
    // This mirror lists no changes (its `modified_id.csv` is a 404): the dump is revalidated.
    let dump_requests = || found(&log);
    let seen = dump_requests();
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert_eq!(seen[0].if_none_match, None);
    assert_eq!(seen[0].status, StatusCode::OK);
    assert_eq!(seen[0].length, Some(published.bytes));
    assert!(!seen[0].empty);
    assert_eq!(
        seen[1].if_none_match.as_deref(),
        Some(published.etag().as_str())
    );
    assert_eq!(seen[1].status, StatusCode::NOT_MODIFIED);
    assert!(seen[1].empty, "a 304 carries no body");
    assert_eq!(seen[1].length, None);
    assert!(temp_files(cache.path()).is_empty());
}

#[tokio::test]
async fn head_and_get_announce_the_sha256_of_the_bytes_served() {
    let server_dir = tempfile::tempdir().unwrap();
    let (_db, published, url, _log, _stop) = manager(server_dir.path()).await;
    let http = reqwest::Client::new();

    let head = http.head(&url).send().await.unwrap();
    assert_eq!(head.status(), StatusCode::OK);
    let etag = head.headers()[header::ETAG].to_str().unwrap().to_owned();
    assert!(etag.starts_with("\"sha256:") && etag.len() == 73, "{etag}");
    assert_eq!(
        head.headers()[header::CONTENT_LENGTH].to_str().unwrap(),
        published.bytes.to_string()
    );
    assert!(head.bytes().await.unwrap().is_empty());

    let body = http.get(&url).send().await.unwrap().bytes().await.unwrap();
    let digest = sha256(&body);
    assert_eq!(etag, format!("\"{digest}\""));
    let weak = http
        .get(&url)
        .header(header::IF_NONE_MATCH, format!("\"other\", W/{etag}"))
        .send()
        .await
        .unwrap();
    assert_eq!(weak.status(), StatusCode::NOT_MODIFIED);
    let stale = http
        .get(&url)
        .header(header::IF_NONE_MATCH, "\"sha256:00\"")
        .send()
        .await
        .unwrap();
    assert_eq!(stale.status(), StatusCode::OK);
}

fn sha256(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    let digest = sha2::Sha256::digest(bytes);
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

#[tokio::test]
async fn with_the_manager_down_the_cached_index_is_used_and_without_a_cache_the_fetch_fails() {
    let FetchedOnce {
        _server_dir,
        cache,
        published,
        url,
        stop,
        http,
        before,
    } = fetched_once().await;
    drop(stop);
    // The port is closed once the server has stopped; wait for that, not for a time.
    while tokio::net::TcpStream::connect(
        url.trim_start_matches("http://").split('/').next().unwrap(),
    )
    .await
    .is_ok()
    {
        tokio::task::yield_now().await;
    }

    let fetched = fetch::fetch(&http, &url, cache.path()).await.unwrap();
    let Outcome::Stale { cause } = &fetched.outcome else {
        panic!("expected the stale cache, got {:?}", fetched.outcome);
    };
    assert!(matches!(**cause, Error::Fetch { .. }), "{cause}");
    assert!(cause.to_string().contains(&url), "{cause}");
    assert_eq!(fetched.digest.as_deref(), Some(published.digest.as_str()));
    assert_eq!(read(&fetched.index), before);

    let empty = tempfile::tempdir().unwrap();
    let error = fetch::fetch(&http, &url, empty.path()).await.unwrap_err();
    assert!(matches!(error, Error::Fetch { .. }), "{error}");
    assert!(!empty.path().join(INDEX_FILE).exists());
}

#[tokio::test]
async fn a_cached_index_this_build_cannot_open_is_no_fallback() {
    // What an upgrade leaves on a node: the previous version's index (here: bytes no index
    // reader accepts) with its ETag, while the new manager is not serving yet.
    let cache = tempfile::tempdir().unwrap();
    std::fs::write(cache.path().join(INDEX_FILE), b"an index of another schema").unwrap();
    std::fs::write(
        cache.path().join(ETAG_FILE),
        format!("sha256:{}", "0".repeat(64)),
    )
    .unwrap();
    let router = Router::new().route(
        vulndist::PATH,
        axum::routing::get(|| async { (StatusCode::SERVICE_UNAVAILABLE, "not built yet") }),
    );
    let (base, _log, _stop) = start(router).await;
    let url = format!("{base}{}", vulndist::PATH);
    let http = fetch::fetch_client().unwrap();
    let error = fetch::fetch(&http, &url, cache.path()).await.unwrap_err();
    // Not a stale fallback: a failure worth asking again, so the scanner waits for the index.
    assert!(matches!(error, Error::Fetch { .. }), "{error}");
}

/// A server that answers every request with `body` under an ETag it did not compute.
async fn liar(body: Vec<u8>, etag: &str) -> (String, oneshot::Sender<()>) {
    let etag = etag.to_owned();
    let router = Router::new().route(
        vulndist::PATH,
        axum::routing::get(move || {
            let (body, etag) = (body.clone(), etag.clone());
            async move { ([(header::ETAG, etag)], body) }
        }),
    );
    let (base, _log, stop) = start(router).await;
    (format!("{base}{}", vulndist::PATH), stop)
}

#[tokio::test]
async fn a_download_that_does_not_match_its_etag_is_rejected_and_the_old_cache_kept() {
    let FetchedOnce {
        _server_dir,
        cache,
        published,
        url: _,
        stop: _stop,
        http,
        before,
    } = fetched_once().await;

    // A real index under the ETag of another one.
    let other = tempfile::tempdir().unwrap();
    let forged = vulndb(
        vec![Source::Path(fixtures().join("DEBIAN-CVE-2099-0001.json"))],
        other.path(),
    )
    .build_once(now())
    .await
    .unwrap();
    assert_ne!(forged.digest, published.digest);
    let (lying, _stop_liar) = liar(read(&other.path().join(INDEX_FILE)), &published.etag()).await;

    let fetched = fetch::fetch(&http, &lying, cache.path()).await.unwrap();
    let Outcome::Stale { cause } = &fetched.outcome else {
        panic!("expected the old cache, got {:?}", fetched.outcome);
    };
    let Error::Integrity { actual, .. } = &**cause else {
        panic!("expected an integrity error, got {cause}");
    };
    assert_eq!(actual, &forged.digest);
    assert_eq!(read(&cache.path().join(INDEX_FILE)), before);
    assert_eq!(
        std::fs::read_to_string(cache.path().join(ETAG_FILE)).unwrap(),
        published.digest
    );
    assert!(
        temp_files(cache.path()).is_empty(),
        "the rejected download is removed"
    );

    // Without a cache the same lie is an error, and nothing is cached.
    let empty = tempfile::tempdir().unwrap();
    let error = fetch::fetch(&http, &lying, empty.path()).await.unwrap_err();
    assert!(matches!(error, Error::Integrity { .. }), "{error}");
    assert!(!empty.path().join(INDEX_FILE).exists());
    assert!(temp_files(empty.path()).is_empty());

    // Bytes that match their ETag but are no index are refused too.
    let garbage = b"not an index".to_vec();
    let (junk, _stop_junk) = liar(garbage.clone(), &format!("\"{}\"", sha256(&garbage))).await;
    let error = fetch::fetch(&http, &junk, empty.path()).await.unwrap_err();
    assert!(matches!(error, Error::Index(_)), "{error}");
    assert!(!empty.path().join(INDEX_FILE).exists());
}

#[tokio::test]
async fn before_the_first_build_the_endpoint_answers_503_and_a_node_without_cache_fails() {
    let dir = tempfile::tempdir().unwrap();
    let db = vulndb(vec![Source::Path(fixtures())], dir.path());
    let (base, _log, _stop) = start(vulndist::router(db)).await;
    let url = format!("{base}{}", vulndist::PATH);
    let response = reqwest::get(&url).await.unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(response.headers().contains_key(header::RETRY_AFTER));
    let text = response.text().await.unwrap();
    assert!(text.contains("not built yet"), "{text}");

    let cache = tempfile::tempdir().unwrap();
    let http = fetch::fetch_client().unwrap();
    let error = fetch::fetch(&http, &url, cache.path())
        .await
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("503") && error.contains("not built yet"),
        "{error}"
    );
}

#[tokio::test]
async fn a_node_without_cache_waits_for_the_managers_first_build_then_downloads_it() {
    let dir = tempfile::tempdir().unwrap();
    let db = vulndb(vec![Source::Path(fixtures())], dir.path());
    let (base, log, _stop) = start(vulndist::router(db.clone())).await;
    let url = format!("{base}{}", vulndist::PATH);
    let cache = tempfile::tempdir().unwrap();
    let http = fetch::fetch_client().unwrap();
    // The manager finishes its first build during the scanner's second wait.
    let waits: Arc<Mutex<Vec<Duration>>> = Arc::default();
    let sleep = |delay: Duration| {
        let (db, waits) = (db.clone(), waits.clone());
        async move {
            let count = {
                let mut waits = waits.lock().unwrap();
                waits.push(delay);
                waits.len()
            };
            if count == 2 {
                db.build_once(now()).await.unwrap();
            }
        }
    };
    let fetched = fetch::fetch_patiently(
        &http,
        &url,
        cache.path(),
        fetch::FIRST_INDEX_PATIENCE,
        sleep,
    )
    .await
    .unwrap();
    assert!(
        matches!(fetched.outcome, Outcome::Downloaded),
        "{fetched:?}"
    );
    assert_eq!(
        *waits.lock().unwrap(),
        [Duration::from_secs(2), Duration::from_secs(4)]
    );
    let statuses: Vec<StatusCode> = log.lock().unwrap().iter().map(|s| s.status).collect();
    assert_eq!(
        statuses,
        [
            StatusCode::SERVICE_UNAVAILABLE,
            StatusCode::SERVICE_UNAVAILABLE,
            StatusCode::OK
        ]
    );
    Index::open(&fetched.index).unwrap();
}

#[tokio::test]
async fn a_node_without_cache_gives_up_in_time_and_never_retries_a_bad_url_or_path() {
    let dir = tempfile::tempdir().unwrap();
    let db = vulndb(vec![Source::Path(fixtures())], dir.path());
    let (base, log, _stop) = start(vulndist::router(db)).await;
    let url = format!("{base}{}", vulndist::PATH);
    let cache = tempfile::tempdir().unwrap();
    let http = fetch::fetch_client().unwrap();
    let mut waits = Vec::new();
    let error = fetch::fetch_patiently(&http, &url, cache.path(), Duration::from_secs(5), |d| {
        waits.push(d);
        async {}
    })
    .await
    .unwrap_err()
    .to_string();
    assert!(error.contains("503"), "{error}");
    // 2 s, then what is left of the 5 s.
    assert_eq!(waits, [Duration::from_secs(2), Duration::from_secs(3)]);
    assert_eq!(log.lock().unwrap().len(), 3);

    let mut asked = 0;
    let error = fetch::fetch_patiently(
        &http,
        "not a url",
        cache.path(),
        Duration::from_secs(5),
        |_| {
            asked += 1;
            async {}
        },
    )
    .await
    .unwrap_err();
    assert!(matches!(error, Error::Input { .. }), "{error}");
    assert_eq!(asked, 0);

    // A path the manager does not serve answers 404 for ever: asked once, named, not retried
    // for the five minutes of patience (a typo in --vulndb-url fails the run at once).
    let wrong = format!("{base}/v1/no-such-index");
    let before = log.lock().unwrap().len();
    let mut asked = 0;
    let error = fetch::fetch_patiently(
        &http,
        &wrong,
        cache.path(),
        fetch::FIRST_INDEX_PATIENCE,
        |_| {
            asked += 1;
            async {}
        },
    )
    .await
    .unwrap_err();
    assert!(matches!(error, Error::Refused { .. }), "{error}");
    assert!(error.to_string().contains("404"), "{error}");
    assert!(error.to_string().contains(&wrong), "{error}");
    assert_eq!(asked, 0);
    assert_eq!(log.lock().unwrap().len(), before + 1);
}

#[tokio::test]
async fn concurrent_fetches_on_one_node_download_once() {
    let server_dir = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let (_db, published, url, log, _stop) = manager(server_dir.path()).await;
    let http = fetch::fetch_client().unwrap();
    let fetches = (0..4).map(|_| {
        let (http, url, dir) = (http.clone(), url.clone(), cache.path().to_owned());
        tokio::spawn(async move { fetch::fetch(&http, &url, &dir).await })
    });
    let mut downloaded = 0;
    for fetch in fetches {
        let fetched = fetch.await.unwrap().unwrap();
        assert_eq!(fetched.digest.as_deref(), Some(published.digest.as_str()));
        downloaded += usize::from(matches!(fetched.outcome, Outcome::Downloaded));
    }
    assert_eq!(downloaded, 1);
    let statuses: Vec<StatusCode> = log.lock().unwrap().iter().map(|s| s.status).collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == StatusCode::OK).count(),
        1,
        "{statuses:?}"
    );
    Index::open(&cache.path().join(INDEX_FILE)).unwrap();
}

/// Builds an OSV `all.zip` of the fixture records.
fn fixture_zip() -> Vec<u8> {
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for entry in std::fs::read_dir(fixtures()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "json") {
            let name = path.file_name().unwrap().to_str().unwrap();
            zip.start_file(name, zip::write::SimpleFileOptions::default())
                .unwrap();
            std::io::Write::write_all(&mut zip, &read(&path)).unwrap();
        }
    }
    zip.finish().unwrap().into_inner()
}

#[tokio::test]
async fn a_url_source_is_downloaded_and_compiled_and_a_failing_one_keeps_the_last_index() {
    let zip = fixture_zip();
    let router = Router::new().route(
        "/Debian/all.zip",
        axum::routing::get(move || {
            let zip = zip.clone();
            async move { zip }
        }),
    );
    let (mirror, log, _stop) = start(router).await;
    let dir = tempfile::tempdir().unwrap();
    let source: Source = format!("{mirror}/Debian/all.zip").parse().unwrap();
    let db = vulndb(vec![source], dir.path());
    let published = db.build_once(now()).await.unwrap();
    let info = Index::open(&dir.path().join(INDEX_FILE))
        .unwrap()
        .info()
        .unwrap();
    assert_eq!(info.records, 3);
    assert_eq!(log.lock().unwrap()[0].method, "GET");
    assert_eq!(db.published().await, Some(published.clone()));

    let missing: Source = format!("{mirror}/Ubuntu/all.zip").parse().unwrap();
    let broken = vulndb(vec![missing], dir.path());
    let error = broken.build_once(now()).await.unwrap_err().to_string();
    assert!(
        error.contains("/Ubuntu/all.zip") && error.contains("404"),
        "{error}"
    );
    assert_eq!(
        sha256(&read(&dir.path().join(INDEX_FILE))),
        published.digest,
        "the last good index stays in place"
    );
    let listing = |dir: &Path| {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    };
    assert_eq!(
        listing(dir.path()),
        [INDEX_FILE, SOURCES_DIR],
        "no scratch files are left"
    );
    assert_eq!(listing(&dir.path().join(SOURCES_DIR)), ["0-all.zip.d"]);
    assert_eq!(
        listing(&dir.path().join(SOURCES_DIR).join("0-all.zip.d")),
        ["all.zip", "all.zip.validators", "changes", "since"],
        "only the good dump is kept, for the next refresh's revalidation"
    );
}

#[tokio::test]
async fn bad_source_values_and_missing_paths_are_named() {
    let error = "ftp://mirror/all.zip"
        .parse::<Source>()
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("--vulndb-source=\"ftp://mirror/all.zip\""),
        "{error}"
    );
    let dir = tempfile::tempdir().unwrap();
    let db = vulndb(vec![Source::Path("/nonexistent/osv".into())], dir.path());
    let error = db.build_once(now()).await.unwrap_err().to_string();
    assert!(error.contains("/nonexistent/osv"), "{error}");
    let none = vulndb(vec![], dir.path());
    let error = none.build_once(now()).await.unwrap_err().to_string();
    assert!(error.contains("--vulndb-source"), "{error}");
}

/// Waits until the refresh loop has made `attempts` attempts.
async fn attempts(status: &mut watch::Receiver<Status>, attempts: u64) -> Status {
    status
        .wait_for(|s| s.attempts >= attempts)
        .await
        .unwrap()
        .clone()
}

async fn served_etag(db: &VulnDb) -> (StatusCode, Option<String>) {
    let response = vulndist::router(db.clone())
        .oneshot(
            axum::http::Request::get(vulndist::PATH)
                .body(axum::body::Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    let etag = response
        .headers()
        .get(header::ETAG)
        .map(|v| v.to_str().unwrap().to_owned());
    (response.status(), etag)
}

#[tokio::test(start_paused = true)]
async fn the_refresh_loop_swaps_in_new_data_daily_and_keeps_the_last_index_on_failure() {
    let sources = tempfile::tempdir().unwrap();
    for name in ["DEBIAN-CVE-2023-5678.json", "DEBIAN-CVE-2024-0727.json"] {
        std::fs::copy(fixtures().join(name), sources.path().join(name)).unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    let db = vulndb(vec![Source::Path(sources.path().to_owned())], dir.path());
    let mut status = db.subscribe();
    let start = Instant::now();
    let refresh = tokio::spawn(db.clone().refresh_loop(now));

    let first = attempts(&mut status, 1).await;
    assert_eq!(
        start.elapsed(),
        Duration::ZERO,
        "the first build is immediate"
    );
    let first = first.published.unwrap();
    assert_eq!(served_etag(&db).await, (StatusCode::OK, Some(first.etag())));

    let new = "DEBIAN-CVE-2099-0001.json";
    std::fs::copy(fixtures().join(new), sources.path().join(new)).unwrap();
    let second = attempts(&mut status, 2).await;
    assert_eq!(start.elapsed(), DEFAULT_REFRESH);
    let second = second.published.unwrap();
    assert_ne!(second.digest, first.digest);
    assert_eq!(
        served_etag(&db).await,
        (StatusCode::OK, Some(second.etag()))
    );
    let index = Index::open(&dir.path().join(INDEX_FILE)).unwrap();
    assert_eq!(index.info().unwrap().records, 3, "the new record is served");

    std::fs::write(sources.path().join("BROKEN.json"), "{ not json").unwrap();
    let third = attempts(&mut status, 3).await;
    assert_eq!(start.elapsed(), DEFAULT_REFRESH * 2);
    assert_eq!(third.failures, 1);
    assert!(third.last_error.unwrap().contains("BROKEN.json"));
    assert_eq!(third.published, Some(second.clone()));
    assert_eq!(
        served_etag(&db).await,
        (StatusCode::OK, Some(second.etag()))
    );

    std::fs::remove_file(sources.path().join("BROKEN.json")).unwrap();
    let fourth = attempts(&mut status, 4).await;
    assert_eq!(
        start.elapsed(),
        DEFAULT_REFRESH * 2 + vulndist::RETRY_INITIAL,
        "a failure is retried after a minute, not a day"
    );
    assert_eq!(fourth.failures, 0);
    refresh.abort();
}

#[tokio::test(start_paused = true)]
async fn a_failing_first_build_serves_503_and_is_retried_with_backoff() {
    let root = tempfile::tempdir().unwrap();
    let sources = root.path().join("osv");
    let dir = tempfile::tempdir().unwrap();
    let db = vulndb(vec![Source::Path(sources.clone())], dir.path());
    let mut status = db.subscribe();
    let start = Instant::now();
    let refresh = tokio::spawn(db.clone().refresh_loop(now));

    let first = attempts(&mut status, 1).await;
    assert_eq!(first.published, None);
    assert_eq!(
        served_etag(&db).await,
        (StatusCode::SERVICE_UNAVAILABLE, None)
    );
    attempts(&mut status, 2).await;
    assert_eq!(start.elapsed(), vulndist::RETRY_INITIAL);

    std::fs::create_dir(&sources).unwrap();
    std::fs::copy(
        fixtures().join("DEBIAN-CVE-2099-0001.json"),
        sources.join("DEBIAN-CVE-2099-0001.json"),
    )
    .unwrap();
    let third = attempts(&mut status, 3).await;
    assert_eq!(
        start.elapsed(),
        vulndist::RETRY_INITIAL * 3,
        "the second retry waits twice as long"
    );
    let published = third.published.unwrap();
    assert_eq!(
        served_etag(&db).await,
        (StatusCode::OK, Some(published.etag()))
    );
    refresh.abort();
}

#[tokio::test(start_paused = true)]
async fn an_index_left_by_a_previous_start_is_served_at_once_and_rebuilt_when_due() {
    let dir = tempfile::tempdir().unwrap();
    let earlier = vulndb(vec![Source::Path(fixtures())], dir.path())
        .build_once(now())
        .await
        .unwrap();

    let db = vulndb(vec![Source::Path(fixtures())], dir.path());
    let mut status = db.subscribe();
    let start = Instant::now();
    let six_hours_later = || now() + jiff::SignedDuration::from_hours(6);
    let refresh = tokio::spawn(db.clone().refresh_loop(six_hours_later));
    let loaded = status
        .wait_for(|s| s.published.is_some())
        .await
        .unwrap()
        .clone();
    assert_eq!(loaded.attempts, 0, "served without rebuilding");
    assert_eq!(loaded.published, Some(earlier.clone()));
    assert_eq!(
        served_etag(&db).await,
        (StatusCode::OK, Some(earlier.etag()))
    );
    attempts(&mut status, 1).await;
    assert_eq!(
        start.elapsed(),
        DEFAULT_REFRESH - Duration::from_secs(6 * 3600),
        "rebuilt when its period is over"
    );
    refresh.abort();
}

#[tokio::test(start_paused = true)]
async fn with_a_builder_the_manager_builds_nothing_and_serves_each_index_the_builder_writes() {
    let sources = tempfile::tempdir().unwrap();
    for name in ["DEBIAN-CVE-2023-5678.json", "DEBIAN-CVE-2024-0727.json"] {
        std::fs::copy(fixtures().join(name), sources.path().join(name)).unwrap();
    }
    let (builder_dir, manager_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let builder = vulndb(
        vec![Source::Path(sources.path().to_owned())],
        builder_dir.path(),
    );
    let built = builder_dir.path().join(INDEX_FILE);
    let manager = VulnDb::new(Settings {
        // Never read: a manager with a builder downloads and builds nothing.
        sources: vec![Source::Path(manager_dir.path().join("no-such-source"))],
        dir: manager_dir.path().to_owned(),
        refresh: DEFAULT_REFRESH,
        built_by: Some(built.clone()),
    })
    .unwrap();
    let mut status = manager.subscribe();
    let adopting = tokio::spawn(manager.clone().refresh_loop(now));

    tokio::time::sleep(vulndist::ADOPT_PERIOD * 3).await;
    assert_eq!(
        status.borrow().attempts,
        0,
        "nothing to adopt, nothing built"
    );
    assert_eq!(
        served_etag(&manager).await,
        (StatusCode::SERVICE_UNAVAILABLE, None)
    );

    let first = builder.build_once(now()).await.unwrap();
    let adopted = attempts(&mut status, 1).await;
    assert_eq!(adopted.published, Some(first.clone()));
    assert_eq!(
        served_etag(&manager).await,
        (StatusCode::OK, Some(first.etag()))
    );
    assert_eq!(read(&manager_dir.path().join(INDEX_FILE)), read(&built));

    let new = "DEBIAN-CVE-2099-0001.json";
    std::fs::copy(fixtures().join(new), sources.path().join(new)).unwrap();
    let later = now() + jiff::SignedDuration::from_hours(24);
    let second = builder.build_once(later).await.unwrap();
    assert_ne!(second.digest, first.digest);
    let adopted = attempts(&mut status, 2).await;
    assert_eq!(adopted.published, Some(second.clone()));
    assert_eq!(
        served_etag(&manager).await,
        (StatusCode::OK, Some(second.etag()))
    );

    tokio::time::sleep(vulndist::ADOPT_PERIOD * 5).await;
    assert_eq!(
        status.borrow().attempts,
        2,
        "an unchanged file is not read again"
    );

    // A file that is not an index, renamed over the builder's: the last good one stays.
    let garbage = builder_dir.path().join("garbage.tmp");
    std::fs::write(&garbage, b"not an index").unwrap();
    std::fs::rename(&garbage, &built).unwrap();
    let failed = attempts(&mut status, 3).await;
    assert_eq!(failed.failures, 1);
    assert!(failed.last_error.unwrap().contains("index"));
    assert_eq!(failed.published, Some(second.clone()));
    assert_eq!(
        served_etag(&manager).await,
        (StatusCode::OK, Some(second.etag()))
    );
    tokio::time::sleep(vulndist::ADOPT_PERIOD * 5).await;
    assert_eq!(status.borrow().attempts, 3, "a bad file is tried once");
    assert!(temp_files(manager_dir.path()).is_empty());
    adopting.abort();
}

/// An OSV mirror serving one `all.zip` whose bytes the test can swap; it honours
/// `If-None-Match` the way GCS does (a quoted digest ETag, `304` with no body).
async fn mirror(body: Arc<Mutex<Vec<u8>>>) -> (String, Log, oneshot::Sender<()>) {
    let router = Router::new().route(
        "/Debian/all.zip",
        axum::routing::get(move |headers: axum::http::HeaderMap| {
            let body = body.lock().unwrap().clone();
            async move {
                let etag = format!("\"{}\"", sha256(&body));
                let unchanged = headers
                    .get(header::IF_NONE_MATCH)
                    .is_some_and(|v| v.to_str().unwrap() == etag);
                let mut response = if unchanged {
                    Response::builder()
                        .status(StatusCode::NOT_MODIFIED)
                        .body(axum::body::Body::empty())
                } else {
                    Response::builder()
                        .status(StatusCode::OK)
                        .body(axum::body::Body::from(body))
                }
                .unwrap();
                response
                    .headers_mut()
                    .insert(header::ETAG, etag.parse().unwrap());
                response
            }
        }),
    );
    let (base, log, stop) = start(router).await;
    (format!("{base}/Debian/all.zip"), log, stop)
}

/// A zip of the fixture records, `changed` of them with a newer `modified` and fixed version.
fn changed_zip(changed: usize) -> Vec<u8> {
    use std::io::Write as _;
    let mut paths: Vec<PathBuf> = std::fs::read_dir(fixtures())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    paths.sort();
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (n, path) in paths.iter().enumerate() {
        let mut record: serde_json::Value =
            serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
        if n < changed {
            record["modified"] = "2026-02-01T00:00:00Z".into();
        }
        zip.start_file(
            path.file_name().unwrap().to_string_lossy(),
            zip::write::SimpleFileOptions::default(),
        )
        .unwrap();
        zip.write_all(record.to_string().as_bytes()).unwrap();
    }
    zip.finish().unwrap().into_inner()
}

#[tokio::test]
async fn a_refresh_revalidates_kept_dumps_and_downloads_only_a_changed_one() {
    let body = Arc::new(Mutex::new(changed_zip(0)));
    let full = body.lock().unwrap().len() as u64;
    let (url, log, _stop) = mirror(body.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let db = vulndb(vec![url.parse().unwrap()], dir.path());
    let status = db.subscribe();

    let first = db.build_once(now()).await.unwrap();
    assert_eq!(
        status.borrow().fetched_bytes,
        full,
        "the first build downloads the dump"
    );
    let records = || {
        Index::open(&dir.path().join(INDEX_FILE))
            .unwrap()
            .info()
            .unwrap()
            .records
    };
    let first_records = records();

    // Unchanged: a 304, no body, and the index rebuilt from the kept copy.
    let second = db.build_once(now()).await.unwrap();
    assert_eq!(
        status.borrow().fetched_bytes,
        0,
        "an unchanged dump is not downloaded"
    );
    assert_eq!(records(), first_records);
    assert_eq!(
        second.digest, first.digest,
        "the same data and time give the same index"
    );
    // This mirror lists no changes (its `modified_id.csv` is a 404): the dump is revalidated.
    let dump_requests = || found(&log);
    let seen = dump_requests();
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert_eq!(seen[1].status, StatusCode::NOT_MODIFIED, "{seen:?}");
    assert!(seen[1].if_none_match.is_some(), "{seen:?}");

    // Changed upstream: downloaded again, whole (this mirror lists no changed records).
    *body.lock().unwrap() = changed_zip(2);
    db.build_once(now()).await.unwrap();
    let changed = body.lock().unwrap().len() as u64;
    assert_eq!(status.borrow().fetched_bytes, changed);
    assert_eq!(dump_requests()[2].status, StatusCode::OK);
}
