//! Applying a [`Plan`]: bulk deletes, inserts and updates. Rows travel as
//! one array per column (`INSERT … SELECT … FROM UNNEST($1, $2, …)`), so a
//! statement binds one parameter per column whatever its row count — far
//! below Postgres' bind-parameter limit — and Postgres plans it once. Keys
//! are unique within the snapshot and the catalog is locked, so no statement
//! holds a key twice and no upsert is needed.

use std::collections::HashMap;

use sea_orm::sea_query::ArrayType;
use sea_orm::{ConnectionTrait, DbErr, QueryResult, Statement, Value};

use super::plan::{Plan, VersionRowKey, statement, version_row_key};
use super::progress::Progress;
use crate::snapshot::{
    Fingerprint, PackageKey, PackageRow, PackageSnapshot, TargetKey, TargetRow, VersionKey,
    VersionRow, VersionSnapshot,
};

/// Rows per statement, so that one statement's size stays moderate.
const MAX_ROWS_PER_STATEMENT: usize = 10_000;
/// Ids per `DELETE … WHERE id = ANY($1)`.
const MAX_IDS_PER_DELETE: usize = 20_000;

/// How a column travels: as an array of its own type, or as text that the
/// statement converts (empty text stands for NULL where a column is nullable).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    BigInt,
    Bool,
    Text,
    NullableText,
    Jsonb,
    NullableDate,
    /// A `text[]` column, travelling as a JSON array.
    TextArray,
}

impl Kind {
    fn array_type(self) -> (&'static str, ArrayType) {
        match self {
            Self::BigInt => ("bigint[]", ArrayType::BigInt),
            Self::Bool => ("boolean[]", ArrayType::Bool),
            _ => ("text[]", ArrayType::String),
        }
    }

    fn select(self, name: &str) -> String {
        match self {
            Self::BigInt | Self::Bool | Self::Text => name.to_owned(),
            Self::NullableText => format!("NULLIF({name}, '')"),
            Self::Jsonb => format!("{name}::jsonb"),
            Self::NullableDate => format!("NULLIF({name}, '')::date"),
            Self::TextArray => format!("ARRAY(SELECT jsonb_array_elements_text({name}::jsonb))"),
        }
    }
}

/// One value of a row, in the form its column's array holds.
#[derive(Debug, Clone)]
enum Cell {
    Int(i64),
    Bool(bool),
    Text(String),
}

impl Cell {
    fn json(value: &impl serde::Serialize) -> Self {
        Self::Text(serde_json::to_string(value).unwrap_or_else(|_| "null".to_owned()))
    }

    fn optional(text: &Option<String>) -> Self {
        Self::Text(text.clone().unwrap_or_default())
    }

    fn into_value(self) -> Value {
        match self {
            Self::Int(value) => value.into(),
            Self::Bool(value) => value.into(),
            Self::Text(value) => value.into(),
        }
    }
}

/// A column and how it travels.
type Column = (&'static str, Kind);

const PACKAGE_KEY: [Column; 3] = [
    ("catalog_id", Kind::BigInt),
    ("name", Kind::Text),
    ("is_extension", Kind::Bool),
];
const PACKAGE_FIELDS: [Column; 11] = [
    ("description", Kind::Text),
    ("homepage", Kind::Text),
    ("categories", Kind::Jsonb),
    ("licenses", Kind::Jsonb),
    ("maintainers", Kind::Jsonb),
    ("metadata", Kind::Jsonb),
    ("fingerprint", Kind::BigInt),
    ("tree_fingerprint", Kind::BigInt),
    ("cpu_families", Kind::TextArray),
    ("cpu_microarchitectures", Kind::TextArray),
    ("cpu_targets", Kind::TextArray),
];
const VERSION_KEY: [Column; 3] = [
    ("package_id", Kind::BigInt),
    ("version", Kind::Text),
    ("modulename", Kind::Text),
];
const VERSION_FIELDS: [Column; 8] = [
    ("release_date", Kind::NullableDate),
    ("toolchain_name", Kind::Text),
    ("toolchain_version", Kind::Text),
    ("toolchain_families_compatibility", Kind::Jsonb),
    ("required_modules", Kind::Jsonb),
    ("metadata", Kind::Jsonb),
    ("fingerprint", Kind::BigInt),
    ("tree_fingerprint", Kind::BigInt),
];
const TARGET_KEY: [Column; 3] = [
    ("version_id", Kind::BigInt),
    ("target_type", Kind::Text),
    ("target_name", Kind::Text),
];
const TARGET_FIELDS: [Column; 5] = [
    ("cpu_family", Kind::NullableText),
    ("cpu_microarchitecture", Kind::NullableText),
    ("path", Kind::Text),
    ("metadata", Kind::Jsonb),
    ("fingerprint", Kind::BigInt),
];

/// Writes the plan into catalog `catalog_id`.
pub async fn apply(
    db: &impl ConnectionTrait,
    catalog_id: i64,
    plan: &Plan<'_>,
    progress: &dyn Progress,
) -> Result<(), DbErr> {
    delete(db, "software_packages", &plan.deleted_packages, progress).await?;
    delete(db, "software_versions", &plan.deleted_versions, progress).await?;
    delete(db, "software_targets", &plan.deleted_targets, progress).await?;

    let package_ids = insert_packages(db, catalog_id, &plan.new_packages, progress).await?;
    let changed: Vec<Vec<Cell>> = plan
        .changed_packages
        .iter()
        .map(|(id, package)| with_id(*id, package_fields(package)))
        .collect();
    update(db, "software_packages", &PACKAGE_FIELDS, changed, progress).await?;

    let mut new_versions: Vec<(i64, &VersionKey, &VersionSnapshot)> = Vec::new();
    for (key, package) in &plan.new_packages {
        let package_id = *package_ids
            .get(*key)
            .ok_or_else(|| missing_id("package", &key.name))?;
        new_versions.extend(package.versions.iter().map(|(k, v)| (package_id, k, v)));
    }
    new_versions.extend(plan.new_versions.iter().copied());
    let version_ids = insert_versions(db, &new_versions, progress).await?;
    let changed: Vec<Vec<Cell>> = plan
        .changed_versions
        .iter()
        .map(|(id, version)| with_id(*id, version_fields(version)))
        .collect();
    update(db, "software_versions", &VERSION_FIELDS, changed, progress).await?;

    let mut new_targets: Vec<Vec<Cell>> = Vec::new();
    for (package_id, key, version) in &new_versions {
        let version_id = *version_ids
            .get(&version_row_key(*package_id, key))
            .ok_or_else(|| missing_id("version", &key.version))?;
        new_targets.extend(
            version
                .targets
                .iter()
                .map(|(key, target)| target_insert_row(version_id, key, target)),
        );
    }
    new_targets.extend(
        plan.new_targets
            .iter()
            .map(|(version_id, key, target)| target_insert_row(*version_id, key, target)),
    );
    let columns = [&TARGET_KEY[..], &TARGET_FIELDS[..]].concat();
    insert(
        db,
        "software_targets",
        &columns,
        new_targets,
        None,
        progress,
    )
    .await?;
    let changed: Vec<Vec<Cell>> = plan
        .changed_targets
        .iter()
        .map(|(id, target)| with_id(*id, target_fields(target)))
        .collect();
    update(db, "software_targets", &TARGET_FIELDS, changed, progress).await?;

    if plan.packages.written() + plan.versions.written() > 0 {
        link_parents(db, catalog_id).await?;
    }
    Ok(())
}

async fn insert_packages(
    db: &impl ConnectionTrait,
    catalog_id: i64,
    packages: &[(&PackageKey, &PackageSnapshot)],
    progress: &dyn Progress,
) -> Result<HashMap<PackageKey, i64>, DbErr> {
    let rows = packages
        .iter()
        .map(|(key, package)| {
            let mut row = vec![
                Cell::Int(catalog_id),
                Cell::Text(key.name.clone()),
                Cell::Bool(key.is_extension),
            ];
            row.extend(package_fields(package));
            row
        })
        .collect();
    let columns = [&PACKAGE_KEY[..], &PACKAGE_FIELDS[..]].concat();
    let returned = insert(
        db,
        "software_packages",
        &columns,
        rows,
        Some("id, name, is_extension"),
        progress,
    )
    .await?;
    let mut ids = HashMap::with_capacity(returned.len());
    for row in returned {
        ids.insert(
            PackageKey {
                name: row.try_get("", "name")?,
                is_extension: row.try_get("", "is_extension")?,
            },
            row.try_get("", "id")?,
        );
    }
    Ok(ids)
}

async fn insert_versions(
    db: &impl ConnectionTrait,
    versions: &[(i64, &VersionKey, &VersionSnapshot)],
    progress: &dyn Progress,
) -> Result<HashMap<VersionRowKey, i64>, DbErr> {
    let rows = versions
        .iter()
        .map(|(package_id, key, version)| {
            let mut row = vec![
                Cell::Int(*package_id),
                Cell::Text(key.version.clone()),
                Cell::Text(key.modulename.clone()),
            ];
            row.extend(version_fields(version));
            row
        })
        .collect();
    let columns = [&VERSION_KEY[..], &VERSION_FIELDS[..]].concat();
    let returned = insert(
        db,
        "software_versions",
        &columns,
        rows,
        Some("id, package_id, version, modulename"),
        progress,
    )
    .await?;
    let mut ids = HashMap::with_capacity(returned.len());
    for row in returned {
        ids.insert(
            (
                row.try_get("", "package_id")?,
                row.try_get("", "version")?,
                row.try_get("", "modulename")?,
            ),
            row.try_get("", "id")?,
        );
    }
    Ok(ids)
}

/// A package's own fields, and the summary of its versions' CPU targets
/// that the API's CPU filters read. The summary changes only when a target
/// does, which changes the tree fingerprint, so the package is rewritten.
fn package_fields(package: &PackageSnapshot) -> Vec<Cell> {
    let row: &PackageRow = &package.row;
    let cpus = package.cpu_summary();
    vec![
        Cell::Text(row.description.clone()),
        Cell::Text(row.homepage.clone()),
        Cell::json(&row.categories),
        Cell::json(&row.licenses),
        Cell::json(&row.maintainers),
        Cell::json(&row.metadata),
        Cell::Int(row.fingerprint()),
        Cell::Int(package.tree_fingerprint()),
        Cell::json(&cpus.families),
        Cell::json(&cpus.microarchitectures),
        Cell::json(&cpus.targets),
    ]
}

fn version_fields(version: &VersionSnapshot) -> Vec<Cell> {
    let row: &VersionRow = &version.row;
    vec![
        Cell::Text(
            row.release_date
                .map(|date| date.to_string())
                .unwrap_or_default(),
        ),
        Cell::Text(row.toolchain_name.clone()),
        Cell::Text(row.toolchain_version.clone()),
        Cell::json(&row.toolchain_families_compatibility),
        Cell::json(&row.required_modules),
        Cell::json(&row.metadata),
        Cell::Int(row.fingerprint()),
        Cell::Int(version.tree_fingerprint()),
    ]
}

fn target_fields(target: &TargetRow) -> Vec<Cell> {
    vec![
        Cell::optional(&target.cpu_family),
        Cell::optional(&target.cpu_microarchitecture),
        Cell::Text(target.path.clone()),
        Cell::json(&target.metadata),
        Cell::Int(target.fingerprint()),
    ]
}

fn target_insert_row(version_id: i64, key: &TargetKey, target: &TargetRow) -> Vec<Cell> {
    let mut row = vec![
        Cell::Int(version_id),
        Cell::Text(key.target_type.clone()),
        Cell::Text(key.target_name.clone()),
    ];
    row.extend(target_fields(target));
    row
}

fn with_id(id: i64, fields: Vec<Cell>) -> Vec<Cell> {
    let mut row = Vec::with_capacity(fields.len() + 1);
    row.push(Cell::Int(id));
    row.extend(fields);
    row
}

/// `UNNEST($1::bigint[], $2::text[], …) AS v(a, b, …)` and its arrays.
fn unnest(columns: &[Column], rows: Vec<Vec<Cell>>) -> (String, Vec<Value>) {
    let mut arrays: Vec<Vec<Value>> = columns
        .iter()
        .map(|_| Vec::with_capacity(rows.len()))
        .collect();
    for row in rows {
        for (array, cell) in arrays.iter_mut().zip(row) {
            array.push(cell.into_value());
        }
    }
    let parameters: Vec<String> = columns
        .iter()
        .enumerate()
        .map(|(index, (_, kind))| format!("${}::{}", index + 1, kind.array_type().0))
        .collect();
    let values = columns
        .iter()
        .zip(arrays)
        .map(|((_, kind), values)| Value::Array(kind.array_type().1, Some(Box::new(values))))
        .collect();
    let names: Vec<&str> = columns.iter().map(|(name, _)| *name).collect();
    (
        format!(
            "UNNEST({}) AS v({})",
            parameters.join(", "),
            names.join(", ")
        ),
        values,
    )
}

/// Splits rows into statement-sized chunks, by value.
fn chunks(rows: Vec<Vec<Cell>>) -> impl Iterator<Item = Vec<Vec<Cell>>> {
    let mut rows = rows.into_iter().peekable();
    std::iter::from_fn(move || {
        rows.peek()?;
        Some(rows.by_ref().take(MAX_ROWS_PER_STATEMENT).collect())
    })
}

/// Bulk `INSERT … SELECT … FROM UNNEST(…)`, chunked; returns the
/// `RETURNING` rows when asked.
async fn insert(
    db: &impl ConnectionTrait,
    table: &str,
    columns: &[Column],
    rows: Vec<Vec<Cell>>,
    returning: Option<&str>,
    progress: &dyn Progress,
) -> Result<Vec<QueryResult>, DbErr> {
    let names: Vec<&str> = columns.iter().map(|(name, _)| *name).collect();
    let selects: Vec<String> = columns
        .iter()
        .map(|(name, kind)| kind.select(name))
        .collect();
    let mut returned = Vec::new();
    for chunk in chunks(rows) {
        let count = chunk.len() as u64;
        let (source, values) = unnest(columns, chunk);
        let mut sql = format!(
            "INSERT INTO {table} ({}) SELECT {} FROM {source}",
            names.join(", "),
            selects.join(", ")
        );
        match returning {
            Some(returning) => {
                sql.push_str(" RETURNING ");
                sql.push_str(returning);
                returned.extend(db.query_all_raw(raw(db, sql, values)).await?);
            }
            None => {
                db.execute_raw(raw(db, sql, values)).await?;
            }
        }
        progress.advance(count);
    }
    Ok(returned)
}

/// Bulk `UPDATE … FROM UNNEST(…)` by id, chunked. `modified` moves only for
/// rows whose own fields changed.
async fn update(
    db: &impl ConnectionTrait,
    table: &str,
    fields: &[Column],
    rows: Vec<Vec<Cell>>,
    progress: &dyn Progress,
) -> Result<(), DbErr> {
    let columns = [&[("id", Kind::BigInt)][..], fields].concat();
    let assignments: Vec<String> = fields
        .iter()
        .map(|(name, kind)| format!("{name} = {}", kind.select(&format!("v.{name}"))))
        .collect();
    for chunk in chunks(rows) {
        let count = chunk.len() as u64;
        let (source, values) = unnest(&columns, chunk);
        let sql = format!(
            "UPDATE {table} AS t SET {}, modified = CASE WHEN t.fingerprint <> v.fingerprint \
             THEN now() ELSE t.modified END FROM {source} WHERE t.id = v.id",
            assignments.join(", "),
        );
        db.execute_raw(raw(db, sql, values)).await?;
        progress.advance(count);
    }
    Ok(())
}

async fn delete(
    db: &impl ConnectionTrait,
    table: &str,
    ids: &[i64],
    progress: &dyn Progress,
) -> Result<(), DbErr> {
    for chunk in ids.chunks(MAX_IDS_PER_DELETE) {
        let sql = format!("DELETE FROM {table} WHERE id = ANY($1)");
        db.execute_raw(statement(db, &sql, chunk.to_vec())).await?;
        progress.advance(chunk.len() as u64);
    }
    Ok(())
}

/// Points extensions at their parents, by the names their metadata records:
/// packages at their single parent package, versions at the installation
/// that includes them.
async fn link_parents(db: &impl ConnectionTrait, catalog_id: i64) -> Result<(), DbErr> {
    const PACKAGES: &str = "\
        UPDATE software_packages AS p SET parent_software_id = parent.id \
        FROM software_packages AS parent \
        WHERE p.catalog_id = $1 AND p.is_extension \
          AND parent.catalog_id = $1 AND NOT parent.is_extension \
          AND parent.name = p.metadata->>'parent_software' \
          AND p.parent_software_id IS DISTINCT FROM parent.id";
    const ORPHANED_PACKAGES: &str = "\
        UPDATE software_packages SET parent_software_id = NULL \
        WHERE catalog_id = $1 AND parent_software_id IS NOT NULL \
          AND metadata->>'parent_software' IS NULL";
    const VERSIONS: &str = "\
        UPDATE software_versions AS v SET parent_version_id = parent_version.id \
        FROM software_packages AS p, software_packages AS parent, \
             software_versions AS parent_version \
        WHERE v.package_id = p.id AND p.catalog_id = $1 AND p.is_extension \
          AND parent.catalog_id = $1 AND NOT parent.is_extension \
          AND parent.name = v.metadata->'parent'->>'package' \
          AND parent_version.package_id = parent.id \
          AND parent_version.version = v.metadata->'parent'->>'version' \
          AND parent_version.modulename = v.metadata->'parent'->>'modulename' \
          AND v.parent_version_id IS DISTINCT FROM parent_version.id";
    for sql in [PACKAGES, ORPHANED_PACKAGES, VERSIONS] {
        db.execute_raw(statement(db, sql, catalog_id)).await?;
    }
    Ok(())
}

/// An insert did not return a row it inserted: a broken invariant, reported
/// as an error so that the transaction rolls back.
fn missing_id(level: &str, name: &str) -> DbErr {
    DbErr::Custom(format!(
        "inserted {level} {name:?} was not returned by the database"
    ))
}

fn raw(db: &impl ConnectionTrait, sql: String, values: Vec<Value>) -> Statement {
    Statement::from_sql_and_values(db.get_database_backend(), sql, values)
}
