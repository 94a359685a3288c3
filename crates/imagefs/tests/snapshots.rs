//! Unpacked snapshot directories with overlay whiteouts. Creating a 0/0 character device needs
//! CAP_MKNOD and the `trusted.` xattr CAP_SYS_ADMIN: without them those parts are skipped with
//! a note, the rest still runs.

use std::fs;
use std::os::unix::fs::symlink;
use std::path::Path;

use drydock_imagefs::{Extractor, Interest, SnapshotLayer};
use rustix::fs::{CWD, FileType, Mode, XattrFlags};

fn interest() -> Interest {
    Interest::new()
        .with_path("etc/os-release")
        .with_path("usr/lib/os-release")
        .with_path("var/lib/dpkg/status")
        .with_dir("var/lib/dpkg/status.d")
}

fn write(root: &Path, path: &str, content: &str) {
    let path = root.join(path);
    let parent = path.parent().expect("fixture paths have a parent");
    fs::create_dir_all(parent).expect("create fixture directory");
    fs::write(path, content).expect("write fixture file");
}

fn layer(key: &str, dir: &Path) -> SnapshotLayer {
    SnapshotLayer {
        key: key.to_owned(),
        dir: dir.to_owned(),
    }
}

/// Makes an overlay whiteout; false when this process may not.
fn whiteout(path: &Path) -> bool {
    rustix::fs::mknodat(CWD, path, FileType::CharacterDevice, Mode::from(0o600), 0).is_ok()
}

/// Marks a directory opaque; false when neither xattr namespace is writable here.
fn make_opaque(dir: &Path) -> bool {
    ["trusted.overlay.opaque", "user.overlay.opaque"]
        .iter()
        .any(|name| rustix::fs::setxattr(dir, *name, b"y", XattrFlags::empty()).is_ok())
}

#[test]
fn snapshot_layers_merge_with_char_device_whiteouts_opaque_xattrs_and_symlinks() {
    let tmp = tempfile::tempdir().unwrap();
    let (l0, l1, l2) = (
        tmp.path().join("1/fs"),
        tmp.path().join("2/fs"),
        tmp.path().join("3/fs"),
    );
    write(&l0, "usr/lib/os-release", "ID=debian\n");
    fs::create_dir_all(l0.join("etc")).unwrap();
    symlink("../usr/lib/os-release", l0.join("etc/os-release")).unwrap();
    write(&l0, "var/lib/dpkg/status", "Package: base-files\n");
    write(&l0, "var/lib/dpkg/status.d/a", "Package: a\n");
    write(&l0, "var/lib/dpkg/status.d/b", "Package: b\n");
    write(&l0, "usr/share/doc/ignored", "not wanted\n");

    write(&l1, "var/lib/dpkg/status.d/c", "Package: c\n");
    let can_whiteout = whiteout(&l1.join("var/lib/dpkg/status.d/b"));

    write(&l2, "var/lib/dpkg/status.d/d", "Package: d\n");
    let can_opaque = make_opaque(&l2.join("var/lib/dpkg/status.d"));

    let extractor = Extractor::new(interest());
    let files = extractor
        .snapshot_image(
            "snap",
            &[layer("k0", &l0), layer("k1", &l1), layer("k2", &l2)],
        )
        .unwrap();
    assert_eq!(files.get("etc/os-release"), Some(&b"ID=debian\n"[..]));
    assert_eq!(
        files.get("var/lib/dpkg/status"),
        Some(&b"Package: base-files\n"[..])
    );
    assert!(!files.contains("usr/share/doc/ignored"));
    let status_d: Vec<_> = files
        .under("var/lib/dpkg/status.d")
        .map(|(p, _)| p)
        .collect();
    let expected: &[&str] = match (can_whiteout, can_opaque) {
        (_, true) => &["var/lib/dpkg/status.d/d"],
        (true, false) => &[
            "var/lib/dpkg/status.d/a",
            "var/lib/dpkg/status.d/c",
            "var/lib/dpkg/status.d/d",
        ],
        (false, false) => &[
            "var/lib/dpkg/status.d/a",
            "var/lib/dpkg/status.d/b",
            "var/lib/dpkg/status.d/c",
            "var/lib/dpkg/status.d/d",
        ],
    };
    if !can_whiteout {
        eprintln!("note: cannot mknod a 0/0 character device here; whiteout part skipped");
    }
    if !can_opaque {
        eprintln!("note: cannot set an overlay.opaque xattr here; opaque part skipped");
    }
    assert_eq!(status_d, expected);

    if can_whiteout {
        let two = extractor
            .snapshot_image("snap", &[layer("k0", &l0), layer("k1", &l1)])
            .unwrap();
        let status_d: Vec<_> = two.under("var/lib/dpkg/status.d").map(|(p, _)| p).collect();
        assert_eq!(
            status_d,
            ["var/lib/dpkg/status.d/a", "var/lib/dpkg/status.d/c"]
        );
    }

    // The same layers again: served from the cache.
    extractor
        .snapshot_image(
            "snap",
            &[layer("k0", &l0), layer("k1", &l1), layer("k2", &l2)],
        )
        .unwrap();
    assert_eq!(extractor.layers_read(), 3);
}

#[test]
fn snapshot_symlinks_are_resolved_inside_the_image_never_on_the_host() {
    let tmp = tempfile::tempdir().unwrap();
    let host = tmp.path().join("host-etc");
    write(&host, "os-release", "ID=host-secret\n");
    write(&host, "status", "host\n");
    let l0 = tmp.path().join("layer");
    fs::create_dir_all(&l0).unwrap();
    // An absolute symlink to a host directory, and a parent directory that is a symlink.
    symlink(&host, l0.join("etc")).unwrap();
    fs::create_dir_all(l0.join("var/lib")).unwrap();
    symlink(&host, l0.join("var/lib/dpkg")).unwrap();

    let files = Extractor::new(interest())
        .snapshot_image("escape", &[layer("k", &l0)])
        .unwrap();
    assert!(files.is_empty(), "{:?}", files.paths().collect::<Vec<_>>());
}

#[test]
fn a_missing_snapshot_directory_is_an_io_error_naming_image_and_layer() {
    let tmp = tempfile::tempdir().unwrap();
    let err = Extractor::new(interest())
        .snapshot_image("gone:1", &[layer("sha256:abc", &tmp.path().join("nope"))])
        .unwrap_err();
    let message = err.to_string();
    assert!(
        message.contains("gone:1") && message.contains("sha256:abc"),
        "{message}"
    );
}
