//! The conditions that belong to one target: which offering provides it
//! (within the CPUs its catalog link enables), its CPU family and
//! micro-architecture, and its GPUs. A package or a version matches when
//! **one** of its targets satisfies all of them together; a target list
//! applies them to each target. Every listing takes them from here, so
//! the three lists cannot disagree.

use std::collections::BTreeSet;

use sea_orm::{ConnectionTrait, DbErr, FromQueryResult};
use uuid::Uuid;

use super::BadParameter;
use crate::catalog::{ShortName, resolve_microarchitecture};
use crate::sql::{Conditions, statement};

/// The key of a target's metadata that lists its GPU architectures
/// (`nvidia/cc90`), as the sources write it.
pub const GPU_ARCHITECTURES_KEY: &str = "gpu_arch";

/// Target-level filters of a listing; empty fields do not narrow.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TargetScope {
    /// The offering whose catalog links must provide the target.
    pub offering_uuid: Option<Uuid>,
    /// CPU families, any of them (`x86_64`).
    pub cpu_families: Vec<String>,
    /// Micro-architectures, any of them (`amd/zen4`, or the short `zen4`).
    pub cpu_microarchitectures: Vec<String>,
    /// Targets with (`true`) or without (`false`) a GPU build.
    pub has_gpu: Option<bool>,
    /// A GPU architecture the target is built for (`nvidia/cc90` or `cc90`).
    pub gpu_arch: Option<String>,
}

/// The row whose targets a listing filters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Level {
    /// Package `p` (joined with its catalog).
    Package,
    /// Version `v` of package `p`.
    Version,
    /// Target `t` of version `v` of package `p`.
    Target,
}

impl TargetScope {
    /// Whether any condition is set.
    pub fn is_empty(&self) -> bool {
        self.offering_uuid.is_none() && !self.has_cpu_or_gpu_condition()
    }

    fn has_cpu_or_gpu_condition(&self) -> bool {
        !self.cpu_families.is_empty()
            || !self.cpu_microarchitectures.is_empty()
            || self.has_gpu.is_some()
            || self.gpu_arch.is_some()
    }

    /// Replaces short micro-architecture names (`zen4`) by the full one
    /// stored (`amd/zen4`) when exactly one stored micro-architecture (of
    /// `catalog`, or of any catalog) ends in it. An ambiguous short name is
    /// an error listing the candidates; an unknown one is kept, and matches
    /// nothing.
    pub async fn resolve(
        mut self,
        db: &impl ConnectionTrait,
        catalog: Option<Uuid>,
    ) -> Result<Self, ResolveError> {
        if self.cpu_microarchitectures.is_empty() {
            return Ok(self);
        }
        let known = stored_microarchitectures(db, catalog).await?;
        let known: BTreeSet<&str> = known.iter().map(String::as_str).collect();
        for name in &mut self.cpu_microarchitectures {
            match resolve_microarchitecture(name, &known) {
                ShortName::Known(full) => *name = full.to_owned(),
                ShortName::Unknown => {}
                ShortName::Ambiguous(candidates) => {
                    return Err(ResolveError::Invalid(BadParameter::new(
                        "cpu_microarchitecture",
                        format!(
                            "{name:?} names several micro-architectures; use one of {}",
                            candidates.join(", ")
                        ),
                    )));
                }
            }
        }
        Ok(self)
    }

    /// Adds this scope's conditions for rows of `level` to `conditions`.
    pub(crate) fn push(&self, conditions: &mut Conditions, level: Level) {
        if !self.has_cpu_or_gpu_condition() {
            if let Some(offering) = self.offering_uuid {
                let offering = conditions.bind(offering);
                conditions.push(offered_by(&offering, level));
            }
            return;
        }
        if level == Level::Package {
            // Necessary conditions that the packages' CPU summaries answer
            // from an index, before the per-target check below.
            if !self.cpu_families.is_empty() {
                let p = conditions.bind(self.cpu_families.clone());
                conditions.push(format!("p.cpu_families && {p}::text[]"));
            }
            if !self.cpu_microarchitectures.is_empty() {
                let p = conditions.bind(self.cpu_microarchitectures.clone());
                conditions.push(format!("p.cpu_microarchitectures && {p}::text[]"));
            }
        }
        let on_target = self.target_conditions(conditions).join(" AND ");
        conditions.push(match level {
            Level::Target => on_target,
            Level::Version => format!(
                "EXISTS (SELECT 1 FROM software_targets t WHERE t.version_id = v.id AND {on_target})"
            ),
            Level::Package => format!(
                "EXISTS (SELECT 1 FROM software_versions v JOIN software_targets t \
                 ON t.version_id = v.id WHERE v.package_id = p.id AND {on_target})"
            ),
        });
    }

    /// The conditions on one target `t` of package `p`.
    fn target_conditions(&self, conditions: &mut Conditions) -> Vec<String> {
        let mut clauses = Vec::new();
        if let Some(offering) = self.offering_uuid {
            let offering = conditions.bind(offering);
            clauses.push(format!(
                "EXISTS (SELECT 1 FROM offering_software_catalogs l \
                   JOIN offerings o ON o.id = l.offering_id \
                   WHERE o.uuid = {offering} AND l.catalog_id = p.catalog_id AND {ENABLES_TARGET})"
            ));
        }
        if !self.cpu_families.is_empty() {
            let p = conditions.bind(self.cpu_families.clone());
            clauses.push(format!("t.cpu_family = ANY({p}::text[])"));
        }
        if !self.cpu_microarchitectures.is_empty() {
            let p = conditions.bind(self.cpu_microarchitectures.clone());
            clauses.push(format!("t.cpu_microarchitecture = ANY({p}::text[])"));
        }
        let gpus = format!("coalesce(t.metadata->'{GPU_ARCHITECTURES_KEY}', '[]'::jsonb)");
        match self.has_gpu {
            Some(true) => clauses.push(format!("jsonb_array_length({gpus}) > 0")),
            Some(false) => clauses.push(format!("jsonb_array_length({gpus}) = 0")),
            None => {}
        }
        if let Some(gpu) = &self.gpu_arch {
            let p = conditions.bind(gpu.clone());
            clauses.push(format!(
                "EXISTS (SELECT 1 FROM jsonb_array_elements_text({gpus}) g \
                 WHERE g = {p} OR g LIKE '%/' || {p})"
            ));
        }
        clauses
    }
}

/// Why a scope cannot be resolved.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    /// A parameter is ambiguous; names it.
    #[error(transparent)]
    Invalid(#[from] BadParameter),
    /// The database failed.
    #[error("database: {0}")]
    Db(#[from] DbErr),
}

/// Whether catalog link `l` enables target `t`: each of its CPU lists is
/// empty (every CPU) or holds the target's value.
const ENABLES_TARGET: &str = "(jsonb_array_length(l.enabled_cpu_family) = 0 \
       OR l.enabled_cpu_family @> to_jsonb(t.cpu_family)) \
    AND (jsonb_array_length(l.enabled_cpu_microarchitectures) = 0 \
       OR l.enabled_cpu_microarchitectures @> to_jsonb(t.cpu_microarchitecture))";

/// A link with both lists empty: the whole catalog, targets or not.
const UNRESTRICTED: &str = "(jsonb_array_length(l.enabled_cpu_family) = 0 \
    AND jsonb_array_length(l.enabled_cpu_microarchitectures) = 0)";

/// Whether link `l` provides rows of `level`: an unrestricted link provides
/// every row of its catalog; a restricted one the rows with a target it
/// enables.
pub(crate) fn link_provides(level: Level) -> String {
    let some_target = match level {
        Level::Target => return format!("({UNRESTRICTED} OR ({ENABLES_TARGET}))"),
        Level::Version => "software_targets t WHERE t.version_id = v.id",
        Level::Package => {
            "software_versions v JOIN software_targets t ON t.version_id = v.id \
             WHERE v.package_id = p.id"
        }
    };
    format!("({UNRESTRICTED} OR EXISTS (SELECT 1 FROM {some_target} AND {ENABLES_TARGET}))")
}

/// The condition "offering `offering` (a placeholder) provides the catalog
/// of package `p` and its link provides the row".
fn offered_by(offering: &str, level: Level) -> String {
    format!(
        "EXISTS (SELECT 1 FROM offering_software_catalogs l \
           JOIN offerings o ON o.id = l.offering_id \
           WHERE o.uuid = {offering} AND l.catalog_id = p.catalog_id AND {})",
        link_provides(level)
    )
}

/// The distinct micro-architectures stored, of one catalog or of all.
async fn stored_microarchitectures(
    db: &impl ConnectionTrait,
    catalog: Option<Uuid>,
) -> Result<Vec<String>, DbErr> {
    #[derive(FromQueryResult)]
    struct Row {
        micro: String,
    }
    let sql = "SELECT DISTINCT unnest(p.cpu_microarchitectures) AS micro \
         FROM software_packages p JOIN software_catalogs c ON c.id = p.catalog_id \
         WHERE $1::uuid IS NULL OR c.uuid = $1";
    let rows = Row::find_by_statement(statement(db, sql, [catalog.into()]))
        .all(db)
        .await?;
    Ok(rows.into_iter().map(|row| row.micro).collect())
}
