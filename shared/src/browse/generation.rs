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
//!
//! Beside it runs the account generation (sequence `account_generation`),
//! advanced after every committed change to users or tokens (see
//! `crate::accounts`): API processes read both in one query, every
//! 250 ms, and forget the tokens they verified when the account generation
//! moves, so that a revoked token or a deleted user is refused by every
//! process within one poll.

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

/// Both generations, as one poll of an API process reads them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Generations {
    /// The catalog data generation ([`current`]).
    pub data: i64,
    /// The account generation ([`current_accounts`]).
    pub accounts: i64,
}

/// The catalog data and account generations, in one round trip.
pub async fn current_both(db: &impl ConnectionTrait) -> Result<Generations, DbErr> {
    let row = db
        .query_one_raw(statement(
            db,
            "SELECT (SELECT last_value FROM catalog_data_generation) AS data, \
               (SELECT last_value FROM account_generation) AS accounts",
            [],
        ))
        .await?
        .ok_or_else(|| DbErr::RecordNotFound("account_generation".into()))?;
    Ok(Generations {
        data: row.try_get("", "data")?,
        accounts: row.try_get("", "accounts")?,
    })
}

/// The account generation readers currently see.
pub async fn current_accounts(db: &impl ConnectionTrait) -> Result<i64, DbErr> {
    read(db, "SELECT last_value AS value FROM account_generation").await
}

/// Moves the account generation on and returns the new value; call it
/// after a change to users or tokens has committed.
pub async fn advance_accounts(db: &impl ConnectionTrait) -> Result<i64, DbErr> {
    read(db, "SELECT nextval('account_generation') AS value").await
}

async fn read(db: &impl ConnectionTrait, sql: &str) -> Result<i64, DbErr> {
    db.query_one_raw(statement(db, sql, []))
        .await?
        .ok_or_else(|| DbErr::RecordNotFound("catalog_data_generation".into()))?
        .try_get("", "value")
}
