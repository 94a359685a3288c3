//! Mail notifications: a minimal SMTP client (RFC 5321) for `smtp://` notify URLs.
//!
//! One message per notification: `EHLO`; `STARTTLS` when the server offers it (required on
//! port 587 or with `encryption=ExplicitTLS`; implicit TLS on port 465 or with
//! `encryption=ImplicitTLS`; never with `encryption=None` or `useStartTLS=no`); `AUTH PLAIN`
//! (or `AUTH LOGIN`) when the URL has a user and password; `MAIL FROM`, one `RCPT TO` per
//! address, `DATA` with the text dot-stuffed and in CRLF lines; `QUIT`. TLS is rustls (ring)
//! with the system's root certificates.
//!
//! What is sent is decided by pure functions ([`Mail::from_url`], [`Mail::render`],
//! [`dot_stuff`], [`tls_mode`]); [`send`] only talks. Credentials are never sent in the clear
//! to anything but a loopback address (as Go's `net/smtp` refuses too).
//!
//! URL options understood (shoutrrr's names, case-insensitive): `fromAddress`, `toAddresses`,
//! `fromName`, `subject` (default: the message's first line), `encryption`
//! (`Auto`/`None`/`ExplicitTLS`/`ImplicitTLS`), `useStartTLS` (`yes`/`no`), `clientHost` (the
//! `EHLO` name, default `localhost`).

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;

use jiff::Timestamp;
use tokio::io::{
    AsyncBufReadExt as _, AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _, BufReader,
};
use tokio::net::TcpStream;

use crate::notify::NotifyUrl;

/// SMTP over implicit TLS ("submissions", RFC 8314).
pub const IMPLICIT_TLS_PORT: u16 = 465;

/// Mail submission (RFC 6409), where STARTTLS is expected.
pub const SUBMISSION_PORT: u16 = 587;

/// The `EHLO` name when the URL gives no `clientHost` (shoutrrr's default).
const DEFAULT_CLIENT_HOST: &str = "localhost";

/// The longest subject taken from the message's first line, in characters: a subject line
/// stays readable in a mail client's list.
const MAX_SUBJECT_CHARS: usize = 120;

/// The longest reply line accepted (RFC 5321 §4.5.3.1.5 says 512 octets; servers send more in
/// practice, so a generous bound that still stops a runaway server).
const MAX_REPLY_LINE: usize = 4096;

/// The most lines one reply may have (an `EHLO` reply lists a few dozen extensions at most).
const MAX_REPLY_LINES: usize = 100;

/// How a connection is secured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TlsMode {
    /// Plain text only.
    Never,
    /// `STARTTLS` if the server offers it, plain text otherwise.
    IfOffered,
    /// `STARTTLS`, and fail if the server does not offer it.
    Required,
    /// TLS from the first byte.
    Implicit,
}

/// The TLS mode for `port` and the URL's `options` (lower-cased keys).
pub fn tls_mode(port: u16, options: &BTreeMap<String, String>) -> TlsMode {
    let option = |key: &str| options.get(key).map(|v| v.to_ascii_lowercase());
    match option("encryption").as_deref() {
        Some("none") => return TlsMode::Never,
        Some("implicittls") => return TlsMode::Implicit,
        Some("explicittls") => return TlsMode::Required,
        _ => {}
    }
    if port == IMPLICIT_TLS_PORT {
        TlsMode::Implicit
    } else if port == SUBMISSION_PORT {
        TlsMode::Required
    } else if matches!(option("usestarttls").as_deref(), Some("no" | "false")) {
        TlsMode::Never
    } else {
        TlsMode::IfOffered
    }
}

/// One mail to send, decided from the URL and the message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mail {
    /// The server.
    pub host: String,
    /// Its port.
    pub port: u16,
    /// How the connection is secured.
    pub tls: TlsMode,
    /// `(user, password)` for `AUTH`, if the URL has a user.
    pub credentials: Option<(String, String)>,
    /// The `EHLO` name.
    pub client_host: String,
    /// The envelope and `From:` address.
    pub from: String,
    /// The `From:` display name, if any.
    pub from_name: Option<String>,
    /// The envelope and `To:` addresses.
    pub to: Vec<String>,
    /// The subject.
    pub subject: String,
    /// The text.
    pub body: String,
}

impl Mail {
    /// The mail for `message` to an `smtp://` URL; `None` for other services.
    pub fn from_url(url: &NotifyUrl, message: &str) -> Option<Mail> {
        let NotifyUrl::Smtp {
            host,
            port,
            username,
            password,
            from_address,
            to_addresses,
            options,
        } = url
        else {
            return None;
        };
        let subject = options.get("subject").cloned().unwrap_or_else(|| {
            message
                .lines()
                .next()
                .unwrap_or_default()
                .chars()
                .take(MAX_SUBJECT_CHARS)
                .collect()
        });
        Some(Mail {
            host: host.clone(),
            port: *port,
            tls: tls_mode(*port, options),
            credentials: username
                .clone()
                .map(|u| (u, password.clone().unwrap_or_default())),
            client_host: options
                .get("clienthost")
                .cloned()
                .unwrap_or_else(|| DEFAULT_CLIENT_HOST.to_owned()),
            from: from_address.clone(),
            from_name: options.get("fromname").cloned(),
            to: to_addresses.clone(),
            subject,
            body: message.to_owned(),
        })
    }

    /// The message as sent after `DATA`, headers and text, in CRLF lines, dot-stuffed, with
    /// the terminating `.` line. `now` is the `Date:` header.
    pub fn render(&self, now: Timestamp) -> String {
        let from = match &self.from_name {
            Some(name) => format!("{} <{}>", header_text(name), self.from),
            None => self.from.clone(),
        };
        // In UTC: `+0000` (a bare timestamp would print `-0000`, "offset unknown").
        let date = jiff::fmt::rfc2822::to_string(&now.to_zoned(jiff::tz::TimeZone::UTC))
            .unwrap_or_default();
        let headers = [
            format!("From: {from}"),
            format!("To: {}", self.to.join(", ")),
            format!("Subject: {}", header_text(&self.subject)),
            format!("Date: {date}"),
            "MIME-Version: 1.0".to_owned(),
            "Content-Type: text/plain; charset=utf-8".to_owned(),
            "Content-Transfer-Encoding: 8bit".to_owned(),
        ];
        let text = format!("{}\n\n{}", headers.join("\n"), self.body);
        format!("{}.\r\n", dot_stuff(&text))
    }
}

/// `text` in CRLF lines (from `\n`, `\r\n` or lone `\r`), each line that starts with `.`
/// given another (RFC 5321 §4.5.2), ending with CRLF.
pub fn dot_stuff(text: &str) -> String {
    let normalized = text.replace("\r\n", "\n").replace('\r', "\n");
    let mut out = String::with_capacity(normalized.len() + normalized.len() / 16 + 2);
    for line in normalized
        .strip_suffix('\n')
        .unwrap_or(&normalized)
        .split('\n')
    {
        if line.starts_with('.') {
            out.push('.');
        }
        out.push_str(line);
        out.push_str("\r\n");
    }
    out
}

/// A header value: as is when it is printable ASCII, otherwise an RFC 2047 encoded word.
/// Line breaks never survive (no header injection).
fn header_text(value: &str) -> String {
    let one_line: String = value
        .chars()
        .map(|c| if c == '\r' || c == '\n' { ' ' } else { c })
        .collect();
    if one_line
        .chars()
        .all(|c| c.is_ascii() && !c.is_ascii_control())
    {
        one_line
    } else {
        format!("=?utf-8?B?{}?=", base64(one_line.as_bytes()))
    }
}

/// Standard base64 with padding (RFC 4648 §4), for `AUTH` and encoded words.
pub fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (i, shift) in [18, 12, 6, 0].into_iter().enumerate() {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> shift) & 0x3f) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// A server reply: its code and its text lines.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Reply {
    code: u16,
    lines: Vec<String>,
}

impl Reply {
    fn text(&self) -> String {
        format!("{} {}", self.code, self.lines.join(" / "))
    }
}

/// One SMTP conversation over a stream.
struct Conversation<S> {
    stream: BufReader<S>,
    server: String,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Conversation<S> {
    fn new(stream: S, server: &str) -> Conversation<S> {
        Conversation {
            stream: BufReader::new(stream),
            server: server.to_owned(),
        }
    }

    async fn reply(&mut self) -> Result<Reply, String> {
        let mut lines = Vec::new();
        loop {
            let mut line = String::new();
            let read = (&mut self.stream)
                .take(MAX_REPLY_LINE as u64)
                .read_line(&mut line)
                .await
                .map_err(|e| format!("smtp {}: {e}", self.server))?;
            if read == 0 {
                return Err(format!("smtp {}: connection closed", self.server));
            }
            let line = line.trim_end_matches(['\r', '\n']);
            let code = line
                .get(..3)
                .and_then(|c| c.parse::<u16>().ok())
                .ok_or_else(|| format!("smtp {}: not an SMTP reply: {line:?}", self.server))?;
            lines.push(line.get(4..).unwrap_or_default().to_owned());
            if line.as_bytes().get(3) != Some(&b'-') {
                return Ok(Reply { code, lines });
            }
            if lines.len() >= MAX_REPLY_LINES {
                return Err(format!("smtp {}: endless reply", self.server));
            }
        }
    }

    /// Sends `line` (shown as `shown` in errors: credentials are not logged) and expects a
    /// reply with `expected`.
    async fn command(
        &mut self,
        line: &str,
        shown: &str,
        expected: &[u16],
    ) -> Result<Reply, String> {
        self.stream
            .get_mut()
            .write_all(format!("{line}\r\n").as_bytes())
            .await
            .map_err(|e| format!("smtp {}: {e}", self.server))?;
        self.expect(shown, expected).await
    }

    async fn expect(&mut self, shown: &str, expected: &[u16]) -> Result<Reply, String> {
        let reply = self.reply().await?;
        if expected.contains(&reply.code) {
            Ok(reply)
        } else {
            Err(format!(
                "smtp {} refused {shown}: {}",
                self.server,
                reply.text()
            ))
        }
    }

    /// `EHLO`; returns the extensions offered, upper-cased (`STARTTLS`, `AUTH PLAIN LOGIN`, …).
    async fn ehlo(&mut self, client_host: &str) -> Result<Vec<String>, String> {
        let reply = self
            .command(&format!("EHLO {client_host}"), "EHLO", &[250])
            .await?;
        Ok(reply
            .lines
            .iter()
            .skip(1)
            .map(|l| l.to_ascii_uppercase())
            .collect())
    }

    /// From `AUTH` (if asked) to `QUIT`.
    async fn deliver(
        &mut self,
        mail: &Mail,
        extensions: &[String],
        encrypted: bool,
        now: Timestamp,
    ) -> Result<(), String> {
        if let Some((user, password)) = &mail.credentials {
            if !encrypted && !is_loopback(&mail.host) {
                return Err(format!(
                    "smtp {}: refusing to send the password without TLS (the server offers no \
                     STARTTLS, or the URL disables it)",
                    self.server
                ));
            }
            let mechanisms: Vec<&str> = extensions
                .iter()
                .filter_map(|e| e.strip_prefix("AUTH"))
                .flat_map(|m| m.split([' ', '=']))
                .collect();
            if mechanisms.contains(&"PLAIN") {
                let token = base64(format!("\0{user}\0{password}").as_bytes());
                self.command(&format!("AUTH PLAIN {token}"), "AUTH PLAIN", &[235])
                    .await?;
            } else if mechanisms.contains(&"LOGIN") {
                self.command("AUTH LOGIN", "AUTH LOGIN", &[334]).await?;
                self.command(&base64(user.as_bytes()), "the AUTH LOGIN user", &[334])
                    .await?;
                self.command(
                    &base64(password.as_bytes()),
                    "the AUTH LOGIN password",
                    &[235],
                )
                .await?;
            } else {
                return Err(format!(
                    "smtp {}: the URL has a user but the server offers neither AUTH PLAIN nor \
                     AUTH LOGIN",
                    self.server
                ));
            }
        }
        self.command(
            &format!("MAIL FROM:<{}>", mail.from),
            &format!("MAIL FROM:<{}>", mail.from),
            &[250],
        )
        .await?;
        for to in &mail.to {
            let line = format!("RCPT TO:<{to}>");
            // 251: "user not local; will forward" is a success too.
            self.command(&line, &line, &[250, 251]).await?;
        }
        self.command("DATA", "DATA", &[354]).await?;
        self.stream
            .get_mut()
            .write_all(mail.render(now).as_bytes())
            .await
            .map_err(|e| format!("smtp {}: {e}", self.server))?;
        self.expect("the message", &[250]).await?;
        // The message is accepted; a failed goodbye changes nothing.
        let _ = self.command("QUIT", "QUIT", &[221]).await;
        Ok(())
    }
}

fn is_loopback(host: &str) -> bool {
    host == "localhost"
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// A trusted root certificate (DER).
pub type Root = rustls::pki_types::CertificateDer<'static>;

/// rustls with ring, the system's root certificates and `extra_roots`.
fn tls_connector(extra_roots: &[Root]) -> Result<tokio_rustls::TlsConnector, String> {
    let mut roots = rustls::RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs().certs;
    for cert in native.into_iter().chain(extra_roots.iter().cloned()) {
        // A certificate rustls cannot parse is skipped, as browsers skip them.
        let _ = roots.add(cert);
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(tokio_rustls::TlsConnector::from(Arc::new(config)))
}

async fn start_tls(
    tcp: TcpStream,
    host: &str,
    server: &str,
    extra_roots: &[Root],
) -> Result<tokio_rustls::client::TlsStream<TcpStream>, String> {
    let name = rustls::pki_types::ServerName::try_from(host.to_owned())
        .map_err(|e| format!("smtp {server}: {host} is not a TLS server name: {e}"))?;
    tls_connector(extra_roots)?
        .connect(name, tcp)
        .await
        .map_err(|e| format!("smtp {server}: TLS: {e}"))
}

/// Sends `message` to an `smtp://` URL. `now` dates the mail.
///
/// # Errors
///
/// The URL is not `smtp://`, the server cannot be reached, TLS fails, or the server refuses a
/// step (the error quotes its reply).
pub async fn send(url: &NotifyUrl, message: &str, now: Timestamp) -> Result<(), String> {
    send_trusting(url, message, now, &[]).await
}

/// [`send`], also trusting `extra_roots` (a private mail relay's CA).
///
/// # Errors
///
/// As [`send`].
pub async fn send_trusting(
    url: &NotifyUrl,
    message: &str,
    now: Timestamp,
    extra_roots: &[Root],
) -> Result<(), String> {
    let mail = Mail::from_url(url, message).ok_or("not an smtp:// URL")?;
    let server = format!("{}:{}", mail.host, mail.port);
    let tcp = TcpStream::connect((mail.host.as_str(), mail.port))
        .await
        .map_err(|e| format!("smtp {server}: cannot connect: {e}"))?;
    if mail.tls == TlsMode::Implicit {
        let tls = start_tls(tcp, &mail.host, &server, extra_roots).await?;
        let mut talk = Conversation::new(tls, &server);
        talk.expect("the connection", &[220]).await?;
        let extensions = talk.ehlo(&mail.client_host).await?;
        return talk.deliver(&mail, &extensions, true, now).await;
    }
    let mut talk = Conversation::new(tcp, &server);
    talk.expect("the connection", &[220]).await?;
    let extensions = talk.ehlo(&mail.client_host).await?;
    let offered = extensions.iter().any(|e| e == "STARTTLS");
    match (mail.tls, offered) {
        (TlsMode::Required | TlsMode::IfOffered, true) => {
            talk.command("STARTTLS", "STARTTLS", &[220]).await?;
            let tcp = talk.stream.into_inner();
            let tls = start_tls(tcp, &mail.host, &server, extra_roots).await?;
            let mut talk = Conversation::new(tls, &server);
            let extensions = talk.ehlo(&mail.client_host).await?;
            talk.deliver(&mail, &extensions, true, now).await
        }
        (TlsMode::Required, false) => Err(format!(
            "smtp {server}: STARTTLS is required (port {SUBMISSION_PORT} or \
             encryption=ExplicitTLS) but the server does not offer it"
        )),
        _ => talk.deliver(&mail, &extensions, false, now).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(text: &str) -> NotifyUrl {
        NotifyUrl::parse(text).unwrap()
    }

    #[test]
    fn base64_matches_rfc_4648_vectors() {
        let cases = [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ];
        for (plain, encoded) in cases {
            assert_eq!(base64(plain.as_bytes()), encoded, "{plain:?}");
        }
    }

    #[test]
    fn lines_starting_with_a_dot_are_stuffed_and_every_line_ends_in_crlf() {
        assert_eq!(
            dot_stuff(".hidden\nplain\r\n..two\rlast"),
            "..hidden\r\nplain\r\n...two\r\nlast\r\n"
        );
        assert_eq!(dot_stuff("a\n"), "a\r\n");
    }

    #[test]
    fn tls_follows_the_port_and_the_options() {
        let none = BTreeMap::new();
        let opts = |k: &str, v: &str| BTreeMap::from([(k.to_owned(), v.to_owned())]);
        assert_eq!(tls_mode(25, &none), TlsMode::IfOffered);
        assert_eq!(tls_mode(587, &none), TlsMode::Required);
        assert_eq!(tls_mode(465, &none), TlsMode::Implicit);
        assert_eq!(tls_mode(587, &opts("encryption", "None")), TlsMode::Never);
        assert_eq!(
            tls_mode(25, &opts("encryption", "ExplicitTLS")),
            TlsMode::Required
        );
        assert_eq!(
            tls_mode(25, &opts("encryption", "ImplicitTLS")),
            TlsMode::Implicit
        );
        assert_eq!(tls_mode(25, &opts("usestarttls", "No")), TlsMode::Never);
    }

    #[test]
    fn the_mail_has_the_urls_addresses_and_the_message_as_subject_and_text() {
        let u = url(
            "smtp://ops:pw@mail.example.com:2525/?fromAddress=kured@example.com&toAddresses=a@example.com,b@example.com&fromName=Kured%20Bot",
        );
        let mail = Mail::from_url(&u, "Rebooting node n1\nsecond line").unwrap();
        assert_eq!(mail.host, "mail.example.com");
        assert_eq!(mail.port, 2525);
        assert_eq!(mail.credentials, Some(("ops".into(), "pw".into())));
        assert_eq!(mail.to, ["a@example.com", "b@example.com"]);
        assert_eq!(mail.subject, "Rebooting node n1");
        let now: Timestamp = "2026-11-22T03:00:00Z".parse().unwrap();
        let text = mail.render(now);
        assert!(
            text.starts_with("From: Kured Bot <kured@example.com>\r\n"),
            "{text}"
        );
        assert!(text.contains("\r\nTo: a@example.com, b@example.com\r\n"));
        assert!(text.contains("\r\nSubject: Rebooting node n1\r\n"));
        assert!(
            text.contains("\r\nDate: Sun, 22 Nov 2026 03:00:00 +0000\r\n"),
            "{text:?}"
        );
        assert!(text.ends_with("\r\n\r\nRebooting node n1\r\nsecond line\r\n.\r\n"));
        assert_eq!(Mail::from_url(&url("discord://t@1"), "x"), None);
    }

    #[test]
    fn headers_cannot_be_injected_and_non_ascii_is_encoded() {
        assert_eq!(header_text("a\r\nBcc: x@y"), "a  Bcc: x@y");
        assert_eq!(header_text("Nœud"), "=?utf-8?B?TsWTdWQ=?=");
    }

    #[test]
    fn only_loopback_servers_may_get_a_password_in_the_clear() {
        assert!(is_loopback("localhost"));
        assert!(is_loopback("127.0.0.1"));
        assert!(is_loopback("[::1]"));
        assert!(!is_loopback("mail.example.com"));
        assert!(!is_loopback("10.0.0.1"));
    }
}
