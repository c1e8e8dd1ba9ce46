//! Applying a [`Plan`]: bulk deletes, inserts and updates.
//!
//! New rows go in by `COPY`, streamed: each chunk is sent as soon as it is
//! encoded, so the server stores rows while the client encodes the next
//! ones. Their ids are drawn from the tables' sequences first, so that
//! versions and targets carry their parents' ids without a round trip per
//! level. Updates travel as one array per column (`UPDATE … FROM
//! UNNEST($1, $2, …)`): one parameter per column whatever the row count, far
//! below Postgres' bind-parameter limit. Keys are unique within the snapshot
//! and the catalog is locked, so no statement holds a key twice and no
//! upsert is needed.

use std::collections::HashMap;

use sea_orm::sea_query::ArrayType;
use sea_orm::{ConnectionTrait, DbErr, Statement, Value};

use super::identity;
use super::plan::{Plan, Stored, statement};
use super::progress::Progress;
use super::transaction::LoadTransaction;
use crate::snapshot::{
    Fingerprint, PackageRow, PackageSnapshot, TargetKey, TargetRow, VersionKey, VersionRow,
    VersionSnapshot,
};

/// Rows per `UPDATE`, so that one statement's size stays moderate.
const MAX_ROWS_PER_STATEMENT: usize = 10_000;
/// Bytes of `COPY` data encoded before they are sent.
const COPY_CHUNK_BYTES: usize = 256 * 1024;
/// Ids per `DELETE … WHERE id = ANY($1)`.
const MAX_IDS_PER_DELETE: usize = 20_000;

/// How a column travels: in an `UPDATE`, as an array of its own type or as
/// text that the statement converts; in `COPY`, as a text field. Empty text
/// stands for NULL where a column is nullable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    BigInt,
    Bool,
    Uuid,
    Text,
    NullableText,
    Jsonb,
    NullableDate,
    /// A `text[]` column: a JSON array in an `UPDATE`, an array literal in
    /// `COPY`.
    TextArray,
}

impl Kind {
    fn array_type(self) -> (&'static str, ArrayType) {
        match self {
            Self::BigInt => ("bigint[]", ArrayType::BigInt),
            Self::Bool => ("boolean[]", ArrayType::Bool),
            Self::Uuid => ("uuid[]", ArrayType::Uuid),
            _ => ("text[]", ArrayType::String),
        }
    }

    fn select(self, name: &str) -> String {
        match self {
            Self::BigInt | Self::Bool | Self::Uuid | Self::Text => name.to_owned(),
            Self::NullableText => format!("NULLIF({name}, '')"),
            Self::Jsonb => format!("{name}::jsonb"),
            Self::NullableDate => format!("NULLIF({name}, '')::date"),
            Self::TextArray => format!("ARRAY(SELECT jsonb_array_elements_text({name}::jsonb))"),
        }
    }
}

/// One value of a row.
#[derive(Debug, Clone)]
enum Cell {
    Int(i64),
    Bool(bool),
    Uuid(uuid::Uuid),
    Text(String),
    /// The elements of a `text[]` column.
    List(Vec<String>),
    /// No value (only in rows that go in by `COPY`).
    Null,
}

impl Cell {
    fn json(value: &impl serde::Serialize) -> Self {
        Self::Text(serde_json::to_string(value).unwrap_or_else(|_| "null".to_owned()))
    }

    fn optional(text: &Option<String>) -> Self {
        Self::Text(text.clone().unwrap_or_default())
    }

    fn list<'a>(items: impl IntoIterator<Item = &'a String>) -> Self {
        Self::List(items.into_iter().cloned().collect())
    }

    /// The value as its column's array holds it in `UNNEST`.
    fn into_value(self) -> Value {
        match self {
            Self::Int(value) => value.into(),
            Self::Bool(value) => value.into(),
            Self::Uuid(value) => value.into(),
            Self::Text(value) => value.into(),
            Self::List(items) => Self::json(&items).into_value(),
            Self::Null => Value::BigInt(None),
        }
    }

    /// Appends the value as a field of `COPY`'s text format.
    fn encode(&self, kind: Kind, out: &mut Vec<u8>) {
        use std::io::Write;
        match self {
            Self::Int(value) => {
                let _ = write!(out, "{value}");
            }
            Self::Bool(value) => out.push(if *value { b't' } else { b'f' }),
            Self::Uuid(value) => {
                out.extend_from_slice(
                    value
                        .hyphenated()
                        .encode_lower(&mut uuid::Uuid::encode_buffer())
                        .as_bytes(),
                );
            }
            Self::Null => out.extend_from_slice(b"\\N"),
            Self::Text(text)
                if text.is_empty() && matches!(kind, Kind::NullableText | Kind::NullableDate) =>
            {
                out.extend_from_slice(b"\\N");
            }
            Self::Text(text) => copy_escape(text, out),
            Self::List(items) => {
                let mut literal = String::from("{");
                for (index, item) in items.iter().enumerate() {
                    if index > 0 {
                        literal.push(',');
                    }
                    literal.push('"');
                    for character in item.chars() {
                        if matches!(character, '"' | '\\') {
                            literal.push('\\');
                        }
                        literal.push(character);
                    }
                    literal.push('"');
                }
                literal.push('}');
                copy_escape(&literal, out);
            }
        }
    }
}

/// Escapes text for a field of `COPY`'s text format.
fn copy_escape(text: &str, out: &mut Vec<u8>) {
    for &byte in text.as_bytes() {
        match byte {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            _ => out.push(byte),
        }
    }
}

/// A column and how it travels.
type Column = (&'static str, Kind);

const ID: Column = ("id", Kind::BigInt);
/// Drawn by the loader rather than by the column's default: random UUIDs
/// cost the server about a microsecond per row, the client far less.
const UUID: Column = ("uuid", Kind::Uuid);
const PARENT_VERSION: Column = ("parent_version_id", Kind::BigInt);

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

/// Writes the plan into `catalog`. New rows get UUIDs derived from their
/// natural keys ([`identity`](super::identity)).
pub async fn apply(
    db: &LoadTransaction,
    catalog: Stored,
    plan: &Plan<'_>,
    progress: &dyn Progress,
) -> Result<(), DbErr> {
    delete(db, "software_packages", &plan.deleted_packages, progress).await?;
    delete(db, "software_versions", &plan.deleted_versions, progress).await?;
    delete(db, "software_targets", &plan.deleted_targets, progress).await?;

    let catalog_id = catalog.id;
    let package_ids = allocate_ids(db, "software_packages", plan.new_packages.len()).await?;
    let new_packages: Vec<Stored> = plan
        .new_packages
        .iter()
        .zip(&package_ids)
        .map(|((key, _), id)| Stored {
            id: *id,
            uuid: identity::package_uuid(&catalog.uuid, key),
        })
        .collect();
    let mut parents = NewParents::default();
    for ((key, _), stored) in plan.new_packages.iter().zip(&new_packages) {
        if !key.is_extension {
            parents.packages.insert(&key.name, stored.id);
        }
    }
    let rows = plan
        .new_packages
        .iter()
        .zip(&new_packages)
        .map(|((key, package), stored)| {
            let mut row = vec![
                Cell::Int(stored.id),
                Cell::Uuid(stored.uuid),
                Cell::Int(catalog_id),
                Cell::Text(key.name.clone()),
                Cell::Bool(key.is_extension),
            ];
            row.extend(package_fields(package));
            row
        });
    let columns = [&[ID, UUID][..], &PACKAGE_KEY[..], &PACKAGE_FIELDS[..]].concat();
    copy(db, "software_packages", &columns, Box::new(rows), progress).await?;
    let changed: Vec<Vec<Cell>> = plan
        .changed_packages
        .iter()
        .map(|(stored, package)| with_id(stored.id, package_fields(package)))
        .collect();
    update(db, "software_packages", &PACKAGE_FIELDS, changed, progress).await?;

    let mut new_versions: Vec<(Stored, &VersionKey, &VersionSnapshot)> = Vec::new();
    for ((_, package), stored) in plan.new_packages.iter().zip(&new_packages) {
        new_versions.extend(
            package
                .versions
                .iter()
                .map(|(key, version)| (*stored, key, version)),
        );
    }
    new_versions.extend(plan.new_versions.iter().copied());
    let version_ids = allocate_ids(db, "software_versions", new_versions.len()).await?;
    let new_version_rows: Vec<Stored> = new_versions
        .iter()
        .zip(&version_ids)
        .map(|((package, key, _), id)| Stored {
            id: *id,
            uuid: identity::version_uuid(&package.uuid, key),
        })
        .collect();
    for ((package, key, _), stored) in new_versions.iter().zip(&new_version_rows) {
        parents
            .versions
            .insert((package.id, &key.version, &key.modulename), stored.id);
    }
    let rows =
        new_versions
            .iter()
            .zip(&new_version_rows)
            .map(|((package, key, version), stored)| {
                let mut row = vec![
                    Cell::Int(stored.id),
                    Cell::Uuid(stored.uuid),
                    Cell::Int(package.id),
                    Cell::Text(key.version.clone()),
                    Cell::Text(key.modulename.clone()),
                ];
                row.extend(version_fields(version));
                row.push(parents.version_of(&version.row.metadata));
                row
            });
    let columns = [
        &[ID, UUID][..],
        &VERSION_KEY[..],
        &VERSION_FIELDS[..],
        &[PARENT_VERSION][..],
    ]
    .concat();
    copy(db, "software_versions", &columns, Box::new(rows), progress).await?;
    let changed: Vec<Vec<Cell>> = plan
        .changed_versions
        .iter()
        .map(|(stored, version)| with_id(stored.id, version_fields(version)))
        .collect();
    update(db, "software_versions", &VERSION_FIELDS, changed, progress).await?;

    let rows = new_versions
        .iter()
        .zip(&new_version_rows)
        .flat_map(|((_, _, version), stored)| {
            version
                .targets
                .iter()
                .map(move |(key, target)| target_insert_row(*stored, key, target))
        })
        .chain(
            plan.new_targets
                .iter()
                .map(|(version, key, target)| target_insert_row(*version, key, target)),
        );
    let columns = [&[UUID][..], &TARGET_KEY[..], &TARGET_FIELDS[..]].concat();
    copy(db, "software_targets", &columns, Box::new(rows), progress).await?;
    let changed: Vec<Vec<Cell>> = plan
        .changed_targets
        .iter()
        .map(|(id, target)| with_id(*id, target_fields(target)))
        .collect();
    update(db, "software_targets", &TARGET_FIELDS, changed, progress).await?;

    // New rows went in linked to new parents; only a catalog that had
    // packages before can hold rows whose parents were already stored.
    let stored_before = plan.packages.unchanged + plan.packages.updated + plan.packages.deleted;
    if stored_before > 0 && plan.packages.written() + plan.versions.written() > 0 {
        link_parents(db, catalog_id).await?;
    }
    Ok(())
}

/// The ids of the packages and versions this load inserts, by the names
/// extension versions record their parents under, so that new extension
/// versions go in linked to new parents. [`link_parents`] links the others.
#[derive(Default)]
struct NewParents<'a> {
    /// Packages that are not extensions, by name.
    packages: HashMap<&'a str, i64>,
    /// Versions by package id, version and module name.
    versions: HashMap<(i64, &'a str, &'a str), i64>,
}

impl NewParents<'_> {
    /// The parent installation that an extension version's metadata names,
    /// if new.
    fn version_of(&self, metadata: &serde_json::Value) -> Cell {
        let parent = &metadata["parent"];
        let field = |name: &str| parent[name].as_str();
        let id = (|| {
            let package_id = *self.packages.get(field("package")?)?;
            self.versions
                .get(&(package_id, field("version")?, field("modulename")?))
        })();
        id.map_or(Cell::Null, |id| Cell::Int(*id))
    }
}

/// Draws `count` ids from the sequence of `table`'s id column.
async fn allocate_ids(db: &LoadTransaction, table: &str, count: usize) -> Result<Vec<i64>, DbErr> {
    if count == 0 {
        return Ok(Vec::new());
    }
    // The sequence is looked up once (a CTE that is not MATERIALIZED is
    // inlined, and the lookup per row costs more than the ids).
    let ids: Vec<i64> = db
        .query_one_raw(Statement::from_sql_and_values(
            db.get_database_backend(),
            "WITH s AS MATERIALIZED (SELECT pg_get_serial_sequence($1, 'id')::regclass AS sequence) \
             SELECT array_agg(nextval(s.sequence)) AS ids FROM s, generate_series(1, $2)",
            [table.into(), (count as i64).into()],
        ))
        .await?
        .ok_or_else(|| DbErr::Custom(format!("{table}: no ids drawn")))?
        .try_get("", "ids")?;
    if ids.len() != count {
        return Err(DbErr::Custom(format!(
            "{table}: {count} ids asked for, {} drawn",
            ids.len()
        )));
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
        Cell::list(&cpus.families),
        Cell::list(&cpus.microarchitectures),
        Cell::list(&cpus.targets),
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

fn target_insert_row(version: Stored, key: &TargetKey, target: &TargetRow) -> Vec<Cell> {
    let mut row = vec![
        Cell::Uuid(identity::target_uuid(&version.uuid, key)),
        Cell::Int(version.id),
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

/// Rows produced as they are encoded. (Boxed: a future holding a closure
/// over borrowed rows across an await is otherwise not provably `Send`.)
type Rows<'a> = Box<dyn Iterator<Item = Vec<Cell>> + Send + 'a>;

/// Streams `rows` into `table` with `COPY`, in chunks of about
/// [`COPY_CHUNK_BYTES`], each encoded while the server stores the last.
async fn copy(
    db: &LoadTransaction,
    table: &str,
    columns: &[Column],
    rows: Rows<'_>,
    progress: &dyn Progress,
) -> Result<(), DbErr> {
    let mut rows = rows.peekable();
    if rows.peek().is_none() {
        return Ok(());
    }
    let chunks = std::iter::from_fn(move || {
        rows.peek()?;
        let mut chunk = Vec::with_capacity(COPY_CHUNK_BYTES + COPY_CHUNK_BYTES / 4);
        let mut count = 0;
        while chunk.len() < COPY_CHUNK_BYTES
            && let Some(row) = rows.next()
        {
            for (index, (cell, (_, kind))) in row.iter().zip(columns).enumerate() {
                if index > 0 {
                    chunk.push(b'\t');
                }
                cell.encode(*kind, &mut chunk);
            }
            chunk.push(b'\n');
            count += 1;
        }
        progress.advance(count);
        Some(chunk)
    });
    let names: Vec<&str> = columns.iter().map(|(name, _)| *name).collect();
    let statement = format!("COPY {table} ({}) FROM STDIN", names.join(", "));
    db.copy_in(&statement, Box::new(chunks)).await?;
    Ok(())
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
    let columns = [&[ID][..], fields].concat();
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

/// Points extension versions at the parent installations that include
/// them, by the names their metadata records. An extension's parent
/// packages are those of its versions' parents, so they need no link of
/// their own.
async fn link_parents(db: &impl ConnectionTrait, catalog_id: i64) -> Result<(), DbErr> {
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
    db.execute_raw(statement(db, VERSIONS, catalog_id)).await?;
    Ok(())
}

fn raw(db: &impl ConnectionTrait, sql: String, values: Vec<Value>) -> Statement {
    Statement::from_sql_and_values(db.get_database_backend(), sql, values)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoded(cell: Cell, kind: Kind) -> String {
        let mut out = Vec::new();
        cell.encode(kind, &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn copy_fields_escape_what_the_text_format_reserves() {
        assert_eq!(
            encoded(Cell::Text("a\tb\nc\rd\\N".into()), Kind::Text),
            "a\\tb\\nc\\rd\\\\N"
        );
        assert_eq!(encoded(Cell::Text(String::new()), Kind::Text), "");
        assert_eq!(
            encoded(Cell::Text(String::new()), Kind::NullableText),
            "\\N"
        );
        assert_eq!(
            encoded(Cell::Text(String::new()), Kind::NullableDate),
            "\\N"
        );
        assert_eq!(encoded(Cell::Int(-42), Kind::BigInt), "-42");
        assert_eq!(encoded(Cell::Bool(true), Kind::Bool), "t");
        let uuid = uuid::Uuid::from_u128(0x0123_4567_89ab_cdef_0123_4567_89ab_cdef);
        assert_eq!(
            encoded(Cell::Uuid(uuid), Kind::Uuid),
            "01234567-89ab-cdef-0123-456789abcdef"
        );
    }

    #[test]
    fn copy_lists_are_array_literals_with_quoted_elements() {
        assert_eq!(encoded(Cell::List(Vec::new()), Kind::TextArray), "{}");
        assert_eq!(
            encoded(
                Cell::List(vec!["x86_64/amd/zen4".into(), "a \"b\" c\\d".into()]),
                Kind::TextArray
            ),
            r#"{"x86_64/amd/zen4","a \\"b\\" c\\\\d"}"#
        );
    }
}
