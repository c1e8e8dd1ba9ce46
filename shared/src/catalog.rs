//! Domain values parsed once at the edge and trusted after: which catalog,
//! of which kind, and which CPU target.

use std::collections::BTreeSet;
use std::fmt;

use serde::{Deserialize, Serialize};

pub use crate::sources::CatalogKind;

/// The natural key of a catalog: its name and version (`EESSI` + `2023.06`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct CatalogKey {
    /// Catalog name, e.g. `EESSI` or `Spack`.
    pub name: String,
    /// Catalog version, e.g. an EESSI stack version or a Spack snapshot date.
    pub version: String,
}

impl CatalogKey {
    /// Builds a key from its two parts.
    pub fn new(name: impl Into<String>, version: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            version: version.into(),
        }
    }
}

impl fmt::Display for CatalogKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.name, self.version)
    }
}

/// What a catalog holds, in the marketplace's vocabulary (Waldur's
/// `catalog_type`): stored as `software_catalogs.catalog_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CatalogType {
    /// Pre-built binaries for given CPUs (EESSI).
    BinaryRuntime,
    /// Recipes built from source (Spack).
    SourcePackage,
    /// A package manager's channel (conda).
    PackageManager,
    /// A site's environment-module tree (Lmod).
    EnvironmentModule,
}

impl CatalogType {
    /// Every type, in the order the API lists them.
    pub const ALL: [Self; 4] = [
        Self::BinaryRuntime,
        Self::SourcePackage,
        Self::PackageManager,
        Self::EnvironmentModule,
    ];

    /// The stored value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::BinaryRuntime => "binary_runtime",
            Self::SourcePackage => "source_package",
            Self::PackageManager => "package_manager",
            Self::EnvironmentModule => "environment_module",
        }
    }

    /// The type a stored or requested value names.
    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == value)
    }

    /// The name people read.
    pub fn display(self) -> &'static str {
        match self {
            Self::BinaryRuntime => "Binary runtime (EESSI)",
            Self::SourcePackage => "Source package (Spack)",
            Self::PackageManager => "Package manager (conda)",
            Self::EnvironmentModule => "Environment modules (Lmod)",
        }
    }

    /// Whether an offering may restrict the catalog to some CPUs: only
    /// binaries are built per CPU.
    pub fn supports_cpu_target_restrictions(self) -> bool {
        self == Self::BinaryRuntime
    }
}

impl fmt::Display for CatalogType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A CPU target such as `x86_64/amd/zen4`: a family (the first segment) and a
/// micro-architecture (the rest, which may itself hold a vendor segment).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CpuTarget {
    family: String,
    microarchitecture: String,
}

/// Why a string is not a CPU target.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid CPU target {value:?}: expected family/micro-architecture of [A-Za-z0-9_.+-] segments"
)]
pub struct InvalidCpuTarget {
    /// The rejected text.
    pub value: String,
}

impl CpuTarget {
    /// Parses `family/microarchitecture[/…]`. Segments must be non-empty and
    /// plain (no `..`, no spaces), because they end up in filesystem paths.
    pub fn parse(value: &str) -> Result<Self, InvalidCpuTarget> {
        let invalid = || InvalidCpuTarget {
            value: value.to_owned(),
        };
        let (family, microarchitecture) = value.split_once('/').ok_or_else(invalid)?;
        let plain_segment = |segment: &str| {
            !segment.is_empty()
                && segment != "."
                && segment != ".."
                && segment
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '+'))
        };
        if !plain_segment(family) || !microarchitecture.split('/').all(plain_segment) {
            return Err(invalid());
        }
        Ok(Self {
            family: family.to_owned(),
            microarchitecture: microarchitecture.to_owned(),
        })
    }

    /// The CPU family, e.g. `x86_64` or `aarch64`.
    pub fn family(&self) -> &str {
        &self.family
    }

    /// Everything after the family, e.g. `amd/zen4` or `generic`.
    pub fn microarchitecture(&self) -> &str {
        &self.microarchitecture
    }
}

impl fmt::Display for CpuTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.family, self.microarchitecture)
    }
}

/// What a micro-architecture name given by a person stands for among the
/// stored ones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShortName<'a> {
    /// Exactly this stored micro-architecture (`zen4` → `amd/zen4`).
    Known(&'a str),
    /// None is stored under this name.
    Unknown,
    /// Several stored micro-architectures end in it; the candidates, sorted.
    Ambiguous(Vec<&'a str>),
}

/// Resolves `name` among `known` micro-architectures: an exact match, or
/// the only one whose last segment is `name` (`zen3` for `amd/zen3`, as
/// people and Waldur's guide write them).
pub fn resolve_microarchitecture<'a>(name: &str, known: &BTreeSet<&'a str>) -> ShortName<'a> {
    if let Some(exact) = known.get(name) {
        return ShortName::Known(exact);
    }
    let candidates: Vec<&str> = known
        .iter()
        .copied()
        .filter(|micro| micro.rsplit('/').next() == Some(name))
        .collect();
    match candidates.as_slice() {
        [] => ShortName::Unknown,
        [only] => ShortName::Known(only),
        _ => ShortName::Ambiguous(candidates),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_family_from_microarchitecture_at_every_depth() {
        let cases = [
            ("x86_64/generic", "x86_64", "generic"),
            ("aarch64/neoverse_v1", "aarch64", "neoverse_v1"),
            ("x86_64/amd/zen4", "x86_64", "amd/zen4"),
        ];
        for (text, family, micro) in cases {
            let target = CpuTarget::parse(text).expect(text);
            assert_eq!(target.family(), family);
            assert_eq!(target.microarchitecture(), micro);
            assert_eq!(target.to_string(), text);
        }
    }

    #[test]
    fn rejects_what_cannot_be_a_path_segment() {
        for text in [
            "x86_64",
            "/zen4",
            "x86_64/",
            "x86_64/../etc",
            "x86 64/zen",
            "",
        ] {
            assert!(CpuTarget::parse(text).is_err(), "{text:?} was accepted");
        }
    }

    #[test]
    fn short_microarchitecture_names_resolve_when_unique() {
        let known: BTreeSet<&str> = ["generic", "amd/zen3", "amd/zen4", "intel/x", "arm/x"]
            .into_iter()
            .collect();
        assert_eq!(
            resolve_microarchitecture("zen3", &known),
            ShortName::Known("amd/zen3")
        );
        assert_eq!(
            resolve_microarchitecture("amd/zen4", &known),
            ShortName::Known("amd/zen4")
        );
        assert_eq!(
            resolve_microarchitecture("generic", &known),
            ShortName::Known("generic")
        );
        assert_eq!(
            resolve_microarchitecture("zen5", &known),
            ShortName::Unknown
        );
        assert_eq!(
            resolve_microarchitecture("x", &known),
            ShortName::Ambiguous(vec!["arm/x", "intel/x"])
        );
    }
}
