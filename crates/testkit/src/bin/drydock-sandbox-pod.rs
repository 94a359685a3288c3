//! Runs a pod sandbox with one running container through CRI, as kubelet would. Used by
//! `scripts/demo.sh` to put an image in use.
//!
//! Usage: drydock-sandbox-pod SOCKET POD IMAGE

use std::process::ExitCode;

use drydock_testkit::containerd::{Left, run_pod};

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [socket, pod, image] = args.as_slice() else {
        eprintln!("usage: drydock-sandbox-pod SOCKET POD IMAGE");
        return ExitCode::FAILURE;
    };
    let endpoint = match socket.parse::<drydock_cri::Endpoint>() {
        Ok(endpoint) => endpoint,
        Err(err) => {
            eprintln!("drydock-sandbox-pod: {err}");
            return ExitCode::FAILURE;
        }
    };
    let client = match drydock_cri::CriClient::connect(&endpoint).await {
        Ok(client) => client,
        Err(err) => {
            eprintln!("drydock-sandbox-pod: {err}");
            return ExitCode::FAILURE;
        }
    };
    let (_, container) = run_pod(&client, pod, image, Left::Running).await;
    println!("{container}");
    ExitCode::SUCCESS
}
