//! End-to-end: images built in the test, written as OCI layout, OCI archive and docker-archive,
//! read back through the public API.

mod common;

use common::*;
use drydock_imagefs::{
    ContentStore, Digest, DockerArchive, Error, Extractor, Image, ImageFiles, Interest, Limit,
    Limits, OciArchive, OciLayout, Platform, read_layer,
};

/// What `drydock-vuln` asks for on a Debian or Alpine image (a subset).
fn interest() -> Interest {
    Interest::new()
        .with_path("etc/os-release")
        .with_path("usr/lib/os-release")
        .with_path("etc/debian_version")
        .with_path("etc/passwd")
        .with_path("var/lib/dpkg/status")
        .with_dir("var/lib/dpkg/status.d")
        .with_path("lib/apk/db/installed")
        .with_path("usr/lib/apk/db/installed")
}

/// Three layers in three compressions: a Debian-like base with a symlinked os-release and
/// status.d, a layer deleting one status.d file and rewriting the status, and a layer making
/// status.d opaque.
fn debian_like() -> BuiltImage {
    let base = LayerTar::new()
        .dir("./etc")
        .dir("./usr/lib")
        .file("./usr/lib/os-release", b"ID=debian\nVERSION_ID=\"12\"\n")
        .symlink("./etc/os-release", "../usr/lib/os-release")
        .file("./etc/debian_version", b"12.5\n")
        .file("./usr/share/doc/big", &vec![7u8; 300_000])
        .file("./var/lib/dpkg/status", b"Package: base-files\n")
        .file("./var/lib/dpkg/status.d/tzdata", b"Package: tzdata\n")
        .file("./var/lib/dpkg/status.d/libc6", b"Package: libc6\n")
        .finish();
    let update = LayerTar::new()
        .whiteout("var/lib/dpkg/status.d", "libc6")
        .file("var/lib/dpkg/status.d/openssl", b"Package: openssl\n")
        .file(
            "var/lib/dpkg/status",
            b"Package: base-files\n\nPackage: curl\n",
        )
        .finish();
    let opaque = LayerTar::new()
        .opaque("var/lib/dpkg/status.d")
        .file("var/lib/dpkg/status.d/zlib", b"Package: zlib\n")
        .finish();
    BuiltImage::new(
        "amd64",
        vec![
            LayerBlob::gzip(base),
            LayerBlob::zstd(update),
            LayerBlob::plain(opaque),
        ],
    )
}

/// An amd64 image of `base` and one layer more holding `path` with `content`, made a blob by
/// `blob`.
fn on_base(
    base: &LayerBlob,
    blob: fn(Vec<u8>) -> LayerBlob,
    path: &str,
    content: &[u8],
) -> BuiltImage {
    BuiltImage::new(
        "amd64",
        vec![
            base.clone(),
            blob(LayerTar::new().file(path, content).finish()),
        ],
    )
}

/// An `arch` image of one gzip layer holding `etc/os-release` with `content`.
fn os_release_image(arch: &'static str, content: &[u8]) -> BuiltImage {
    BuiltImage::new(
        arch,
        vec![LayerBlob::gzip(
            LayerTar::new().file("etc/os-release", content).finish(),
        )],
    )
}

/// `image` written alone as an OCI layout at `dir`, opened, and resolved.
fn lone_layout(dir: &std::path::Path, image: &BuiltImage) -> (OciLayout, Image) {
    write_layout(dir, &[(None, image)]);
    let layout = OciLayout::open(dir).expect("the layout just written opens");
    let resolved = layout
        .image(None, &Platform::default())
        .expect("its one image resolves");
    (layout, resolved)
}

/// Why extracting the resolved `image` of `layout` fails.
fn extraction_error(layout: &OciLayout, image: &Image) -> Error {
    Extractor::new(interest())
        .image(layout, image)
        .expect_err("the extraction fails")
}

fn assert_debian_like(files: &ImageFiles) {
    assert_eq!(
        files.get("etc/os-release"),
        Some(&b"ID=debian\nVERSION_ID=\"12\"\n"[..]),
        "the symlinked os-release resolves to usr/lib/os-release"
    );
    assert_eq!(files.get("etc/debian_version"), Some(&b"12.5\n"[..]));
    assert_eq!(
        files.get("var/lib/dpkg/status"),
        Some(&b"Package: base-files\n\nPackage: curl\n"[..])
    );
    assert_eq!(files.layer_of("var/lib/dpkg/status"), Some(1));
    let status_d: Vec<_> = files
        .under("var/lib/dpkg/status.d")
        .map(|(p, _)| p)
        .collect();
    assert_eq!(status_d, ["var/lib/dpkg/status.d/zlib"]);
    assert!(!files.contains("usr/share/doc/big"));
    assert_eq!(files.len(), 5, "{:?}", files.paths().collect::<Vec<_>>());
}

#[test]
fn oci_layout_merges_whiteouts_opaque_dirs_status_d_and_symlinked_os_release() {
    let dir = tempfile::tempdir().unwrap();
    let image = debian_like();
    write_layout(dir.path(), &[(Some("latest"), &image)]);
    let layout = OciLayout::open(dir.path()).unwrap();
    let resolved = layout.image(None, &Platform::default()).unwrap();
    assert_eq!(resolved.layers.len(), 3);
    assert_eq!(
        resolved.layers[0].diff_id.as_ref().unwrap().as_str(),
        sha256(&image.layers[0].tar)
    );
    let files = Extractor::new(interest())
        .image(&layout, &resolved)
        .unwrap();
    assert_debian_like(&files);
}

#[test]
fn oci_archive_gives_the_same_view_as_the_layout_it_packs() {
    let dir = tempfile::tempdir().unwrap();
    write_layout(
        &dir.path().join("layout"),
        &[(Some("latest"), &debian_like())],
    );
    let archive_path = dir.path().join("image.tar");
    std::fs::write(&archive_path, tar_dir(&dir.path().join("layout"))).unwrap();
    let archive = OciArchive::open(&archive_path).unwrap();
    let image = archive.image(Some("latest"), &Platform::default()).unwrap();
    let files = Extractor::new(interest()).image(&archive, &image).unwrap();
    assert_debian_like(&files);
}

#[test]
fn docker_archive_gives_the_same_view_in_legacy_and_docker_25_formats() {
    let dir = tempfile::tempdir().unwrap();
    let image = debian_like();
    let legacy = dir.path().join("legacy.tar");
    std::fs::write(&legacy, docker_archive(&[("debian:12", &image)])).unwrap();
    let archive = DockerArchive::open(&legacy).unwrap();
    let resolved = archive.image(Some("debian:12")).unwrap();
    assert_eq!(resolved.name, "debian:12");
    assert_eq!(resolved.platform, Some("linux/amd64".parse().unwrap()));
    assert_debian_like(
        &Extractor::new(interest())
            .image(&archive, &resolved)
            .unwrap(),
    );

    let modern = dir.path().join("modern.tar");
    std::fs::write(&modern, docker_archive_v25("debian:12", &image)).unwrap();
    let archive = DockerArchive::open(&modern).unwrap();
    let resolved = archive.image(None).unwrap();
    assert_debian_like(
        &Extractor::new(interest())
            .image(&archive, &resolved)
            .unwrap(),
    );
}

#[test]
fn docker_archive_follows_symlinked_duplicate_layers_and_reads_shared_layers_once() {
    let dir = tempfile::tempdir().unwrap();
    let base = LayerBlob::plain(
        LayerTar::new()
            .file("etc/os-release", b"ID=alpine\nVERSION_ID=3.20.1\n")
            .finish(),
    );
    let a = on_base(&base, LayerBlob::plain, "lib/apk/db/installed", b"P:a\n");
    let b = on_base(&base, LayerBlob::plain, "lib/apk/db/installed", b"P:b\n");
    let path = dir.path().join("two.tar");
    std::fs::write(&path, docker_archive(&[("a:1", &a), ("b:1", &b)])).unwrap();
    let archive = DockerArchive::open(&path).unwrap();
    assert_eq!(archive.images().len(), 2);
    let extractor = Extractor::new(interest());
    let fa = extractor
        .image(&archive, &archive.image(Some("a:1")).unwrap())
        .unwrap();
    let fb = extractor
        .image(&archive, &archive.image(Some("b:1")).unwrap())
        .unwrap();
    assert_eq!(fa.get("lib/apk/db/installed"), Some(&b"P:a\n"[..]));
    assert_eq!(fb.get("lib/apk/db/installed"), Some(&b"P:b\n"[..]));
    assert_eq!(fb.get("etc/os-release"), fa.get("etc/os-release"));
    assert_eq!(
        extractor.layers_read(),
        3,
        "the shared base layer is read once"
    );
}

#[test]
fn shared_layers_across_images_of_a_layout_are_read_once_per_run() {
    let dir = tempfile::tempdir().unwrap();
    let base = LayerBlob::gzip(
        LayerTar::new()
            .file("usr/lib/os-release", b"ID=debian\n")
            .finish(),
    );
    let one = on_base(&base, LayerBlob::gzip, "var/lib/dpkg/status", b"1");
    let two = on_base(&base, LayerBlob::gzip, "var/lib/dpkg/status", b"2");
    write_layout(dir.path(), &[(Some("one"), &one), (Some("two"), &two)]);
    let layout = OciLayout::open(dir.path()).unwrap();
    let extractor = Extractor::new(interest());
    std::thread::scope(|s| {
        for name in ["one", "two", "one"] {
            let (layout, extractor) = (&layout, &extractor);
            s.spawn(move || {
                let image = layout.image(Some(name), &Platform::default()).unwrap();
                let files = extractor.image(layout, &image).unwrap();
                assert_eq!(files.get("usr/lib/os-release"), Some(&b"ID=debian\n"[..]));
            });
        }
    });
    assert_eq!(extractor.layers_read(), 3);
}

#[test]
fn nested_index_picks_the_requested_platform_and_reports_the_available_ones() {
    let dir = tempfile::tempdir().unwrap();
    let amd = os_release_image("amd64", b"ARCH=amd64\n");
    let arm = os_release_image("arm64", b"ARCH=arm64\n");
    for image in [&amd, &arm] {
        for blob in image.blobs() {
            write_blob(dir.path(), blob);
        }
    }
    let attestation = serde_json::json!({
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "digest": amd.manifest_digest(),
        "size": amd.manifest.len(),
        "platform": {"os": "unknown", "architecture": "unknown"},
    });
    let inner = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [attestation, amd.descriptor(None), arm.descriptor(None)],
    }))
    .unwrap();
    let inner_digest = write_blob(dir.path(), &inner);
    std::fs::write(
        dir.path().join("oci-layout"),
        br#"{"imageLayoutVersion":"1.0.0"}"#,
    )
    .unwrap();
    write_index(
        dir.path(),
        vec![serde_json::json!({
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "digest": inner_digest,
            "size": inner.len(),
            "annotations": {"io.containerd.image.name": "docker.io/library/multi:1"},
        })],
    );
    let layout = OciLayout::open(dir.path()).unwrap();
    let extractor = Extractor::new(interest());
    let arm_image = layout
        .image(
            Some("docker.io/library/multi:1"),
            &"linux/arm64".parse().unwrap(),
        )
        .unwrap();
    assert_eq!(
        extractor
            .image(&layout, &arm_image)
            .unwrap()
            .get("etc/os-release"),
        Some(&b"ARCH=arm64\n"[..])
    );
    let amd_image = layout.image(None, &Platform::linux_amd64()).unwrap();
    assert_eq!(amd_image.manifest.unwrap().as_str(), amd.manifest_digest());

    let err = layout
        .image(None, &"linux/s390x".parse().unwrap())
        .unwrap_err();
    let message = err.to_string();
    assert!(matches!(err, Error::NoMatchingPlatform { .. }), "{err}");
    assert!(
        message.contains("linux/amd64") && message.contains("linux/arm64"),
        "{message}"
    );
    assert!(matches!(
        layout.image(Some("nope"), &Platform::default()),
        Err(Error::NoSuchImage { .. })
    ));
}

#[test]
fn traversal_entry_fails_the_layer_and_never_lands_on_a_real_path() {
    let dir = tempfile::tempdir().unwrap();
    let image = BuiltImage::new(
        "amd64",
        vec![LayerBlob::gzip(
            LayerTar::new()
                .file("etc/passwd", b"root:x:0:0::/root:/bin/sh\n")
                .raw_file(b"../../etc/passwd", b"pwned\n")
                .finish(),
        )],
    );
    let (layout, resolved) = lone_layout(dir.path(), &image);
    let err = extraction_error(&layout, &resolved);
    let message = err.to_string();
    assert!(
        matches!(err.root_cause(), Error::PathTraversal { path } if path == "../../etc/passwd"),
        "{err:?}"
    );
    assert!(message.contains(&image.layer_digest(0)), "{message}");
    assert!(message.contains(dir.path().to_str().unwrap()), "{message}");
}

#[test]
fn truncated_gzip_layer_is_a_truncated_error_naming_the_layer() {
    let dir = tempfile::tempdir().unwrap();
    let tar = LayerTar::new()
        .file("var/lib/dpkg/status", &vec![b'x'; 100_000])
        .file("usr/bin/tool", &pseudo_random(200_000))
        .finish();
    let mut layer = LayerBlob::gzip(tar);
    layer.blob.truncate(layer.blob.len() / 2);
    let image = BuiltImage::new("amd64", vec![layer]);
    let (layout, resolved) = lone_layout(dir.path(), &image);
    let err = extraction_error(&layout, &resolved);
    assert!(
        matches!(err.root_cause(), Error::Truncated { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains(&image.layer_digest(0)), "{err}");
}

#[test]
fn truncated_zstd_and_plain_layers_are_truncated_errors() {
    let tar = LayerTar::new()
        .file("var/lib/dpkg/status", &pseudo_random(50_000))
        .finish();
    let mut zst = zstd(&tar);
    zst.truncate(zst.len() - 100);
    let mut plain = tar.clone();
    plain.truncate(700);
    for blob in [zst, plain] {
        let err = read_layer(&blob[..], None, &interest(), &Limits::default()).unwrap_err();
        assert!(matches!(err, Error::Truncated { .. }), "{err:?}");
    }
}

#[test]
fn decompression_bomb_stops_at_the_layer_byte_limit() {
    let tar = LayerTar::new()
        .file("usr/share/zeros", &vec![0u8; 8 << 20])
        .finish();
    let blob = gzip(&tar);
    assert!(blob.len() < 100_000, "a bomb compresses well");
    let limits = Limits {
        max_layer_bytes: 1 << 20,
        ..Limits::default()
    };
    let err = read_layer(&blob[..], None, &interest(), &limits).unwrap_err();
    assert!(
        matches!(err, Error::LimitExceeded { limit: Limit::LayerBytes, max } if max == 1 << 20),
        "{err:?}"
    );
}

#[test]
fn kept_file_over_the_size_limit_and_too_many_entries_fail_the_layer() {
    let limits = Limits {
        max_file_size: 1024,
        max_entries: 10,
        ..Limits::default()
    };
    let big = LayerTar::new()
        .file("var/lib/dpkg/status", &[b'a'; 2048])
        .finish();
    let err = read_layer(&big[..], None, &interest(), &limits).unwrap_err();
    assert!(
        matches!(
            err,
            Error::LimitExceeded {
                limit: Limit::FileSize,
                ..
            }
        ),
        "{err:?}"
    );
    let mut many = LayerTar::new();
    for i in 0..20 {
        many = many.file(&format!("f{i}"), b"");
    }
    let err = read_layer(&many.finish()[..], None, &interest(), &limits).unwrap_err();
    assert!(
        matches!(
            err,
            Error::LimitExceeded {
                limit: Limit::Entries,
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn gnu_long_name_larger_than_the_extended_header_bound_is_refused_without_allocating_it() {
    let tar = LayerTar::new().gnu_long_name(2 << 20).finish();
    let err = read_layer(&gzip(&tar)[..], None, &interest(), &Limits::default()).unwrap_err();
    assert!(
        matches!(
            err,
            Error::LimitExceeded {
                limit: Limit::ExtendedHeader,
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn long_names_in_status_d_are_kept_under_their_full_path() {
    let name = format!("var/lib/dpkg/status.d/{}", "l".repeat(150));
    let tar = LayerTar::new().file(&name, b"Package: long\n").finish();
    let files = read_layer(&tar[..], None, &interest(), &Limits::default()).unwrap();
    assert_eq!(
        files.files().collect::<Vec<_>>(),
        [(&name[..], &b"Package: long\n"[..])]
    );
}

#[test]
fn hard_links_to_kept_files_share_their_content_across_layers() {
    let lower = LayerTar::new()
        .file("usr/lib/os-release", b"ID=wolfi\n")
        .finish();
    let upper = LayerTar::new()
        .hardlink("etc/os-release", "usr/lib/os-release")
        .hardlink("var/lib/dpkg/status", "usr/bin/not-kept")
        .finish();
    let l0 = read_layer(&lower[..], None, &interest(), &Limits::default()).unwrap();
    let l1 = read_layer(&upper[..], None, &interest(), &Limits::default()).unwrap();
    let files = drydock_imagefs::merge_layers([&l0, &l1], &interest());
    assert_eq!(files.get("etc/os-release"), Some(&b"ID=wolfi\n"[..]));
    assert_eq!(files.layer_of("etc/os-release"), Some(1));
    assert!(!files.contains("var/lib/dpkg/status"));
}

#[test]
fn merged_usr_symlink_exposes_the_apk_database_under_both_paths() {
    let tar = LayerTar::new()
        .symlink("lib", "usr/lib")
        .file("usr/lib/apk/db/installed", b"P:musl\n")
        .finish();
    let layer = read_layer(&gzip(&tar)[..], None, &interest(), &Limits::default()).unwrap();
    let files = drydock_imagefs::merge_layers([&layer], &interest());
    assert_eq!(files.get("lib/apk/db/installed"), Some(&b"P:musl\n"[..]));
    assert_eq!(
        files.get("usr/lib/apk/db/installed"),
        Some(&b"P:musl\n"[..])
    );
}

#[test]
fn whiting_out_a_parent_directory_removes_the_files_below_it() {
    let lower = LayerTar::new()
        .file("var/lib/dpkg/status", b"x")
        .file("var/lib/dpkg/status.d/a", b"a")
        .finish();
    let upper = LayerTar::new().whiteout("var/lib", "dpkg").finish();
    let layers = [&lower, &upper]
        .map(|t| read_layer(&t[..], None, &interest(), &Limits::default()).unwrap());
    assert!(drydock_imagefs::merge_layers(&layers, &interest()).is_empty());
}

#[test]
fn a_blob_that_does_not_hash_to_its_digest_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let image = os_release_image("amd64", b"ID=real\n");
    write_layout(dir.path(), &[(None, &image)]);
    let digest = image.layer_digest(0);
    let forged = gzip(
        &LayerTar::new()
            .file("etc/os-release", b"ID=forged\n")
            .finish(),
    );
    std::fs::write(
        dir.path()
            .join("blobs/sha256")
            .join(&digest["sha256:".len()..]),
        forged,
    )
    .unwrap();
    let layout = OciLayout::open(dir.path()).unwrap();
    let resolved = layout.image(None, &Platform::default()).unwrap();
    let err = extraction_error(&layout, &resolved);
    assert!(
        matches!(err.root_cause(), Error::DigestMismatch { expected, .. } if expected.as_str() == digest),
        "{err:?}"
    );
    let unverified = Extractor::new(interest()).verify_digests(false);
    let files = unverified.image(&layout, &resolved).unwrap();
    assert_eq!(files.get("etc/os-release"), Some(&b"ID=forged\n"[..]));
}

#[test]
fn content_store_resolves_a_manifest_digest_and_reports_a_discarded_layer_blob() {
    let dir = tempfile::tempdir().unwrap();
    let image = debian_like();
    for blob in image.blobs() {
        write_blob(dir.path(), blob);
    }
    let store = ContentStore::new(dir.path());
    let digest = Digest::parse(&image.manifest_digest()).unwrap();
    let resolved = store
        .image("docker.io/library/debian:12", &digest, &Platform::default())
        .unwrap();
    assert_debian_like(&Extractor::new(interest()).image(&store, &resolved).unwrap());

    let discarded = image.layer_digest(1);
    std::fs::remove_file(
        dir.path()
            .join("blobs/sha256")
            .join(&discarded["sha256:".len()..]),
    )
    .unwrap();
    let err = Extractor::new(interest())
        .image(&store, &resolved)
        .unwrap_err();
    assert!(
        matches!(err.root_cause(), Error::BlobNotFound { digest, .. } if digest.as_str() == discarded),
        "{err:?}"
    );
    assert!(
        err.to_string().contains("docker.io/library/debian:12"),
        "{err}"
    );
}

#[test]
fn compressed_archives_and_foreign_compressions_are_unsupported_not_misread() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("image.tar.gz");
    std::fs::write(&path, gzip(&docker_archive(&[("a:1", &debian_like())]))).unwrap();
    assert!(matches!(
        DockerArchive::open(&path),
        Err(Error::Unsupported { .. })
    ));
    let xz = [0xfd, b'7', b'z', b'X', b'Z', 0, 0, 0];
    assert!(matches!(
        read_layer(&xz[..], None, &interest(), &Limits::default()),
        Err(Error::Unsupported { .. })
    ));
}

#[test]
fn mangled_layers_give_errors_or_partial_views_but_never_panic() {
    let tar = LayerTar::new()
        .file("etc/os-release", b"ID=debian\n")
        .symlink("lib", "usr/lib")
        .file(&format!("var/lib/dpkg/status.d/{}", "n".repeat(120)), b"x")
        .opaque("var/lib/dpkg")
        .finish();
    let limits = Limits {
        max_file_size: 4096,
        max_layer_bytes: 1 << 20,
        max_entries: 64,
        max_kept_bytes: 8192,
    };
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    for blob in [tar.clone(), gzip(&tar), zstd(&tar)] {
        for _ in 0..400 {
            let mut mangled = blob.clone();
            for _ in 0..(xorshift(&mut state) % 4 + 1) {
                let at = (xorshift(&mut state) % mangled.len() as u64) as usize;
                mangled[at] = xorshift(&mut state) as u8;
            }
            if xorshift(&mut state).is_multiple_of(3) {
                let cut = (xorshift(&mut state) % mangled.len() as u64) as usize;
                mangled.truncate(cut);
            }
            if let Ok(layer) = read_layer(&mangled[..], None, &interest(), &limits) {
                let _ = drydock_imagefs::merge_layers([&layer], &interest());
            }
        }
    }
}

fn xorshift(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

fn pseudo_random(len: usize) -> Vec<u8> {
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    (0..len).map(|_| xorshift(&mut state) as u8).collect()
}
