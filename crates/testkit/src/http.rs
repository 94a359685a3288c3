//! Plain HTTP against a process under test: a free local port to give it, a `GET` on it, and
//! a kubeconfig for an API server that is never there.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};

/// A kubeconfig whose API server (`127.0.0.1:1`) never answers: a process given it stays up,
/// retrying, so its own endpoints can be tested without a cluster.
pub const UNREACHABLE_KUBECONFIG: &str = "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: https://127.0.0.1:1\ncontexts:\n- name: c\n  context: {cluster: c, user: u}\ncurrent-context: c\nusers:\n- name: u\n  user: {token: t}\n";

/// A local TCP port free at the time of asking (bound to port 0, then released).
///
/// # Panics
/// When no port can be bound: the test cannot run.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("no free local port: {e}"))
}

/// `GET path` on `127.0.0.1:port` (HTTP/1.1, connection closed): the whole response, status
/// line and headers included.
///
/// # Panics
/// When the connection or the exchange fails: the test fails there.
pub fn get(port: u16, path: &str) -> String {
    let exchange = || -> std::io::Result<String> {
        let mut stream = TcpStream::connect(("127.0.0.1", port))?;
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )?;
        let mut response = String::new();
        stream.read_to_string(&mut response)?;
        Ok(response)
    };
    exchange().unwrap_or_else(|e| panic!("GET 127.0.0.1:{port}{path}: {e}"))
}
