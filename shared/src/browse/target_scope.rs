//! The conditions that belong to one target: which offering provides it
//! (within the CPUs its catalog link enables), which partition runs it (its
//! links, and what the partition's CPU and GPU can run), its CPU family and
//! micro-architecture, and its GPUs. A package or a version matches when
//! **one** of its targets satisfies all of them together; a target list
//! applies them to each target. Every listing takes them from here, so
//! the three lists cannot disagree.

use std::collections::BTreeSet;

use sea_orm::{ConnectionTrait, DbErr, FromQueryResult};
use uuid::Uuid;

use super::BadParameter;
use crate::catalog::{CpuTarget, ShortName, resolve_microarchitecture};
use crate::cpu::can_run;
use crate::sql::{Conditions, statement};

/// The key of a target's metadata that lists its GPU architectures
/// (`nvidia/cc90`), as the sources write it.
pub const GPU_ARCHITECTURES_KEY: &str = "gpu_arch";

/// Target-level filters of a listing; empty fields do not narrow.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TargetScope {
    /// The offering whose catalog links must provide the target.
    pub offering_uuid: Option<Uuid>,
    /// The partition that must run the target: one of its links (or its
    /// offering's links without a partition) enables it, and its CPU and
    /// GPU can run it.
    pub partition_uuid: Option<Uuid>,
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

/// A [`TargetScope`] checked against the database: short names resolved,
/// the partition's CPU turned into the micro-architectures it runs.
#[derive(Debug, Clone, Default)]
pub struct ResolvedScope {
    scope: TargetScope,
    partition: Option<PartitionCpu>,
}

/// What a partition runs, as the stored targets name CPUs.
#[derive(Debug, Clone)]
enum PartitionCpu {
    /// No such partition: nothing matches.
    Unknown,
    /// A partition of offering `offering_id`.
    Known {
        id: i64,
        offering_id: i64,
        /// The family of its CPU and the stored micro-architectures that
        /// CPU runs; `None` when the partition does not say its CPU.
        runs: Option<(String, Vec<String>)>,
        /// Its GPU; `None` for CPU-only nodes.
        gpu: Option<String>,
    },
}

impl TargetScope {
    fn has_cpu_or_gpu_condition(&self) -> bool {
        !self.cpu_families.is_empty()
            || !self.cpu_microarchitectures.is_empty()
            || self.has_gpu.is_some()
            || self.gpu_arch.is_some()
            || self.partition_uuid.is_some()
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
    ) -> Result<ResolvedScope, ResolveError> {
        let partition = match self.partition_uuid {
            Some(uuid) => Some(partition_cpu(db, uuid).await?),
            None => None,
        };
        if self.cpu_microarchitectures.is_empty() {
            return Ok(ResolvedScope {
                scope: self,
                partition,
            });
        }
        // Most callers give stored names: an indexed look-up settles them,
        // and only a short name needs every stored micro-architecture.
        let exact = stored_exactly(db, catalog, &self.cpu_microarchitectures).await?;
        if self
            .cpu_microarchitectures
            .iter()
            .all(|name| exact.contains(name))
        {
            return Ok(ResolvedScope {
                scope: self,
                partition,
            });
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
        Ok(ResolvedScope {
            scope: self,
            partition,
        })
    }
}

impl ResolvedScope {
    /// Adds this scope's conditions for rows of `level` to `conditions`.
    pub(crate) fn push(&self, conditions: &mut Conditions, level: Level) {
        let scope = &self.scope;
        if !scope.has_cpu_or_gpu_condition() {
            if let Some(offering) = scope.offering_uuid {
                let offering = conditions.bind(offering);
                conditions.push(offered_by(&offering, level));
            }
            return;
        }
        if level == Level::Package {
            // The packages' CPU summaries (kept by the loader from their
            // targets) answer from an index what needs no more than the CPU
            // of one target; with other conditions they are a necessary
            // first test before the per-target check.
            let cpu_only = scope.offering_uuid.is_none()
                && self.partition.is_none()
                && scope.has_gpu.is_none()
                && scope.gpu_arch.is_none();
            match (
                scope.cpu_families.is_empty(),
                scope.cpu_microarchitectures.is_empty(),
            ) {
                (false, false) if cpu_only => {
                    let targets: Vec<String> = scope
                        .cpu_families
                        .iter()
                        .flat_map(|family| {
                            scope
                                .cpu_microarchitectures
                                .iter()
                                .map(move |micro| format!("{family}/{micro}"))
                        })
                        .collect();
                    let p = conditions.bind(targets);
                    conditions.push(format!("p.cpu_targets && {p}::text[]"));
                    return;
                }
                (families_open, micros_open) => {
                    if !families_open {
                        let p = conditions.bind(scope.cpu_families.clone());
                        conditions.push(format!("p.cpu_families && {p}::text[]"));
                    }
                    if !micros_open {
                        let p = conditions.bind(scope.cpu_microarchitectures.clone());
                        conditions.push(format!("p.cpu_microarchitectures && {p}::text[]"));
                    }
                    if cpu_only {
                        return;
                    }
                }
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
        let scope = &self.scope;
        let mut clauses = Vec::new();
        let gpus = format!("coalesce(t.metadata->'{GPU_ARCHITECTURES_KEY}', '[]'::jsonb)");
        match &self.partition {
            None => {}
            Some(PartitionCpu::Unknown) => clauses.push("false".to_owned()),
            Some(PartitionCpu::Known {
                id,
                offering_id,
                runs,
                gpu,
            }) => {
                let offering = conditions.bind(*offering_id);
                let partition = conditions.bind(*id);
                clauses.push(format!(
                    "EXISTS (SELECT 1 FROM offering_software_catalogs l \
                       WHERE l.offering_id = {offering} \
                         AND (l.partition_id = {partition} OR l.partition_id IS NULL) \
                         AND l.catalog_id = p.catalog_id AND {ENABLES_TARGET})"
                ));
                // A target without a CPU (a source build) runs anywhere.
                if let Some((family, micros)) = runs {
                    let family = conditions.bind(family.clone());
                    let micros = conditions.bind(micros.clone());
                    clauses.push(format!(
                        "(t.cpu_family IS NULL OR (t.cpu_family = {family} \
                           AND t.cpu_microarchitecture = ANY({micros}::text[])))"
                    ));
                }
                // CPU-only builds run on every node; GPU builds where the
                // partition has that GPU.
                match gpu {
                    Some(gpu) => {
                        let gpu = conditions.bind(gpu.clone());
                        clauses.push(format!(
                            "(jsonb_array_length({gpus}) = 0 OR {gpus} @> to_jsonb({gpu}::text))"
                        ));
                    }
                    None => clauses.push(format!("jsonb_array_length({gpus}) = 0")),
                }
            }
        }
        if let Some(offering) = scope.offering_uuid {
            let offering = conditions.bind(offering);
            clauses.push(format!(
                "EXISTS (SELECT 1 FROM offering_software_catalogs l \
                   JOIN offerings o ON o.id = l.offering_id \
                   WHERE o.uuid = {offering} AND l.catalog_id = p.catalog_id AND {ENABLES_TARGET})"
            ));
        }
        if !scope.cpu_families.is_empty() {
            let p = conditions.bind(scope.cpu_families.clone());
            clauses.push(format!("t.cpu_family = ANY({p}::text[])"));
        }
        if !scope.cpu_microarchitectures.is_empty() {
            let p = conditions.bind(scope.cpu_microarchitectures.clone());
            clauses.push(format!("t.cpu_microarchitecture = ANY({p}::text[])"));
        }
        match scope.has_gpu {
            Some(true) => clauses.push(format!("jsonb_array_length({gpus}) > 0")),
            Some(false) => clauses.push(format!("jsonb_array_length({gpus}) = 0")),
            None => {}
        }
        if let Some(gpu) = &scope.gpu_arch {
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

/// What partition `uuid` runs: its stored micro-architectures that its CPU
/// can run (by archspec), and its GPU.
async fn partition_cpu(db: &impl ConnectionTrait, uuid: Uuid) -> Result<PartitionCpu, DbErr> {
    #[derive(FromQueryResult)]
    struct Row {
        id: i64,
        offering_id: i64,
        cpu_arch: String,
        gpu_arch: String,
    }
    let row = Row::find_by_statement(statement(
        db,
        "SELECT id, offering_id, cpu_arch, gpu_arch FROM offering_partitions WHERE uuid = $1",
        [uuid.into()],
    ))
    .one(db)
    .await?;
    let Some(row) = row else {
        return Ok(PartitionCpu::Unknown);
    };
    let runs = match CpuTarget::parse(&row.cpu_arch) {
        Ok(host) => {
            let stored = stored_microarchitectures(db, None).await?;
            let runnable = stored
                .into_iter()
                .filter(|micro| can_run(&host, host.family(), micro))
                .collect();
            Some((host.family().to_owned(), runnable))
        }
        Err(_) => None,
    };
    Ok(PartitionCpu::Known {
        id: row.id,
        offering_id: row.offering_id,
        runs,
        gpu: (!row.gpu_arch.is_empty()).then_some(row.gpu_arch),
    })
}

/// Which of `names` are stored micro-architectures (of `catalog`, or of
/// any catalog), by the packages' indexed CPU summaries.
async fn stored_exactly(
    db: &impl ConnectionTrait,
    catalog: Option<Uuid>,
    names: &[String],
) -> Result<Vec<String>, DbErr> {
    #[derive(FromQueryResult)]
    struct Row {
        micro: String,
    }
    let sql = "SELECT m AS micro FROM unnest($1::text[]) m WHERE EXISTS ( \
         SELECT 1 FROM software_packages p JOIN software_catalogs c ON c.id = p.catalog_id \
         WHERE p.cpu_microarchitectures @> ARRAY[m] AND ($2::uuid IS NULL OR c.uuid = $2))";
    let rows = Row::find_by_statement(statement(db, sql, [names.to_vec().into(), catalog.into()]))
        .all(db)
        .await?;
    Ok(rows.into_iter().map(|row| row.micro).collect())
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
