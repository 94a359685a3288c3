//! `smtp://` notifications against a real SMTP server: Python's aiosmtpd (Debian package
//! `python3-aiosmtpd`, installed by `scripts/lib/install-deps.sh`), started per test on a free
//! loopback port, writing each accepted mail (and each login) to a JSON-lines file.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test code: a failed unwrap is a failed test.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use drydock_reboot::notify::NotifyUrl;
use drydock_reboot::webhook;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt as _, BufReader};

/// Bounds a failing test only (a server that never starts, a client that hangs); a passing
/// test finishes as soon as the exchange is done.
const FAILURE_BOUND: Duration = Duration::from_secs(30);

/// The server: accepts mail for anyone but `nobody@…` (550), logs in `ops`/`secret` only.
const SERVER: &str = r#"
import asyncio, json, sys
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

out, port = sys.argv[1], int(sys.argv[2])

def record(entry):
    with open(out, "a") as f:
        f.write(json.dumps(entry) + "\n")

def authenticator(server, session, envelope, mechanism, auth_data):
    user = auth_data.login.decode()
    ok = user == "ops" and auth_data.password == b"secret"
    record({"auth": mechanism, "user": user, "ok": ok})
    return AuthResult(success=ok)

class Handler:
    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.startswith("nobody@"):
            return "550 5.1.1 <%s>: no such user" % address
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        record({"from": envelope.mail_from, "to": envelope.rcpt_tos,
                "data": envelope.original_content.decode()})
        return "250 2.0.0 queued"

tls = {}
if len(sys.argv) > 3:
    import ssl
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(sys.argv[3], sys.argv[4])
    tls = {"tls_context": context, "require_starttls": False}
controller = Controller(Handler(), hostname="127.0.0.1", port=port,
                        authenticator=authenticator, auth_require_tls=False, **tls)
controller.start()
print("ready", flush=True)
try:
    sys.stdin.read()
finally:
    controller.stop()
"#;

/// A running aiosmtpd; stopped when dropped.
struct MailServer {
    port: u16,
    log: PathBuf,
    _dir: tempfile::TempDir,
    _child: tokio::process::Child,
}

/// Debian's Python, where the apt package installs aiosmtpd (a `python3` earlier on `PATH`,
/// such as a pyenv shim, may not have it).
fn python() -> &'static str {
    if Path::new("/usr/bin/python3").exists() {
        "/usr/bin/python3"
    } else {
        "python3"
    }
}

/// A server certificate for 127.0.0.1 and its key, then the CA that signed it: test-only
/// (valid until 2126), trusted by no system.
fn test_certificate() -> [String; 3] {
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    [
        "smtp-test-cert.pem",
        "smtp-test-key.pem",
        "smtp-test-ca.pem",
    ]
    .map(|f| data.join(f).display().to_string())
}

async fn mail_server() -> MailServer {
    mail_server_with(&[]).await
}

/// A server offering STARTTLS with [`test_certificate`].
async fn mail_server_offering_starttls() -> MailServer {
    let [cert, key, _ca] = test_certificate();
    mail_server_with(&[cert, key]).await
}

async fn mail_server_with(extra: &[String]) -> MailServer {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("mail.jsonl");
    // A free port: bound by the kernel's choice, then handed to the server.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = tokio::process::Command::new(python())
        .args(["-c", SERVER, log.to_str().unwrap(), &port.to_string()])
        .args(extra)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("python3 starts (scripts/lib/install-deps.sh installs python3-aiosmtpd)");
    let stdout = child.stdout.take().unwrap();
    let mut line = String::new();
    tokio::time::timeout(FAILURE_BOUND, BufReader::new(stdout).read_line(&mut line))
        .await
        .expect("aiosmtpd starts")
        .unwrap();
    assert_eq!(
        line.trim(),
        "ready",
        "aiosmtpd did not start (python3-aiosmtpd installed?)"
    );
    MailServer {
        port,
        log,
        _dir: dir,
        _child: child,
    }
}

impl MailServer {
    fn records(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
}

async fn send(url: &str, message: &str) -> Result<(), String> {
    let url = NotifyUrl::parse(url).unwrap();
    drydock_kube::client::install_crypto_provider();
    let now = "2026-11-22T03:00:00Z".parse().unwrap();
    tokio::time::timeout(FAILURE_BOUND, webhook::send(None, &url, message, now))
        .await
        .expect("the exchange ends")
}

#[tokio::test]
async fn a_mail_reaches_every_recipient_with_subject_and_dot_stuffed_text() {
    let server = mail_server().await;
    let url = format!(
        "smtp://127.0.0.1:{}/?fromAddress=kured@example.com&toAddresses=ops@example.com,oncall@example.com&subject=Node%20reboots",
        server.port
    );
    let message = "Rebooting node n1\n.hidden line that starts with a dot\n..two dots\nend";
    send(&url, message).await.unwrap();

    let records = server.records();
    assert_eq!(records.len(), 1, "{records:?}");
    let mail = &records[0];
    assert_eq!(mail["from"], "kured@example.com");
    assert_eq!(
        mail["to"],
        serde_json::json!(["ops@example.com", "oncall@example.com"])
    );
    let data = mail["data"].as_str().unwrap();
    assert!(data.contains("Subject: Node reboots\r\n"), "{data}");
    assert!(data.contains("From: kured@example.com\r\n"), "{data}");
    assert!(
        data.contains("To: ops@example.com, oncall@example.com\r\n"),
        "{data}"
    );
    // The server removes one leading dot per line: the text arrives exactly as written.
    assert!(
        data.ends_with(
            "\r\n\r\nRebooting node n1\r\n.hidden line that starts with a dot\r\n..two dots\r\nend\r\n"
        ),
        "{data:?}"
    );
}

#[tokio::test]
async fn a_user_in_the_url_logs_in_with_auth_plain() {
    let server = mail_server().await;
    let url = format!(
        "smtp://ops:secret@127.0.0.1:{}/?fromAddress=kured@example.com&toAddresses=ops@example.com",
        server.port
    );
    send(&url, "Node n1 rebooted & uncordoned successfully!")
        .await
        .unwrap();
    let records = server.records();
    assert_eq!(records[0]["auth"], "PLAIN");
    assert_eq!(records[0]["ok"], true);
    let data = records[1]["data"].as_str().unwrap();
    assert!(
        data.contains("Subject: Node n1 rebooted & uncordoned successfully!\r\n"),
        "the first line is the subject when the URL gives none: {data}"
    );
}

#[tokio::test]
async fn a_refused_recipient_is_a_clear_error_quoting_the_server() {
    let server = mail_server().await;
    let url = format!(
        "smtp://127.0.0.1:{}/?fromAddress=kured@example.com&toAddresses=ops@example.com,nobody@example.com",
        server.port
    );
    let error = send(&url, "Draining node n1").await.unwrap_err();
    assert!(
        error.contains(&format!(
            "smtp 127.0.0.1:{} refused RCPT TO:<nobody@example.com>: 550",
            server.port
        )),
        "{error}"
    );
    assert!(error.contains("no such user"), "{error}");
    assert!(server.records().is_empty(), "no mail was accepted");
}

#[tokio::test]
async fn starttls_required_on_the_submission_port_is_refused_when_not_offered() {
    // The server offers no STARTTLS; port 587's rule is checked with an explicit option on
    // this server's port.
    let server = mail_server().await;
    let url = format!(
        "smtp://127.0.0.1:{}/?fromAddress=kured@example.com&toAddresses=ops@example.com&encryption=ExplicitTLS",
        server.port
    );
    let error = send(&url, "x").await.unwrap_err();
    assert!(error.contains("STARTTLS is required"), "{error}");
    assert!(server.records().is_empty());
}

#[tokio::test]
async fn an_unreachable_server_is_named_in_the_error() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("smtp://127.0.0.1:{port}/?fromAddress=a@b.c&toAddresses=d@e.f");
    let error = send(&url, "x").await.unwrap_err();
    assert!(
        error.contains(&format!("smtp 127.0.0.1:{port}: cannot connect")),
        "{error}"
    );
}

#[tokio::test]
async fn starttls_offered_is_taken_and_the_servers_certificate_is_verified() {
    // The server offers STARTTLS with a certificate no one trusts: the client upgrades (it
    // would deliver in the clear otherwise) and refuses the handshake, sending nothing.
    let server = mail_server_offering_starttls().await;
    let url = format!(
        "smtp://ops:secret@127.0.0.1:{}/?fromAddress=kured@example.com&toAddresses=ops@example.com",
        server.port
    );
    let error = send(&url, "x").await.unwrap_err();
    assert!(
        error.contains(&format!("smtp 127.0.0.1:{}: TLS:", server.port))
            && error.contains("certificate"),
        "{error}"
    );
    assert!(
        server.records().is_empty(),
        "no login, no mail: {:?}",
        server.records()
    );
}

#[tokio::test]
async fn use_starttls_no_delivers_in_the_clear_even_when_offered() {
    let server = mail_server_offering_starttls().await;
    let url = format!(
        "smtp://127.0.0.1:{}/?fromAddress=kured@example.com&toAddresses=ops@example.com&useStartTLS=no",
        server.port
    );
    send(&url, "Rebooting node n1").await.unwrap();
    assert_eq!(server.records().len(), 1);
}

#[tokio::test]
async fn over_starttls_with_a_trusted_certificate_the_mail_and_the_login_go_through() {
    use rustls::pki_types::pem::PemObject as _;
    let server = mail_server_offering_starttls().await;
    let root = rustls::pki_types::CertificateDer::from_pem_file(&test_certificate()[2]).unwrap();
    let url = NotifyUrl::parse(&format!(
        "smtp://ops:secret@127.0.0.1:{}/?fromAddress=kured@example.com&toAddresses=ops@example.com&encryption=ExplicitTLS",
        server.port
    ))
    .unwrap();
    drydock_kube::client::install_crypto_provider();
    let now = "2026-11-22T03:00:00Z".parse().unwrap();
    tokio::time::timeout(
        FAILURE_BOUND,
        drydock_reboot::smtp::send_trusting(&url, "Rebooting node n1", now, &[root]),
    )
    .await
    .expect("the exchange ends")
    .unwrap();
    let records = server.records();
    assert_eq!(records[0]["auth"], "PLAIN", "{records:?}");
    assert_eq!(records[1]["to"], serde_json::json!(["ops@example.com"]));
}
