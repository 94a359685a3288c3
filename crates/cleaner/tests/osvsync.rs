//! Incremental refresh against a real HTTP server laid out as OSV's bucket (`<Ecosystem>/
//! all.zip`, `modified_id.csv` newest first, `<ID>.json`): after a first whole download, a
//! refresh fetches only the records changed upstream and builds the same index as a whole
//! download of the new dump would.
#![allow(clippy::unwrap_used)] // a failed unwrap in a test is a failed test, with its backtrace

mod common;

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::Path;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::Path as UrlPath;
use axum::http::StatusCode;
use common::now;
use drydock_cleaner::download::INDEX_FILE;
use drydock_cleaner::manager::vulndist::VulnDb;
use drydock_vuln::Index;
use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};

/// Records in the dump.
const RECORDS: usize = 1_000;

/// One Debian record; `version` is its fixed version, `modified` its time.
fn record(n: usize, modified: Timestamp, fixed: &str, withdrawn: bool) -> Value {
    let mut record = json!({
        "schema_version": "1.6.0",
        "id": format!("DEBIAN-CVE-2025-{n:05}"),
        "modified": modified.to_string(),
        "aliases": [format!("CVE-2025-{n:05}")],
        "affected": [{
            "package": {"ecosystem": "Debian:12", "name": format!("pkg{}", n % 50)},
            "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": fixed}]}],
            "ecosystem_specific": {"urgency": "medium"}
        }]
    });
    if withdrawn {
        record["withdrawn"] = json!(modified.to_string());
    }
    record
}

/// The upstream state: records by ID.
type Records = BTreeMap<String, Value>;

fn first_state() -> Records {
    let start: Timestamp = "2025-01-01T00:00:00Z".parse().unwrap();
    (0..RECORDS)
        .map(|n| {
            let r = record(
                n,
                start + SignedDuration::from_hours(i64::try_from(n).unwrap()),
                &format!("1.{n}-1"),
                false,
            );
            (r["id"].as_str().unwrap().to_owned(), r)
        })
        .collect()
}

/// `changed` records get a new fixed version, one more is withdrawn, and `added` are new.
fn changed_state(mut records: Records, changed: usize, added: usize) -> (Records, Vec<String>) {
    let at: Timestamp = "2026-02-01T00:00:00Z".parse().unwrap();
    let mut touched = Vec::new();
    for n in 0..changed {
        let r = record(
            n,
            at + SignedDuration::from_mins(i64::try_from(n).unwrap()),
            "9.9-1",
            false,
        );
        touched.push(r["id"].as_str().unwrap().to_owned());
        records.insert(touched.last().unwrap().clone(), r);
    }
    let r = record(changed, at + SignedDuration::from_hours(2), "1.0-1", true);
    touched.push(r["id"].as_str().unwrap().to_owned());
    records.insert(touched.last().unwrap().clone(), r);
    for n in RECORDS..RECORDS + added {
        let r = record(n, at + SignedDuration::from_hours(3), "2.0-1", false);
        touched.push(r["id"].as_str().unwrap().to_owned());
        records.insert(touched.last().unwrap().clone(), r);
    }
    touched.sort();
    (records, touched)
}

/// The bucket's files for `records`: `all.zip`, `modified_id.csv` and one `<ID>.json` each.
fn bucket(records: &Records) -> BTreeMap<String, Vec<u8>> {
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let mut files = BTreeMap::new();
    let mut list: Vec<(String, &str)> = Vec::new();
    for (id, record) in records {
        let bytes = record.to_string().into_bytes();
        zip.start_file(
            format!("{id}.json"),
            zip::write::SimpleFileOptions::default(),
        )
        .unwrap();
        zip.write_all(&bytes).unwrap();
        files.insert(format!("{id}.json"), bytes);
        list.push((record["modified"].as_str().unwrap().to_owned(), id));
    }
    list.sort_by(|a, b| b.cmp(a));
    let csv: String = list.iter().map(|(at, id)| format!("{at},{id}\n")).collect();
    files.insert("modified_id.csv".to_owned(), csv.into_bytes());
    files.insert("all.zip".to_owned(), zip.finish().unwrap().into_inner());
    files
}

type Files = Arc<Mutex<BTreeMap<String, Vec<u8>>>>;
type Requests = Arc<Mutex<Vec<String>>>;

/// Serves `files` under `/Debian/`, recording each path asked for.
async fn serve(files: Files) -> (String, Requests, tokio::sync::oneshot::Sender<()>) {
    let requests: Requests = Arc::default();
    let seen = requests.clone();
    let router = Router::new().route(
        "/Debian/{file}",
        axum::routing::get(move |UrlPath(file): UrlPath<String>| {
            let body = files.lock().unwrap().get(&file).cloned();
            seen.lock().unwrap().push(file);
            async move { body.ok_or(StatusCode::NOT_FOUND) }
        }),
    );
    let (base, stop) = common::serve(router).await;
    (format!("{base}/Debian/all.zip"), requests, stop)
}

fn vulndb(url: &str, dir: &Path) -> VulnDb {
    common::vulndb(vec![url.parse().unwrap()], dir)
}

fn contents(dir: &Path) -> drydock_vuln::index::Contents {
    Index::open(&dir.join(INDEX_FILE))
        .unwrap()
        .contents()
        .unwrap()
}

#[tokio::test]
async fn a_refresh_fetches_only_the_changed_records_and_builds_what_a_whole_download_builds() {
    let files: Files = Arc::new(Mutex::new(bucket(&first_state())));
    let first_zip = files.lock().unwrap()["all.zip"].len() as u64;
    let (url, requests, _stop) = serve(files.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let db = vulndb(&url, dir.path());
    let status = db.subscribe();

    db.build_once(now()).await.unwrap();
    assert_eq!(*requests.lock().unwrap(), ["all.zip"]);
    assert_eq!(status.borrow().fetched_bytes, first_zip);

    // Upstream: 10 records changed, 1 withdrawn, 2 new.
    let (second, touched) = changed_state(first_state(), 10, 2);
    *files.lock().unwrap() = bucket(&second);
    let second_zip = files.lock().unwrap()["all.zip"].len() as u64;
    requests.lock().unwrap().clear();
    db.build_once(now()).await.unwrap();
    let mut asked = requests.lock().unwrap().clone();
    assert_eq!(asked[0], "modified_id.csv", "the list first");
    asked.remove(0);
    asked.sort();
    let expected: Vec<String> = touched.iter().map(|id| format!("{id}.json")).collect();
    assert_eq!(asked, expected, "only the changed records, not the dump");
    let fetched = status.borrow().fetched_bytes;
    let records_bytes: u64 = expected
        .iter()
        .map(|f| files.lock().unwrap()[f].len() as u64)
        .sum();
    assert!(
        fetched >= records_bytes && fetched < second_zip / 4,
        "fetched {fetched} bytes: the records ({records_bytes}) and the list's head, not the \
         dump ({second_zip})"
    );

    // A whole download of the new dump into a fresh directory builds the same index.
    let whole_dir = tempfile::tempdir().unwrap();
    vulndb(&url, whole_dir.path())
        .build_once(now())
        .await
        .unwrap();
    let (incremental, whole) = (contents(dir.path()), contents(whole_dir.path()));
    assert_eq!(incremental.records.len(), RECORDS + 2);
    assert!(
        incremental
            .advisories
            .iter()
            .any(|a| a.data.contains("9.9-1")),
        "the changes are in"
    );
    assert_eq!(incremental, whole);

    // Nothing changed since: the list's head only, no record.
    requests.lock().unwrap().clear();
    db.build_once(now()).await.unwrap();
    assert_eq!(*requests.lock().unwrap(), ["modified_id.csv"]);
    assert_eq!(contents(dir.path()), whole);
}

#[tokio::test]
async fn a_source_without_a_list_or_with_a_bad_one_is_downloaded_whole() {
    let mut first = bucket(&first_state());
    first.remove("modified_id.csv");
    let files: Files = Arc::new(Mutex::new(first));
    let (url, requests, _stop) = serve(files.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let db = vulndb(&url, dir.path());
    db.build_once(now()).await.unwrap();

    // No list: the whole dump again (a conditional GET; this server sends no validators).
    let (second, _) = changed_state(first_state(), 3, 0);
    let mut second = bucket(&second);
    second.remove("modified_id.csv");
    *files.lock().unwrap() = second;
    requests.lock().unwrap().clear();
    db.build_once(now()).await.unwrap();
    assert_eq!(*requests.lock().unwrap(), ["modified_id.csv", "all.zip"]);
    assert!(
        contents(dir.path())
            .advisories
            .iter()
            .any(|a| a.data.contains("9.9-1"))
    );

    // A garbage list: named in the log, and the dump is downloaded whole.
    files
        .lock()
        .unwrap()
        .insert("modified_id.csv".to_owned(), b"garbage\n".to_vec());
    requests.lock().unwrap().clear();
    db.build_once(now()).await.unwrap();
    assert_eq!(*requests.lock().unwrap(), ["modified_id.csv", "all.zip"]);
}
