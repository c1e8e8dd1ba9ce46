//! What one source may hold: packages per document, versions per package,
//! targets per version. A source beyond them (a package with a million
//! versions) is cut to the bounds before anything is compared or written,
//! and what was left out is named as skipped, so one hostile or broken
//! entry cannot take the loader's memory and time, nor an answer's size.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::snapshot::{Level, SkippedEntry, Transformed, VersionKey};
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

    /// Keeps the newest `max_versions_per_package` of one package's version
    /// entries, in their order, and names what it leaves out. Sources call
    /// it on the entries as the document gives them, before they are built
    /// into rows, so that a package with a million versions costs a load no
    /// more than one at the bound. Entries whose version cannot be read
    /// (`version` gives `None`) stay: each is skipped on its own later.
    pub fn keep_newest_versions<T>(
        &self,
        package: &str,
        entries: &mut Vec<T>,
        version: impl Fn(&T) -> Option<&str>,
    ) -> Option<SkippedEntry> {
        let max = self.max_versions_per_package;
        if entries.len() <= max {
            return None;
        }
        let mut readable: Vec<(usize, &str)> = entries
            .iter()
            .enumerate()
            .filter_map(|(index, entry)| version(entry).map(|version| (index, version)))
            .collect();
        if readable.len() <= max {
            return None;
        }
        // Newest first, and among equal versions the first given: a total
        // order, so the same document always keeps the same entries.
        let newest_first =
            |a: &(usize, &str), b: &(usize, &str)| compare_versions(b.1, a.1).then(a.0.cmp(&b.0));
        if max > 0 {
            readable.select_nth_unstable_by(max - 1, newest_first);
        }
        let mut dropped = vec![false; entries.len()];
        for (index, _) in &readable[max..] {
            dropped[*index] = true;
        }
        let count = readable.len() - max;
        let mut index = 0;
        entries.retain(|_| {
            index += 1;
            !dropped[index - 1]
        });
        Some(SkippedEntry {
            level: Level::Version,
            entry: format!("package {package:?}"),
            reason: format!(
                "its {count} oldest versions are beyond the {max} a package may hold \
                 (loader.max_versions_per_package)"
            ),
        })
    }

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
            let mut versions: Vec<&VersionKey> = package.versions.keys().collect();
            if let Some(skipped) =
                self.keep_newest_versions(&key.name, &mut versions, |key| Some(&key.version))
            {
                let kept: BTreeSet<VersionKey> = versions.into_iter().cloned().collect();
                package.versions.retain(|version, _| kept.contains(version));
                transformed.skipped.push(skipped);
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
    fn the_newest_entries_stay_in_their_order_and_unreadable_ones_stay() {
        let bounds = SourceBounds {
            max_versions_per_package: 3,
            ..SourceBounds::DEFAULT
        };
        fn version<'a>(entry: &'a &str) -> Option<&'a str> {
            (!entry.starts_with('?')).then_some(*entry)
        }
        let mut entries = vec!["1.10", "?bad", "1.9", "2.0rc1", "1.2", "2.0", "1.10"];
        let skipped = bounds
            .keep_newest_versions("p", &mut entries, version)
            .expect("six readable entries are beyond three");
        // 2.0 > 2.0rc1 > 1.10 (first copy) > 1.10 (second) > 1.9 > 1.2.
        assert_eq!(entries, ["1.10", "?bad", "2.0rc1", "2.0"]);
        assert_eq!(skipped.level, Level::Version);
        assert_eq!(skipped.entry, "package \"p\"");
        assert!(
            skipped.reason.starts_with("its 3 oldest versions"),
            "{}",
            skipped.reason
        );

        let mut within = vec!["1", "2", "3"];
        assert!(
            bounds
                .keep_newest_versions("p", &mut within, version)
                .is_none()
        );
        assert_eq!(within, ["1", "2", "3"]);

        let none = SourceBounds {
            max_versions_per_package: 0,
            ..SourceBounds::DEFAULT
        };
        let mut entries = vec!["1", "?bad"];
        assert!(
            none.keep_newest_versions("p", &mut entries, version)
                .is_some()
        );
        assert_eq!(entries, ["?bad"]);
    }

    #[test]
    fn a_source_within_the_bounds_is_untouched() {
        let mut transformed = source(2, 3, 2);
        let before = transformed.clone();
        SourceBounds::default().apply(&mut transformed);
        assert_eq!(transformed, before);
    }
}
