//! Compiles the vendored CRI `api.proto` and the minimal containerd `snapshots.proto` and
//! `images.proto` with protox (pure Rust), so no `protoc` is needed.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto/api.proto");
    println!("cargo:rerun-if-changed=proto/snapshots.proto");
    println!("cargo:rerun-if-changed=proto/images.proto");
    let descriptors = protox::compile(
        [
            "proto/api.proto",
            "proto/snapshots.proto",
            "proto/images.proto",
        ],
        ["proto"],
    )?;
    tonic_prost_build::configure()
        .build_client(true)
        // The server half is used by in-process fake runtimes in tests only; it costs little.
        .build_server(true)
        .compile_fds(descriptors)?;
    Ok(())
}
