//! Applying a [`Plan`]: bulk deletes, inserts and updates, chunked so that no
//! statement exceeds Postgres' bind-parameter limit. Keys are unique within
//! the snapshot and the catalog is locked, so no statement holds a key twice
//! and no upsert is needed.

use std::collections::HashMap;

use sea_orm::{ConnectionTrait, DbErr, QueryResult, Statement, Value};

use super::plan::{Plan, VersionRowKey, statement, version_row_key};
use super::progress::Progress;
use crate::snapshot::{
    Fingerprint, PackageKey, PackageRow, PackageSnapshot, TargetKey, TargetRow, VersionKey,
    VersionRow, VersionSnapshot,
};

/// Postgres accepts at most this many bind parameters in one statement.
const MAX_BIND_PARAMETERS: usize = 65_535;
/// Rows per statement, so one statement's size stays moderate.
const MAX_ROWS_PER_STATEMENT: usize = 4_000;
/// Ids per `DELETE … WHERE id = ANY($1)`.
const MAX_IDS_PER_DELETE: usize = 20_000;

/// A column and its Postgres type, for casts in `VALUES` lists.
type Column = (&'static str, &'static str);

const PACKAGE_KEY: [Column; 3] = [
    ("catalog_id", "bigint"),
    ("name", "text"),
    ("is_extension", "boolean"),
];
const PACKAGE_FIELDS: [Column; 8] = [
    ("description", "text"),
    ("homepage", "text"),
    ("categories", "jsonb"),
    ("licenses", "jsonb"),
    ("maintainers", "jsonb"),
    ("metadata", "jsonb"),
    ("fingerprint", "bigint"),
    ("tree_fingerprint", "bigint"),
];
const VERSION_KEY: [Column; 3] = [
    ("package_id", "bigint"),
    ("version", "text"),
    ("modulename", "text"),
];
const VERSION_FIELDS: [Column; 8] = [
    ("release_date", "date"),
    ("toolchain_name", "text"),
    ("toolchain_version", "text"),
    ("toolchain_families_compatibility", "jsonb"),
    ("required_modules", "jsonb"),
    ("metadata", "jsonb"),
    ("fingerprint", "bigint"),
    ("tree_fingerprint", "bigint"),
];
const TARGET_KEY: [Column; 3] = [
    ("version_id", "bigint"),
    ("target_type", "text"),
    ("target_name", "text"),
];
const TARGET_FIELDS: [Column; 5] = [
    ("cpu_family", "text"),
    ("cpu_microarchitecture", "text"),
    ("path", "text"),
    ("metadata", "jsonb"),
    ("fingerprint", "bigint"),
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
    let changed: Vec<Vec<Value>> = plan
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
    let changed: Vec<Vec<Value>> = plan
        .changed_versions
        .iter()
        .map(|(id, version)| with_id(*id, version_fields(version)))
        .collect();
    update(db, "software_versions", &VERSION_FIELDS, changed, progress).await?;

    let mut new_targets: Vec<Vec<Value>> = Vec::new();
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
    let changed: Vec<Vec<Value>> = plan
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
                catalog_id.into(),
                key.name.clone().into(),
                key.is_extension.into(),
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
                (*package_id).into(),
                key.version.clone().into(),
                key.modulename.clone().into(),
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

fn package_fields(package: &PackageSnapshot) -> Vec<Value> {
    let row: &PackageRow = &package.row;
    vec![
        row.description.clone().into(),
        row.homepage.clone().into(),
        json(&row.categories),
        json(&row.licenses),
        json(&row.maintainers),
        row.metadata.clone().into(),
        row.fingerprint().into(),
        package.tree_fingerprint().into(),
    ]
}

fn version_fields(version: &VersionSnapshot) -> Vec<Value> {
    let row: &VersionRow = &version.row;
    vec![
        row.release_date.into(),
        row.toolchain_name.clone().into(),
        row.toolchain_version.clone().into(),
        json(&row.toolchain_families_compatibility),
        json(&row.required_modules),
        row.metadata.clone().into(),
        row.fingerprint().into(),
        version.tree_fingerprint().into(),
    ]
}

fn target_fields(target: &TargetRow) -> Vec<Value> {
    vec![
        target.cpu_family.clone().into(),
        target.cpu_microarchitecture.clone().into(),
        target.path.clone().into(),
        target.metadata.clone().into(),
        target.fingerprint().into(),
    ]
}

fn target_insert_row(version_id: i64, key: &TargetKey, target: &TargetRow) -> Vec<Value> {
    let mut row = vec![
        version_id.into(),
        key.target_type.clone().into(),
        key.target_name.clone().into(),
    ];
    row.extend(target_fields(target));
    row
}

fn with_id(id: i64, fields: Vec<Value>) -> Vec<Value> {
    let mut row = Vec::with_capacity(fields.len() + 1);
    row.push(id.into());
    row.extend(fields);
    row
}

fn json(strings: &[String]) -> Value {
    serde_json::Value::from(strings.to_vec()).into()
}

/// Rows per statement for a table of `columns` columns.
fn rows_per_statement(columns: usize) -> usize {
    (MAX_BIND_PARAMETERS / columns).min(MAX_ROWS_PER_STATEMENT)
}

/// `($1::t1, $2::t2, …), (…)` for `rows` rows, numbering from `$1`.
fn values_list(columns: &[Column], rows: usize) -> String {
    let mut sql = String::with_capacity(rows * columns.len() * 12);
    let mut parameter = 0;
    for row in 0..rows {
        sql.push_str(if row == 0 { "(" } else { ", (" });
        for (index, (_, pg_type)) in columns.iter().enumerate() {
            parameter += 1;
            if index > 0 {
                sql.push_str(", ");
            }
            sql.push_str(&format!("${parameter}::{pg_type}"));
        }
        sql.push(')');
    }
    sql
}

/// Multi-row `INSERT`, chunked; returns the `RETURNING` rows when asked.
async fn insert(
    db: &impl ConnectionTrait,
    table: &str,
    columns: &[Column],
    rows: Vec<Vec<Value>>,
    returning: Option<&str>,
    progress: &dyn Progress,
) -> Result<Vec<QueryResult>, DbErr> {
    let names: Vec<&str> = columns.iter().map(|(name, _)| *name).collect();
    let mut returned = Vec::new();
    for chunk in rows.chunks(rows_per_statement(columns.len())) {
        let mut sql = format!(
            "INSERT INTO {table} ({}) VALUES {}",
            names.join(", "),
            values_list(columns, chunk.len())
        );
        let values: Vec<Value> = chunk.iter().flatten().cloned().collect();
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
        progress.advance(chunk.len() as u64);
    }
    Ok(returned)
}

/// Bulk `UPDATE … FROM (VALUES …)` by id, chunked. `modified` moves only for
/// rows whose own fields changed.
async fn update(
    db: &impl ConnectionTrait,
    table: &str,
    fields: &[Column],
    rows: Vec<Vec<Value>>,
    progress: &dyn Progress,
) -> Result<(), DbErr> {
    let columns = [&[("id", "bigint")][..], fields].concat();
    let names: Vec<&str> = columns.iter().map(|(name, _)| *name).collect();
    let assignments: Vec<String> = fields
        .iter()
        .map(|(name, _)| format!("{name} = v.{name}"))
        .collect();
    for chunk in rows.chunks(rows_per_statement(columns.len())) {
        let sql = format!(
            "UPDATE {table} AS t SET {}, modified = CASE WHEN t.fingerprint <> v.fingerprint \
             THEN now() ELSE t.modified END FROM (VALUES {}) AS v({}) WHERE t.id = v.id",
            assignments.join(", "),
            values_list(&columns, chunk.len()),
            names.join(", ")
        );
        let values: Vec<Value> = chunk.iter().flatten().cloned().collect();
        db.execute_raw(raw(db, sql, values)).await?;
        progress.advance(chunk.len() as u64);
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
