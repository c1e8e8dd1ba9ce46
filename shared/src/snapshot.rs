//! The in-memory form of one catalog, as a source says it should be:
//! packages → versions → targets, keyed by their natural keys.
//!
//! Sources build a [`CatalogSnapshot`]; the loader compares it with what is
//! stored. Each row carries a fingerprint of its own fields and each subtree
//! one of itself and everything below, so an unchanged subtree is recognised
//! by comparing two integers.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use xxhash_rust::xxh3::Xxh3;

use crate::catalog::{CatalogKey, CatalogKind, CatalogType};

/// One catalog as its source describes it.
#[derive(Debug, Clone, PartialEq)]
pub struct CatalogSnapshot {
    /// Name and version of the catalog.
    pub key: CatalogKey,
    /// Which kind of source produced it.
    pub kind: CatalogKind,
    /// What the catalog holds: the source kind's type, or the one a custom
    /// catalog's document names.
    pub catalog_type: CatalogType,
    /// Where the data came from.
    pub source_url: String,
    /// A human description of the catalog.
    pub description: String,
    /// Source-level facts (timestamps, architectures …).
    pub metadata: serde_json::Value,
    /// Packages by natural key.
    pub packages: BTreeMap<PackageKey, PackageSnapshot>,
    /// The source was asked to leave extensions out (EESSI without
    /// extensions): stored extension packages go by choice, so the shrink
    /// guard does not count them as lost.
    pub extensions_excluded: bool,
}

/// A package's identity within a catalog. Names compare case-sensitively, and
/// an extension may share its name with a main package.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct PackageKey {
    /// Package name as published.
    pub name: String,
    /// Whether this is an extension (a Python/R/Perl package inside another).
    pub is_extension: bool,
}

/// A package's own fields.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct PackageRow {
    /// Summary or description text.
    pub description: String,
    /// Main homepage.
    pub homepage: String,
    /// Categories or tags.
    pub categories: Vec<String>,
    /// Licence identifiers.
    pub licenses: Vec<String>,
    /// Maintainer handles.
    pub maintainers: Vec<String>,
    /// Everything else the source says, kept verbatim-ish.
    pub metadata: serde_json::Value,
}

/// A package with its versions.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PackageSnapshot {
    /// The package's own fields.
    pub row: PackageRow,
    /// Versions by natural key.
    pub versions: BTreeMap<VersionKey, VersionSnapshot>,
}

/// A version's identity within its package: the version string and, for
/// module-based sources, the module that provides it (GROMACS 2026.2 with and
/// without CUDA are two versions).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct VersionKey {
    /// Version string as published.
    pub version: String,
    /// Full module name, or empty where the source has no modules.
    pub modulename: String,
}

/// A version's own fields.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct VersionRow {
    /// Release date, where the source has one.
    pub release_date: Option<NaiveDate>,
    /// Toolchain name (`foss`, `GCC` …), empty if none.
    pub toolchain_name: String,
    /// Toolchain version, empty if none.
    pub toolchain_version: String,
    /// Toolchain families this build is compatible with.
    pub toolchain_families_compatibility: Vec<String>,
    /// Modules to load, in order.
    pub required_modules: Vec<String>,
    /// Everything else; for an extension, `parent` names the parent version
    /// as `{package, version, modulename}`.
    pub metadata: serde_json::Value,
}

/// A version with its targets.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct VersionSnapshot {
    /// The version's own fields.
    pub row: VersionRow,
    /// Targets by natural key.
    pub targets: BTreeMap<TargetKey, TargetRow>,
}

/// A target's identity within its version.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct TargetKey {
    /// Kind of target: `cpu_arch`, `build_variant`, `platform` …
    pub target_type: String,
    /// Name within its kind: `x86_64/amd/zen4`, `default` …
    pub target_name: String,
}

/// A target's own fields.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct TargetRow {
    /// CPU family, for CPU targets.
    pub cpu_family: Option<String>,
    /// CPU micro-architecture, for CPU targets.
    pub cpu_microarchitecture: Option<String>,
    /// Install path, where there is one.
    pub path: String,
    /// Everything else (GPU architectures …).
    pub metadata: serde_json::Value,
}

/// A package's CPU targets in brief, kept on the package row so that CPU
/// filters need no join over targets.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CpuSummary {
    /// `x86_64`, `aarch64` …
    pub families: BTreeSet<String>,
    /// `amd/zen4`, `generic` …
    pub microarchitectures: BTreeSet<String>,
    /// `x86_64/amd/zen4` …
    pub targets: BTreeSet<String>,
}

/// The three levels of a catalog, for counting and reporting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// Packages.
    Package,
    /// Versions.
    Version,
    /// Targets.
    Target,
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Package => "package",
            Self::Version => "version",
            Self::Target => "target",
        })
    }
}

/// A source entry that could not be understood and was left out; the rest of
/// the catalog loads without it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkippedEntry {
    /// The level the entry would have produced.
    pub level: Level,
    /// Which entry, in the source's own terms.
    pub entry: String,
    /// Why it was left out.
    pub reason: String,
}

/// What a source's transform produces: the snapshot and what it left out.
#[derive(Debug, Clone, PartialEq)]
pub struct Transformed {
    /// The catalog as the source describes it.
    pub snapshot: CatalogSnapshot,
    /// Entries that could not be understood.
    pub skipped: Vec<SkippedEntry>,
}

/// Row counts of a snapshot at each level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SnapshotSize {
    /// Number of packages.
    pub packages: u64,
    /// Number of versions.
    pub versions: u64,
    /// Number of targets.
    pub targets: u64,
}

impl CatalogSnapshot {
    /// Counts the rows at each level.
    pub fn size(&self) -> SnapshotSize {
        let mut size = SnapshotSize {
            packages: self.packages.len() as u64,
            ..SnapshotSize::default()
        };
        for package in self.packages.values() {
            size.versions += package.versions.len() as u64;
            size.targets += package
                .versions
                .values()
                .map(|v| v.targets.len() as u64)
                .sum::<u64>();
        }
        size
    }

    /// Adds a package, merging it into one already present under the same key
    /// (see [`insert_package`]).
    pub fn insert_package(&mut self, key: PackageKey, package: PackageSnapshot) {
        insert_package(&mut self.packages, key, package);
    }
}

/// Adds a package to a map, merging it into one already present under the
/// same key: the first row wins and versions are merged
/// (see [`PackageSnapshot::merge`]).
pub fn insert_package(
    packages: &mut BTreeMap<PackageKey, PackageSnapshot>,
    key: PackageKey,
    package: PackageSnapshot,
) {
    match packages.entry(key) {
        std::collections::btree_map::Entry::Vacant(slot) => {
            slot.insert(package);
        }
        std::collections::btree_map::Entry::Occupied(mut slot) => slot.get_mut().merge(package),
    }
}

impl PackageSnapshot {
    /// Folds `other` into `self`: versions `self` lacks are added, versions
    /// both hold gain the targets only `other` has.
    pub fn merge(&mut self, other: PackageSnapshot) {
        for (key, version) in other.versions {
            self.insert_version(key, version);
        }
    }

    /// Adds a version, merging targets into one already present under the same key.
    pub fn insert_version(&mut self, key: VersionKey, version: VersionSnapshot) {
        match self.versions.entry(key) {
            std::collections::btree_map::Entry::Vacant(slot) => {
                slot.insert(version);
            }
            std::collections::btree_map::Entry::Occupied(mut slot) => {
                for (target_key, target) in version.targets {
                    slot.get_mut().targets.entry(target_key).or_insert(target);
                }
            }
        }
    }

    /// The distinct CPU families, micro-architectures and full targets
    /// among this package's versions' targets, sorted.
    pub fn cpu_summary(&self) -> CpuSummary {
        let mut summary = CpuSummary::default();
        let targets = self
            .versions
            .values()
            .flat_map(|version| version.targets.values());
        for target in targets {
            if let Some(family) = &target.cpu_family {
                summary.families.insert(family.clone());
            }
            if let Some(micro) = &target.cpu_microarchitecture {
                summary.microarchitectures.insert(micro.clone());
            }
            if let (Some(family), Some(micro)) = (&target.cpu_family, &target.cpu_microarchitecture)
            {
                summary.targets.insert(format!("{family}/{micro}"));
            }
        }
        summary
    }

    /// Fingerprint of this package and everything below it.
    pub fn tree_fingerprint(&self) -> i64 {
        let mut hasher = Xxh3::new();
        hasher.update(&self.row.fingerprint().to_le_bytes());
        for (key, version) in &self.versions {
            feed(&mut hasher, key);
            hasher.update(&version.tree_fingerprint().to_le_bytes());
        }
        hasher.digest() as i64
    }
}

impl VersionSnapshot {
    /// Fingerprint of this version and its targets.
    pub fn tree_fingerprint(&self) -> i64 {
        let mut hasher = Xxh3::new();
        hasher.update(&self.row.fingerprint().to_le_bytes());
        for (key, target) in &self.targets {
            feed(&mut hasher, key);
            hasher.update(&target.fingerprint().to_le_bytes());
        }
        hasher.digest() as i64
    }
}

/// A stable 64-bit hash of a row's fields, stored beside the row so that a
/// later load can tell whether the row changed without reading it back.
pub trait Fingerprint: Serialize {
    /// The fingerprint, as Postgres' BIGINT holds it.
    fn fingerprint(&self) -> i64 {
        let mut hasher = Xxh3::new();
        feed(&mut hasher, self);
        hasher.digest() as i64
    }
}

impl Fingerprint for PackageRow {}
impl Fingerprint for VersionRow {}
impl Fingerprint for TargetRow {}

/// Hashes a value's canonical JSON form (struct fields in declaration order,
/// map keys sorted), which is stable across runs and builds.
fn feed(hasher: &mut Xxh3, value: &(impl Serialize + ?Sized)) {
    struct HashWriter<'a>(&'a mut Xxh3);
    impl std::io::Write for HashWriter<'_> {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.update(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    // Serialising these plain structs into a hasher cannot fail: no I/O
    // errors and no maps with non-string keys.
    let _ = serde_json::to_writer(HashWriter(hasher), value);
    hasher.update(&[0]);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(name: &str) -> (TargetKey, TargetRow) {
        (
            TargetKey {
                target_type: "cpu_arch".into(),
                target_name: name.into(),
            },
            TargetRow::default(),
        )
    }

    #[test]
    fn fingerprints_follow_content() {
        let mut a = VersionSnapshot::default();
        a.targets.extend([target("x86_64/generic")]);
        let mut b = a.clone();
        assert_eq!(a.tree_fingerprint(), b.tree_fingerprint());
        b.targets.extend([target("aarch64/generic")]);
        assert_ne!(a.tree_fingerprint(), b.tree_fingerprint());
        assert_eq!(a.row.fingerprint(), b.row.fingerprint());
        b.row.toolchain_name = "foss".into();
        assert_ne!(a.row.fingerprint(), b.row.fingerprint());
    }

    #[test]
    fn merging_a_duplicate_version_unions_its_targets() {
        let key = VersionKey {
            version: "1.0".into(),
            modulename: "X/1.0".into(),
        };
        let mut package = PackageSnapshot::default();
        let mut first = VersionSnapshot::default();
        first.targets.extend([target("x86_64/generic")]);
        let mut second = VersionSnapshot::default();
        second
            .targets
            .extend([target("x86_64/generic"), target("aarch64/generic")]);
        package.insert_version(key.clone(), first);
        package.insert_version(key.clone(), second);
        assert_eq!(package.versions.len(), 1);
        assert_eq!(package.versions[&key].targets.len(), 2);
    }
}
