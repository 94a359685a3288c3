//! Reads one layer blob (gzip, zstd or plain tar) the way the scanner does and prints what it
//! kept and how long it took: `cargo run --release --example read_layer -- <blob>`. Compare
//! with `zcat <blob> | tar t > /dev/null` for the decompression floor.

use std::time::Instant;

use drydock_imagefs::{Interest, Limits, read_layer};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args().nth(1).ok_or("usage: read_layer <blob>")?;
    let interest = Interest::new()
        .with_path("etc/os-release")
        .with_path("usr/lib/os-release")
        .with_path("etc/debian_version")
        .with_path("var/lib/dpkg/status")
        .with_dir("var/lib/dpkg/status.d")
        .with_path("lib/apk/db/installed")
        .with_path("usr/lib/apk/db/installed")
        .with_path("var/lib/rpm/rpmdb.sqlite")
        .with_path("usr/lib/sysimage/rpm/rpmdb.sqlite");
    let start = Instant::now();
    let layer = read_layer(
        std::fs::File::open(&path)?,
        None,
        &interest,
        &Limits::default(),
    )?;
    let elapsed = start.elapsed();
    for (path, data) in layer.files() {
        println!("{path}\t{} bytes", data.len());
    }
    println!(
        "{}: {} entries, {} decompressed bytes, {} kept bytes in {elapsed:?}",
        layer.compression(),
        layer.entries(),
        layer.decompressed_bytes(),
        layer.kept_bytes()
    );
    Ok(())
}
