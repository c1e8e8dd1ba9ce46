//! The catalog data generation: a number that moves after every committed
//! change to catalog or offering data, so that readers may cache answers
//! and know when they went stale. It is a sequence, so advancing it takes no
//! lock and two loads of different catalogs stay independent.
//!
//! Rule for writers: advance the generation after the change has committed
//! (never before, or a reader could cache old data under the new number).
//! The loader does so after each load that wrote; the API after each
//! successful write request; the job records when a load starts or ends
//! (catalogs show the status of their loads).

use sea_orm::{ConnectionTrait, DbErr};

use crate::sql::statement;

/// The generation readers currently see.
pub async fn current(db: &impl ConnectionTrait) -> Result<i64, DbErr> {
    read(
        db,
        "SELECT last_value AS value FROM catalog_data_generation",
    )
    .await
}

/// Moves the generation on and returns the new value.
pub async fn advance(db: &impl ConnectionTrait) -> Result<i64, DbErr> {
    read(db, "SELECT nextval('catalog_data_generation') AS value").await
}

async fn read(db: &impl ConnectionTrait, sql: &str) -> Result<i64, DbErr> {
    db.query_one_raw(statement(db, sql, []))
        .await?
        .ok_or_else(|| DbErr::RecordNotFound("catalog_data_generation".into()))?
        .try_get("", "value")
}
