//! The shrink guard: a load that would take much of a stored catalog away is
//! refused before it writes anything.
//!
//! A well-formed but wrong source (every entry of the wrong type, an empty
//! `packages`, a document the parser cannot use) looks to the loader like a
//! source whose packages are gone: brought in line, the catalog would be
//! emptied. So a load that changes a stored catalog is checked, at each level
//! (packages, versions, targets), against the source's limits:
//!
//! - **empty**: a source that gives no package at all never replaces a
//!   catalog that has packages, whatever the limits say;
//! - **deleted**: the rows the load would delete, as a share of the rows
//!   stored at that level, must not exceed `max_deleted_share`;
//! - **skipped**: the source entries left out, as a share of the source's
//!   entries at that level (kept and skipped), must not exceed
//!   `max_skipped_share`.
//!
//! The operator forces a load past the guard with `allow_shrink`
//! (`--allow-shrink`). The check reads the load's counts only, so a dry run
//! reports what a load would be refused for.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::report::{LevelCounts, LoadReport};
use crate::snapshot::{Level, SnapshotSize};

/// How much of a stored catalog one load may take away.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ShrinkLimits {
    /// Largest share (0 to 1) of the source's entries at one level that may
    /// be skipped.
    pub max_skipped_share: f64,
    /// Largest share (0 to 1) of the stored rows at one level that a load may
    /// delete.
    pub max_deleted_share: f64,
}

impl ShrinkLimits {
    /// The built-in limits: 10 % skipped, 25 % deleted.
    pub const DEFAULT: Self = Self {
        max_skipped_share: 0.10,
        max_deleted_share: 0.25,
    };
}

impl Default for ShrinkLimits {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// Which guard refused a load.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ShrinkGuard {
    /// The source gives no package, and the catalog has some.
    Empty,
    /// Too large a share of the stored rows would be deleted.
    Deleted,
    /// Too large a share of the source's entries was skipped.
    Skipped,
}

impl ShrinkGuard {
    /// The guard's name, as reports and job records give it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Empty => "empty source",
            Self::Deleted => "deleted share",
            Self::Skipped => "skipped share",
        }
    }
}

/// Why a load was refused: the guard, the level and the figures. As JSON it
/// also carries its `share` and its `message`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub struct ShrinkRefusal {
    /// Which guard.
    pub guard: ShrinkGuard,
    /// At which level.
    pub level: Level,
    /// Rows that would be deleted (`empty`, `deleted`) or entries skipped
    /// (`skipped`).
    pub count: u64,
    /// What `count` is a share of: the stored rows (`empty`, `deleted`) or
    /// the source's entries (`skipped`).
    pub total: u64,
    /// The share allowed (0 to 1); for `empty`, the deleted share allowed.
    pub limit: f64,
    /// Source entries skipped at this level (for `empty`: why nothing is left).
    pub skipped: u64,
}

impl ShrinkRefusal {
    /// `count` as a share of `total` (0 to 1).
    pub fn share(&self) -> f64 {
        if self.total == 0 {
            0.0
        } else {
            self.count as f64 / self.total as f64
        }
    }
}

impl Serialize for ShrinkRefusal {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut out = serializer.serialize_struct("ShrinkRefusal", 8)?;
        out.serialize_field("guard", &self.guard)?;
        out.serialize_field("level", &self.level)?;
        out.serialize_field("count", &self.count)?;
        out.serialize_field("total", &self.total)?;
        out.serialize_field("share", &self.share())?;
        out.serialize_field("limit", &self.limit)?;
        out.serialize_field("skipped", &self.skipped)?;
        out.serialize_field("message", &self.to_string())?;
        out.end()
    }
}

impl fmt::Display for ShrinkRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let level = self.level;
        let (count, total) = (thousands(self.count), thousands(self.total));
        match self.guard {
            ShrinkGuard::Empty => {
                write!(
                    f,
                    "refused ({}): the source gives no {level}",
                    self.guard.name()
                )?;
                if self.skipped > 0 {
                    let entries = if self.skipped == 1 {
                        "entry"
                    } else {
                        "entries"
                    };
                    write!(
                        f,
                        " that can be loaded ({} {entries} skipped)",
                        thousands(self.skipped)
                    )?;
                }
                write!(f, " and would delete all {total} stored {level}s")?;
            }
            ShrinkGuard::Deleted => write!(
                f,
                "refused ({}): the source would delete {count} of {total} stored {level}s \
                 ({}, more than the {} allowed)",
                self.guard.name(),
                percent(self.share()),
                percent(self.limit),
            )?,
            ShrinkGuard::Skipped => write!(
                f,
                "refused ({}): {count} of the source's {total} {level} entries were skipped \
                 ({}, more than the {} allowed)",
                self.guard.name(),
                percent(self.share()),
                percent(self.limit),
            )?,
        }
        f.write_str(
            "; nothing was written. Check the source, or force the load with --allow-shrink \
             (a job's allow_shrink)",
        )
    }
}

/// Checks a load of a stored catalog, whose report holds the planned counts,
/// against `limits`; the first guard that refuses it, if any: empty, then
/// deleted, then skipped, each from packages down to targets. Rows the load
/// deletes `by_choice` (extensions, when the source was asked to leave them
/// out) count neither as deleted nor as stored.
pub fn check(
    report: &LoadReport,
    by_choice: SnapshotSize,
    limits: ShrinkLimits,
) -> Option<ShrinkRefusal> {
    let levels = [Level::Package, Level::Version, Level::Target];
    let in_scope = |level: Level| {
        let counts = report.level(level);
        let chosen = match level {
            Level::Package => by_choice.packages,
            Level::Version => by_choice.versions,
            Level::Target => by_choice.targets,
        };
        (
            counts.deleted.saturating_sub(chosen),
            stored(counts).saturating_sub(chosen),
        )
    };
    let packages = report.level(Level::Package);
    let (deleted, stored_packages) = in_scope(Level::Package);
    if stored_packages > 0 && source(packages) == 0 {
        return Some(ShrinkRefusal {
            guard: ShrinkGuard::Empty,
            level: Level::Package,
            count: deleted,
            total: stored_packages,
            limit: limits.max_deleted_share,
            skipped: packages.skipped,
        });
    }
    let deleted = levels.into_iter().find_map(|level| {
        let (deleted, stored) = in_scope(level);
        exceeds(deleted, stored, limits.max_deleted_share).then_some(ShrinkRefusal {
            guard: ShrinkGuard::Deleted,
            level,
            count: deleted,
            total: stored,
            limit: limits.max_deleted_share,
            skipped: report.level(level).skipped,
        })
    });
    deleted.or_else(|| {
        levels.into_iter().find_map(|level| {
            let counts = report.level(level);
            let entries = source(counts) + counts.skipped;
            exceeds(counts.skipped, entries, limits.max_skipped_share).then_some(ShrinkRefusal {
                guard: ShrinkGuard::Skipped,
                level,
                count: counts.skipped,
                total: entries,
                limit: limits.max_skipped_share,
                skipped: counts.skipped,
            })
        })
    })
}

/// Rows stored before the load, at one level of a plan's counts.
fn stored(counts: &LevelCounts) -> u64 {
    counts.unchanged + counts.updated + counts.deleted
}

/// Rows the source gives, at one level of a plan's counts.
fn source(counts: &LevelCounts) -> u64 {
    counts.created + counts.updated + counts.unchanged
}

/// Whether `count` of `total` is more than the share `limit`.
fn exceeds(count: u64, total: u64, limit: f64) -> bool {
    count > 0 && total > 0 && count as f64 > limit * total as f64
}

/// `8931` → `8,931`.
fn thousands(value: u64) -> String {
    let digits = value.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

/// `0.25` → `25 %`, `0.125` → `12.5 %`.
fn percent(share: f64) -> String {
    let value = format!("{:.1}", share * 100.0);
    let value = value.strip_suffix(".0").unwrap_or(&value);
    format!("{value} %")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::CatalogKey;
    use crate::snapshot::SkippedEntry;

    fn report(packages: LevelCounts, versions: LevelCounts) -> LoadReport {
        let mut report = LoadReport::new(
            CatalogKey::new("Spack", "1"),
            crate::sources::spack::KIND,
            vec![],
        );
        report.packages = packages;
        report.versions = versions;
        report
    }

    fn counts(created: u64, unchanged: u64, deleted: u64, skipped: u64) -> LevelCounts {
        LevelCounts {
            created,
            updated: 0,
            unchanged,
            deleted,
            skipped,
        }
    }

    #[test]
    fn a_source_with_no_package_never_empties_a_catalog() {
        let all_deleted = report(counts(0, 0, 8931, 8931), counts(0, 0, 43364, 0));
        let limits = ShrinkLimits {
            max_skipped_share: 1.0,
            max_deleted_share: 1.0,
        };
        let refusal = check(&all_deleted, SnapshotSize::default(), limits).expect("refused");
        assert_eq!(refusal.guard, ShrinkGuard::Empty);
        let message = refusal.to_string();
        assert!(message.contains("all 8,931 stored packages"), "{message}");
        assert!(message.contains("8,931 entries skipped"), "{message}");
        assert!(message.contains("--allow-shrink"), "{message}");

        let one_skipped = report(counts(0, 0, 8931, 1), counts(0, 0, 43364, 0));
        let message = check(&one_skipped, SnapshotSize::default(), limits)
            .expect("refused")
            .to_string();
        assert!(message.contains("(1 entry skipped)"), "{message}");
    }

    #[test]
    fn deletions_beyond_the_share_are_refused_with_the_figures() {
        let refusal = check(
            &report(counts(0, 70, 30, 0), counts(0, 100, 0, 0)),
            SnapshotSize::default(),
            ShrinkLimits::DEFAULT,
        )
        .expect("refused");
        assert_eq!(
            (refusal.guard, refusal.level, refusal.count, refusal.total),
            (ShrinkGuard::Deleted, Level::Package, 30, 100)
        );
        assert!(
            refusal
                .to_string()
                .contains("delete 30 of 100 stored packages (30 %, more than the 25 % allowed)"),
            "{refusal}"
        );
        assert_eq!(
            check(
                &report(counts(0, 75, 25, 0), counts(0, 100, 0, 0)),
                SnapshotSize::default(),
                ShrinkLimits::DEFAULT,
            ),
            None
        );
    }

    #[test]
    fn versions_deleted_beyond_the_share_are_refused() {
        let refusal = check(
            &report(counts(0, 100, 0, 0), counts(0, 60, 40, 0)),
            SnapshotSize::default(),
            ShrinkLimits::DEFAULT,
        )
        .expect("refused");
        assert_eq!(
            (refusal.guard, refusal.level),
            (ShrinkGuard::Deleted, Level::Version)
        );
    }

    #[test]
    fn skipped_entries_count_against_all_the_source_gave() {
        let mut skipped = report(counts(0, 89, 0, 11), counts(0, 100, 0, 0));
        skipped.skipped = vec![
            SkippedEntry {
                level: Level::Package,
                entry: "x".into(),
                reason: "y".into(),
            };
            11
        ];
        let refusal =
            check(&skipped, SnapshotSize::default(), ShrinkLimits::DEFAULT).expect("refused");
        assert_eq!(
            (refusal.guard, refusal.count, refusal.total),
            (ShrinkGuard::Skipped, 11, 100)
        );
        assert!(
            refusal
                .to_string()
                .contains("(11 %, more than the 10 % allowed)")
        );
        assert_eq!(
            check(
                &report(counts(0, 90, 0, 10), counts(0, 100, 0, 0)),
                SnapshotSize::default(),
                ShrinkLimits::DEFAULT,
            ),
            None
        );
    }

    #[test]
    fn an_untouched_or_growing_catalog_passes() {
        assert_eq!(
            check(
                &report(counts(50, 100, 0, 0), counts(0, 0, 0, 0)),
                SnapshotSize::default(),
                ShrinkLimits::DEFAULT,
            ),
            None
        );
        assert_eq!(
            check(
                &report(counts(0, 0, 0, 0), counts(0, 0, 0, 0)),
                SnapshotSize::default(),
                ShrinkLimits::DEFAULT,
            ),
            None
        );
    }

    #[test]
    fn extensions_left_out_by_choice_are_not_counted_as_lost() {
        let without_extensions = report(counts(0, 510, 2695, 0), counts(0, 1000, 3000, 0));
        let chosen = SnapshotSize {
            packages: 2695,
            versions: 3000,
            targets: 0,
        };
        assert_eq!(
            check(&without_extensions, chosen, ShrinkLimits::DEFAULT),
            None
        );
        let refusal = check(
            &without_extensions,
            SnapshotSize::default(),
            ShrinkLimits::DEFAULT,
        )
        .expect("refused when the extensions were lost");
        assert_eq!(refusal.guard, ShrinkGuard::Deleted);
    }

    #[test]
    fn figures_read_like_prose() {
        assert_eq!(thousands(8931), "8,931");
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(thousands(999), "999");
        assert_eq!(percent(1.0), "100 %");
        assert_eq!(percent(0.125), "12.5 %");
    }
}
