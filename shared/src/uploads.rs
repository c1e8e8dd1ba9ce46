//! Custom catalog documents uploaded over the API. The API keeps each in
//! Postgres and enqueues a load of `upload:<uuid>`; the worker that runs it,
//! wherever it is, reads the document from there. The cleanup removes
//! uploads older than the retention period.

use sea_orm::{ConnectionTrait, DbErr};
use uuid::Uuid;

use crate::sql::statement;

/// The scheme of an uploaded document's location.
const SCHEME: &str = "upload:";

/// The location a load job names an upload by.
pub fn location(uuid: Uuid) -> String {
    format!("{SCHEME}{uuid}")
}

/// The upload a location names, if it names one.
pub fn parse_location(location: &str) -> Option<Uuid> {
    location.strip_prefix(SCHEME)?.parse().ok()
}

/// Keeps a document; its UUID.
pub async fn store(
    db: &impl ConnectionTrait,
    content: Vec<u8>,
    uploaded_by: &str,
) -> Result<Uuid, DbErr> {
    let row = db
        .query_one_raw(statement(
            db,
            "INSERT INTO catalog_uploads (content, uploaded_by) VALUES ($1, $2) RETURNING uuid",
            [content.into(), uploaded_by.into()],
        ))
        .await?
        .ok_or(DbErr::RecordNotInserted)?;
    row.try_get("", "uuid")
}

/// An uploaded document, or `None` when it was removed.
pub async fn read(db: &impl ConnectionTrait, uuid: Uuid) -> Result<Option<Vec<u8>>, DbErr> {
    let row = db
        .query_one_raw(statement(
            db,
            "SELECT content FROM catalog_uploads WHERE uuid = $1",
            [uuid.into()],
        ))
        .await?;
    row.map(|row| row.try_get("", "content")).transpose()
}

/// Removes uploads older than `days`; how many.
pub async fn remove_older_than(db: &impl ConnectionTrait, days: u32) -> Result<u64, DbErr> {
    let result = db
        .execute_raw(statement(
            db,
            "DELETE FROM catalog_uploads WHERE created < now() - make_interval(days => $1)",
            [i32::try_from(days).unwrap_or(i32::MAX).into()],
        ))
        .await?;
    Ok(result.rows_affected())
}
