//! SLURM QoS of an offering (Waldur's `SlurmOfferingQoS`) and the QoS each
//! of its partitions allows (`SlurmPartitionQoS`). Both are reached through
//! their offering: a QoS or partition of another offering is not found.

use std::collections::HashSet;

use chrono::{DateTime, FixedOffset};
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DbErr, FromQueryResult, SqlErr, TransactionTrait, Value,
};
use uuid::Uuid;

use super::{BadParameter, BrowseError, update_of_offering};
use crate::sql::statement;

/// The numeric limits of a QoS: priority, wall time (minutes), jobs and
/// nodes. Each is absent or a non-negative whole number.
pub const QOS_LIMITS: [&str; 5] = [
    "priority",
    "max_wall",
    "max_jobs_per_user",
    "max_submit_jobs_per_user",
    "max_nodes",
];

/// The TRES limits of a QoS, as SLURM writes them (`cpu=32,gres/gpu=4`).
pub const QOS_TRES: [&str; 3] = ["grp_tres", "max_tres_per_job", "max_tres_per_user"];

/// A QoS as the API shows it.
#[derive(Debug, Clone, FromQueryResult)]
pub struct QosRow {
    /// Join key.
    pub id: i64,
    /// Public identity.
    pub uuid: Uuid,
    /// SLURM's name of the QoS.
    pub name: String,
    /// Free text.
    pub description: String,
    /// The limits and TRES strings, by their names in [`QOS_LIMITS`] and
    /// [`QOS_TRES`].
    pub settings: serde_json::Value,
    /// When it was created.
    pub created: DateTime<FixedOffset>,
    /// When it last changed.
    pub modified: DateTime<FixedOffset>,
}

/// What a caller sets on a QoS; absent fields are left as they are.
#[derive(Debug, Clone, Default)]
pub struct QosFields {
    /// SLURM's name; required on creation, not all digits.
    pub name: Option<String>,
    /// Free text.
    pub description: Option<String>,
    /// Limits given, by their names in [`QOS_LIMITS`].
    pub limits: Vec<(&'static str, i64)>,
    /// TRES strings given, by their names in [`QOS_TRES`].
    pub tres: Vec<(&'static str, String)>,
}

impl QosFields {
    fn validate(&self) -> Result<(), BadParameter> {
        if let Some(name) = &self.name {
            let plain = !name.is_empty()
                && name.len() <= 100
                && !name.chars().all(|c| c.is_ascii_digit())
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
            if !plain {
                return Err(BadParameter::new(
                    "name",
                    "a QoS name of letters, digits, `_`, `-` and `.` is required, not all digits, at most 100",
                ));
            }
        }
        if let Some(description) = &self.description
            && (description.len() > 10_000 || description.contains('\0'))
        {
            return Err(BadParameter::new(
                "description",
                "text of at most 10,000 characters is required",
            ));
        }
        for (name, value) in &self.limits {
            if *value < 0 {
                return Err(BadParameter::new(*name, "must not be negative"));
            }
        }
        for (name, value) in &self.tres {
            if !value.is_empty() && !is_tres(value) {
                return Err(BadParameter::new(
                    *name,
                    format!("{value:?} is not a TRES list such as cpu=32,mem=64G,gres/gpu=4"),
                ));
            }
        }
        Ok(())
    }
}

/// Whether `text` is SLURM's TRES list: `type[/name]=count[unit]`, comma
/// separated.
fn is_tres(text: &str) -> bool {
    text.len() <= 1_000
        && text.split(',').all(|item| {
            let Some((kind, count)) = item.split_once('=') else {
                return false;
            };
            let kind_ok = !kind.is_empty()
                && kind
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '_' | ':'));
            let digits = count.trim_end_matches(['K', 'M', 'G', 'T', 'P']);
            kind_ok && !digits.is_empty() && digits.chars().all(|c| c.is_ascii_digit())
        })
}

const COLUMNS: &str = "q.id, q.uuid, q.name, q.description, q.created, q.modified, \
    jsonb_build_object('priority', q.priority, 'max_wall', q.max_wall, \
      'max_jobs_per_user', q.max_jobs_per_user, \
      'max_submit_jobs_per_user', q.max_submit_jobs_per_user, 'max_nodes', q.max_nodes, \
      'grp_tres', q.grp_tres, 'max_tres_per_job', q.max_tres_per_job, \
      'max_tres_per_user', q.max_tres_per_user) AS settings";

/// The QoS of some offerings, by offering id, each by name.
pub async fn qos_of(
    db: &impl ConnectionTrait,
    offering_ids: Vec<i64>,
) -> Result<Vec<(i64, QosRow)>, DbErr> {
    #[derive(FromQueryResult)]
    struct Owner {
        offering_id: i64,
    }
    let sql = format!(
        "SELECT q.offering_id, {COLUMNS} FROM offering_qos q WHERE q.offering_id = ANY($1) \
         ORDER BY q.name, q.id"
    );
    let rows = db
        .query_all_raw(statement(db, sql, [offering_ids.into()]))
        .await?;
    rows.iter()
        .map(|row| {
            Ok((
                Owner::from_query_result(row, "")?.offering_id,
                QosRow::from_query_result(row, "")?,
            ))
        })
        .collect()
}

async fn get_qos(
    db: &impl ConnectionTrait,
    offering_id: i64,
    uuid: Uuid,
) -> Result<QosRow, BrowseError> {
    QosRow::find_by_statement(statement(
        db,
        format!("SELECT {COLUMNS} FROM offering_qos q WHERE q.offering_id = $1 AND q.uuid = $2"),
        [offering_id.into(), uuid.into()],
    ))
    .one(db)
    .await?
    .ok_or(BrowseError::NotFound("QoS"))
}

/// Adds a QoS to an offering.
pub async fn add_qos(
    db: &impl ConnectionTrait,
    offering_id: i64,
    fields: &QosFields,
) -> Result<QosRow, BrowseError> {
    fields.validate()?;
    let name = fields
        .name
        .clone()
        .ok_or_else(|| BadParameter::new("name", "this field is required"))?;
    let row = db
        .query_one_raw(statement(
            db,
            "INSERT INTO offering_qos (offering_id, name) VALUES ($1, $2) RETURNING uuid",
            [offering_id.into(), name.clone().into()],
        ))
        .await
        .map_err(|error| taken(error, &name))?
        .ok_or(BrowseError::NotFound("QoS"))?;
    let uuid: Uuid = row.try_get("", "uuid")?;
    write_fields(db, offering_id, uuid, fields).await
}

/// Changes a QoS of this offering.
pub async fn update_qos(
    db: &impl ConnectionTrait,
    offering_id: i64,
    uuid: Uuid,
    fields: &QosFields,
) -> Result<QosRow, BrowseError> {
    fields.validate()?;
    get_qos(db, offering_id, uuid).await?;
    write_fields(db, offering_id, uuid, fields).await
}

/// Removes a QoS of this offering, and it from its partitions.
pub async fn remove_qos(
    db: &impl ConnectionTrait,
    offering_id: i64,
    uuid: Uuid,
) -> Result<(), BrowseError> {
    let qos = get_qos(db, offering_id, uuid).await?;
    db.execute_raw(statement(
        db,
        "DELETE FROM offering_qos WHERE id = $1",
        [qos.id.into()],
    ))
    .await?;
    Ok(())
}

/// Replaces the QoS partition `partition` of this offering allows, in one
/// transaction: every QoS is this offering's, none twice, at most one the
/// default.
pub async fn set_partition_qos(
    db: &DatabaseConnection,
    offering_id: i64,
    partition: Uuid,
    options: &[(Uuid, bool)],
) -> Result<(), BrowseError> {
    let txn = db.begin().await?;
    let partition = super::partitions::get_partition(&txn, offering_id, partition).await?;
    if options.iter().filter(|(_, is_default)| *is_default).count() > 1 {
        return Err(BadParameter::new("qos_options", "at most one QoS may be the default").into());
    }
    let mut seen = HashSet::new();
    if let Some((twice, _)) = options.iter().find(|(uuid, _)| !seen.insert(*uuid)) {
        return Err(BadParameter::new("qos_options", format!("QoS {twice} is given twice")).into());
    }
    let mut ids = Vec::with_capacity(options.len());
    for (uuid, is_default) in options {
        let qos = match get_qos(&txn, offering_id, *uuid).await {
            Err(BrowseError::NotFound(_)) => {
                return Err(BadParameter::new(
                    "qos_options",
                    format!("no QoS {uuid} on this offering"),
                )
                .into());
            }
            other => other?,
        };
        ids.push((qos.id, *is_default));
    }
    txn.execute_raw(statement(
        &txn,
        "DELETE FROM partition_qos WHERE partition_id = $1",
        [partition.id.into()],
    ))
    .await?;
    for (qos_id, is_default) in ids {
        txn.execute_raw(statement(
            &txn,
            "INSERT INTO partition_qos (partition_id, qos_id, is_default) VALUES ($1, $2, $3)",
            [partition.id.into(), qos_id.into(), is_default.into()],
        ))
        .await?;
    }
    txn.commit().await?;
    Ok(())
}

async fn write_fields(
    db: &impl ConnectionTrait,
    offering_id: i64,
    uuid: Uuid,
    fields: &QosFields,
) -> Result<QosRow, BrowseError> {
    let texts = [("name", &fields.name), ("description", &fields.description)];
    let mut columns: Vec<(&str, Value)> = texts
        .into_iter()
        .filter_map(|(column, value)| Some((column, value.clone()?.into())))
        .collect();
    columns.extend(
        fields
            .limits
            .iter()
            .map(|(column, value)| (*column, (*value).into())),
    );
    columns.extend(
        fields
            .tres
            .iter()
            .map(|(column, value)| (*column, value.clone().into())),
    );
    let name = fields.name.clone().unwrap_or_default();
    update_of_offering(db, "offering_qos", offering_id, uuid, columns)
        .await
        .map_err(|error| taken(error, &name))?;
    get_qos(db, offering_id, uuid).await
}

fn taken(error: DbErr, name: &str) -> BrowseError {
    match error.sql_err() {
        Some(SqlErr::UniqueConstraintViolation(_)) => BrowseError::Invalid(BadParameter::new(
            "name",
            format!("this offering already has a QoS {name}"),
        )),
        _ => BrowseError::Db(error),
    }
}

#[cfg(test)]
mod tests {
    use super::is_tres;

    #[test]
    fn tres_lists_are_slurms() {
        assert!(is_tres("cpu=32,mem=64G,gres/gpu=4"));
        assert!(is_tres("gres/gpu:a100=2"));
        assert!(!is_tres("cpu"));
        assert!(!is_tres("cpu=lots"));
        assert!(!is_tres("cpu=1,"));
    }
}
