//! What one source may hold: packages per document, versions per package,
//! targets per version. A source beyond them (a package with a million
//! versions) is cut to the bounds before anything is compared or written,
//! and what was left out is named as skipped, so one hostile or broken
//! entry cannot take the loader's memory and time, nor an answer's size.

use serde::{Deserialize, Serialize};

use crate::snapshot::{Level, SkippedEntry, Transformed};
use crate::version_order::compare_versions;

/// The most a source may hold at each level; generous beside the real
/// catalogs (Spack: 8,931 packages, at most a few hundred versions each).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceBounds {
    /// Packages per source document.
    pub max_packages: usize,
    /// Versions per package; the newest are kept.
    pub max_versions_per_package: usize,
    /// Targets per version.
    pub max_targets_per_version: usize,
}

impl Default for SourceBounds {
    fn default() -> Self {
        Self::DEFAULT
    }
}

impl SourceBounds {
    /// The bounds when the configuration says none.
    pub const DEFAULT: Self = Self {
        max_packages: 200_000,
        max_versions_per_package: 5_000,
        max_targets_per_version: 1_000,
    };

    /// Cuts `transformed` to the bounds, naming what it leaves out: packages
    /// beyond the first by name, each package's oldest versions, each
    /// version's last targets.
    pub fn apply(&self, transformed: &mut Transformed) {
        let packages = &mut transformed.snapshot.packages;
        if packages.len() > self.max_packages {
            let beyond: Vec<_> = packages.keys().skip(self.max_packages).cloned().collect();
            for key in beyond {
                packages.remove(&key);
                transformed.skipped.push(SkippedEntry {
                    level: Level::Package,
                    entry: format!("package {:?}", key.name),
                    reason: format!(
                        "beyond the {} packages a source may hold (loader.max_packages)",
                        self.max_packages
                    ),
                });
            }
        }
        for (key, package) in packages.iter_mut() {
            if package.versions.len() > self.max_versions_per_package {
                let mut newest: Vec<_> = package.versions.keys().cloned().collect();
                newest.sort_by(|a, b| compare_versions(&b.version, &a.version));
                let dropped = newest.split_off(self.max_versions_per_package);
                for version in &dropped {
                    package.versions.remove(version);
                }
                transformed.skipped.push(SkippedEntry {
                    level: Level::Version,
                    entry: format!("package {:?}", key.name),
                    reason: format!(
                        "its {} oldest versions are beyond the {} a package may hold \
                         (loader.max_versions_per_package)",
                        dropped.len(),
                        self.max_versions_per_package
                    ),
                });
            }
            for (version_key, version) in package.versions.iter_mut() {
                if version.targets.len() > self.max_targets_per_version {
                    let beyond: Vec<_> = version
                        .targets
                        .keys()
                        .skip(self.max_targets_per_version)
                        .cloned()
                        .collect();
                    for target in &beyond {
                        version.targets.remove(target);
                    }
                    transformed.skipped.push(SkippedEntry {
                        level: Level::Target,
                        entry: format!("package {:?} version {:?}", key.name, version_key.version),
                        reason: format!(
                            "{} targets are beyond the {} a version may hold \
                             (loader.max_targets_per_version)",
                            beyond.len(),
                            self.max_targets_per_version
                        ),
                    });
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::catalog::CatalogKey;
    use crate::snapshot::{
        CatalogSnapshot, PackageKey, PackageSnapshot, TargetKey, TargetRow, VersionKey,
        VersionSnapshot,
    };

    fn source(packages: usize, versions: usize, targets: usize) -> Transformed {
        let version = VersionSnapshot {
            targets: (0..targets)
                .map(|t| {
                    let key = TargetKey {
                        target_type: "cpu_arch".into(),
                        target_name: format!("x86_64/t{t:04}"),
                    };
                    (key, TargetRow::default())
                })
                .collect(),
            ..VersionSnapshot::default()
        };
        let package = PackageSnapshot {
            versions: (0..versions)
                .map(|v| {
                    let key = VersionKey {
                        version: format!("1.{v}"),
                        modulename: String::new(),
                    };
                    (key, version.clone())
                })
                .collect(),
            ..PackageSnapshot::default()
        };
        Transformed {
            snapshot: CatalogSnapshot {
                key: CatalogKey::new("Test", "1"),
                kind: crate::sources::spack::KIND,
                catalog_type: crate::sources::spack::KIND.catalog_type(),
                source_url: String::new(),
                description: String::new(),
                metadata: serde_json::Value::Null,
                extensions_excluded: false,
                packages: (0..packages)
                    .map(|p| {
                        let key = PackageKey {
                            name: format!("p{p:03}"),
                            is_extension: false,
                        };
                        (key, package.clone())
                    })
                    .collect::<BTreeMap<_, _>>(),
            },
            skipped: Vec::new(),
        }
    }

    #[test]
    fn a_source_beyond_the_bounds_is_cut_and_what_is_left_out_named() {
        let bounds = SourceBounds {
            max_packages: 3,
            max_versions_per_package: 20,
            max_targets_per_version: 2,
        };
        let mut transformed = source(5, 25, 4);
        bounds.apply(&mut transformed);
        let size = transformed.snapshot.size();
        assert_eq!(size.packages, 3);
        assert_eq!(size.versions, 3 * 20);
        assert_eq!(size.targets, 3 * 20 * 2);
        let kept = &transformed
            .snapshot
            .packages
            .values()
            .next()
            .unwrap()
            .versions;
        assert!(kept.keys().any(|k| k.version == "1.24"), "the newest stay");
        assert!(!kept.keys().any(|k| k.version == "1.4"), "the oldest go");
        let levels: Vec<Level> = transformed.skipped.iter().map(|s| s.level).collect();
        assert_eq!(levels.iter().filter(|l| **l == Level::Package).count(), 2);
        assert_eq!(levels.iter().filter(|l| **l == Level::Version).count(), 3);
        assert_eq!(levels.iter().filter(|l| **l == Level::Target).count(), 60);
        assert!(transformed.skipped[0].entry.contains("p003"));
    }

    #[test]
    fn a_source_within_the_bounds_is_untouched() {
        let mut transformed = source(2, 3, 2);
        let before = transformed.clone();
        SourceBounds::default().apply(&mut transformed);
        assert_eq!(transformed, before);
    }
}
