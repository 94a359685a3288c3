//! PHP packages: what Composer's `vendor/composer/installed.json` says it installed.
//!
//! Composer 2 writes `{"packages": [...], "dev": …, "dev-package-names": [...]}`; Composer 1
//! wrote the package list as the top-level array. Each package is an object with its `name`
//! (`vendor/project`) and `version` as written in its source (`v2.0.1`, `1.2.3`, `dev-main`);
//! the version is kept as written (syft does the same), the Composer comparator normalises it.
//! Development packages are listed too and reported like the others, as syft does.
//!
//! The parser takes the input's name (its path in the image) and its bytes; garbage yields
//! [`crate::Error::CorruptPackageDb`] naming the input, never a panic.

use crate::inventory::corrupt;
use crate::inventory::language::{LanguageEcosystem, LanguagePackage};

/// The name Composer gives its list of installed packages (in `vendor/composer/`).
pub const COMPOSER_INSTALLED_NAME: &str = "installed.json";

/// The largest `installed.json` read: the largest applications (Drupal, Magento with hundreds
/// of packages) write a few MiB.
pub const MAX_COMPOSER_INSTALLED: usize = 32 << 20;

/// The packages a Composer `installed.json` lists (either form). A JSON object without a
/// `packages` list is some other program's `installed.json` and lists nothing.
///
/// # Errors
///
/// [`crate::Error::CorruptPackageDb`] naming `input` when it is larger than
/// [`MAX_COMPOSER_INSTALLED`], not JSON, neither an object nor an array, or lists a package
/// that is not an object with a string `name` and `version`.
pub fn parse_composer_installed(input: &str, bytes: &[u8]) -> crate::Result<Vec<LanguagePackage>> {
    if bytes.len() > MAX_COMPOSER_INSTALLED {
        return Err(corrupt(input, 0, "larger than any Composer installed.json"));
    }
    let value: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| corrupt(input, e.line(), "not valid JSON"))?;
    let list = match &value {
        serde_json::Value::Array(list) => list,
        serde_json::Value::Object(object) => match object.get("packages") {
            Some(serde_json::Value::Array(list)) => list,
            Some(_) => return Err(corrupt(input, 0, "`packages` is not a list")),
            None => return Ok(Vec::new()),
        },
        _ => return Err(corrupt(input, 0, "neither a JSON object nor a list")),
    };
    list.iter()
        .enumerate()
        .map(|(i, package)| {
            let field = |key: &str| {
                package
                    .get(key)
                    .and_then(serde_json::Value::as_str)
                    .filter(|s| !s.is_empty())
            };
            match (field("name"), field("version")) {
                (Some(name), Some(version)) => Ok(LanguagePackage {
                    ecosystem: LanguageEcosystem::Packagist,
                    name: name.to_owned(),
                    version: version.to_owned(),
                    path: input.to_owned(),
                }),
                _ => Err(corrupt(
                    input,
                    0,
                    format!("package {} has no name and version", i + 1),
                )),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(packages: &[LanguagePackage]) -> Vec<(&str, &str)> {
        packages
            .iter()
            .map(|p| (p.name.as_str(), p.version.as_str()))
            .collect()
    }

    #[test]
    fn both_composer_forms_list_their_packages_as_written() {
        let v2 = br#"{"packages":[{"name":"symfony/yaml","version":"v6.4.0","version_normalized":"6.4.0.0"},
            {"name":"monolog/monolog","version":"3.5.0"}],"dev":true,"dev-package-names":[]}"#;
        let p = parse_composer_installed("app/vendor/composer/installed.json", v2).unwrap();
        assert_eq!(
            rows(&p),
            [("symfony/yaml", "v6.4.0"), ("monolog/monolog", "3.5.0")]
        );
        assert!(
            p.iter()
                .all(|p| p.ecosystem == LanguageEcosystem::Packagist)
        );
        let v1 = br#"[{"name":"psr/log","version":"1.1.4"}]"#;
        let p = parse_composer_installed("vendor/composer/installed.json", v1).unwrap();
        assert_eq!(rows(&p), [("psr/log", "1.1.4")]);
        // Another program's installed.json lists nothing.
        let other = br#"{"installed": ["x"]}"#;
        assert_eq!(
            parse_composer_installed("etc/installed.json", other).unwrap(),
            []
        );
    }

    #[test]
    fn garbage_is_refused_naming_the_file() {
        let oversized = vec![b' '; MAX_COMPOSER_INSTALLED + 1];
        for bad in [
            &b"{"[..],
            b"\xff\xfe",
            b"42",
            br#"{"packages": {"name": "a/b"}}"#,
            br#"{"packages": [{"name": "a/b"}]}"#,
            br#"[{"name": "a/b", "version": 1}]"#,
            br#"["a/b"]"#,
            &oversized,
        ] {
            let err = parse_composer_installed("v/composer/installed.json", bad).unwrap_err();
            assert!(
                err.to_string().contains("v/composer/installed.json"),
                "{err}"
            );
        }
    }
}
