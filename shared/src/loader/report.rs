//! What a load did, level by level, in a form the command prints and the job
//! record stores.

use std::time::Duration;

use serde::Serialize;

use super::guard::ShrinkRefusal;
use crate::catalog::{CatalogKey, CatalogKind};
use crate::snapshot::{Level, SkippedEntry};

/// How a load ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LoadOutcome {
    /// The catalog did not exist and was created.
    Created,
    /// The catalog existed and rows were created, updated or deleted.
    Updated,
    /// The catalog already matched the source; nothing was written.
    Unchanged,
    /// The catalog exists and updating it was not asked for; nothing was written.
    LeftExisting,
    /// A dry run: the counts say what a load would do; nothing was written.
    DryRun,
}

/// Row counts at one level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct LevelCounts {
    /// Rows inserted.
    pub created: u64,
    /// Rows whose fields changed.
    pub updated: u64,
    /// Rows already as the source says.
    pub unchanged: u64,
    /// Rows removed because the source no longer has them.
    pub deleted: u64,
    /// Source entries left out because they could not be understood.
    pub skipped: u64,
}

impl LevelCounts {
    /// Rows written (created, updated or deleted).
    pub fn written(&self) -> u64 {
        self.created + self.updated + self.deleted
    }
}

/// The result of loading one catalog.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LoadReport {
    /// Which catalog.
    pub catalog: CatalogKey,
    /// Of which kind.
    pub kind: CatalogKind,
    /// The catalog's UUID, once it exists.
    pub catalog_uuid: Option<uuid::Uuid>,
    /// How the load ended.
    pub outcome: LoadOutcome,
    /// Package counts.
    pub packages: LevelCounts,
    /// Version counts.
    pub versions: LevelCounts,
    /// Target counts.
    pub targets: LevelCounts,
    /// The source entries that were left out, and why.
    pub skipped: Vec<SkippedEntry>,
    /// A dry run only: the shrink guard that would refuse this load, with
    /// its figures (a load is refused with [`LoadError::Refused`]).
    ///
    /// [`LoadError::Refused`]: super::LoadError::Refused
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refused: Option<ShrinkRefusal>,
    /// Wall time from fetch to commit.
    #[serde(with = "duration_secs")]
    pub elapsed: Duration,
}

impl LoadReport {
    /// An empty report for a catalog, with the skipped entries counted.
    pub fn new(catalog: CatalogKey, kind: CatalogKind, skipped: Vec<SkippedEntry>) -> Self {
        let mut report = Self {
            catalog,
            kind,
            catalog_uuid: None,
            outcome: LoadOutcome::Unchanged,
            packages: LevelCounts::default(),
            versions: LevelCounts::default(),
            targets: LevelCounts::default(),
            skipped: Vec::new(),
            refused: None,
            elapsed: Duration::ZERO,
        };
        for entry in &skipped {
            report.level_mut(entry.level).skipped += 1;
        }
        report.skipped = skipped;
        report
    }

    /// The counts of one level.
    pub fn level(&self, level: Level) -> &LevelCounts {
        match level {
            Level::Package => &self.packages,
            Level::Version => &self.versions,
            Level::Target => &self.targets,
        }
    }

    /// The counts of one level, for updating.
    pub fn level_mut(&mut self, level: Level) -> &mut LevelCounts {
        match level {
            Level::Package => &mut self.packages,
            Level::Version => &mut self.versions,
            Level::Target => &mut self.targets,
        }
    }

    /// Entries skipped at all levels; `skipped` may list fewer (a reload of
    /// unchanged documents lists those its catalog kept).
    pub fn skipped_count(&self) -> u64 {
        self.packages.skipped + self.versions.skipped + self.targets.skipped
    }

    /// Rows written at all levels.
    pub fn rows_written(&self) -> u64 {
        self.packages.written() + self.versions.written() + self.targets.written()
    }
}

mod duration_secs {
    use serde::Serializer;
    use std::time::Duration;

    pub fn serialize<S: Serializer>(duration: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_f64(duration.as_secs_f64())
    }
}
