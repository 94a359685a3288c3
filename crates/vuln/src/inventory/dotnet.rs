//! .NET packages: the NuGet packages an application's `*.deps.json` (written by the .NET SDK
//! next to the application's assemblies) says it was built with.
//!
//! The file's `libraries` object is keyed by `Name/Version`; each entry's `type` tells a NuGet
//! `package` from the application's own `project` (and its referenced projects), which is no
//! NuGet package and is not reported, as Trivy does not (syft reports it too).
//!
//! The parser takes the input's name (its path in the image) and its bytes; garbage yields
//! [`crate::Error::CorruptPackageDb`] naming the input, never a panic.

use crate::inventory::corrupt;
use crate::inventory::language::{LanguageEcosystem, LanguagePackage};

/// How the name of a .NET dependency file ends (`MyApp.deps.json`).
pub const DEPS_JSON_SUFFIX: &str = ".deps.json";

/// The largest `*.deps.json` read: those of the largest ASP.NET applications (hundreds of
/// packages, each with its runtime targets) are a few MiB.
pub const MAX_DEPS_JSON: usize = 32 << 20;

/// The `libraries` entry type of a NuGet package.
const PACKAGE_TYPE: &str = "package";

/// The NuGet packages of a `*.deps.json`'s `libraries`, sorted by key.
///
/// # Errors
///
/// [`crate::Error::CorruptPackageDb`] naming `input` when it is larger than [`MAX_DEPS_JSON`],
/// not a JSON object, has no `libraries` object, or a package key is not `Name/Version`.
pub fn parse_deps_json(input: &str, bytes: &[u8]) -> crate::Result<Vec<LanguagePackage>> {
    if bytes.len() > MAX_DEPS_JSON {
        return Err(corrupt(input, 0, "larger than any .NET deps.json"));
    }
    let value: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| corrupt(input, e.line(), "not valid JSON"))?;
    let libraries = value
        .get("libraries")
        .and_then(serde_json::Value::as_object)
        .ok_or_else(|| corrupt(input, 0, "no `libraries` object"))?;
    let mut packages = Vec::new();
    for (key, library) in libraries {
        if library.get("type").and_then(serde_json::Value::as_str) != Some(PACKAGE_TYPE) {
            continue;
        }
        let Some((name, version)) = key
            .split_once('/')
            .filter(|(name, version)| !name.is_empty() && !version.is_empty())
        else {
            return Err(corrupt(
                input,
                0,
                format!("library {key:?} is not `Name/Version`"),
            ));
        };
        packages.push(LanguagePackage {
            ecosystem: LanguageEcosystem::NuGet,
            name: name.to_owned(),
            version: version.to_owned(),
            path: input.to_owned(),
        });
    }
    Ok(packages)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packages_are_listed_and_projects_are_not() {
        let deps = br#"{"runtimeTarget":{"name":".NETCoreApp,Version=v8.0"},"targets":{},
            "libraries":{
              "MyApp/1.0.0":{"type":"project","serviceable":false,"sha512":""},
              "Newtonsoft.Json/13.0.1":{"type":"package","serviceable":true,
                "path":"newtonsoft.json/13.0.1"},
              "System.Text.Json/8.0.0-rc.1.23419.4":{"type":"package"}}}"#;
        let p = parse_deps_json("app/MyApp.deps.json", deps).unwrap();
        let rows: Vec<(&str, &str)> = p
            .iter()
            .map(|p| (p.name.as_str(), p.version.as_str()))
            .collect();
        assert_eq!(
            rows,
            [
                ("Newtonsoft.Json", "13.0.1"),
                ("System.Text.Json", "8.0.0-rc.1.23419.4")
            ]
        );
        assert!(p.iter().all(|p| p.ecosystem == LanguageEcosystem::NuGet));
    }

    #[test]
    fn garbage_is_refused_naming_the_file() {
        let oversized = vec![b' '; MAX_DEPS_JSON + 1];
        for bad in [
            &b"{"[..],
            b"\xff",
            b"[]",
            br#"{"targets": {}}"#,
            br#"{"libraries": []}"#,
            br#"{"libraries": {"NoVersion": {"type": "package"}}}"#,
            br#"{"libraries": {"/1.0": {"type": "package"}}}"#,
            &oversized,
        ] {
            let err = parse_deps_json("app/x.deps.json", bad).unwrap_err();
            assert!(err.to_string().contains("app/x.deps.json"), "{err}");
        }
    }
}
