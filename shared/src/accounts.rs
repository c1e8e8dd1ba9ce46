//! Users, API tokens and offering managers: who is calling, and what they
//! may change. Tokens are random keys shown once and stored as SHA-256.

use sea_orm::{ConnectionTrait, DbErr, FromQueryResult};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::sql::statement;

/// A user of the API.
#[derive(Debug, Clone, PartialEq, Eq, FromQueryResult)]
pub struct User {
    /// Join key.
    pub id: i64,
    /// Public identity.
    pub uuid: Uuid,
    /// Login name, unique.
    pub username: String,
    /// Staff may change catalogs and offerings.
    pub is_staff: bool,
}

/// Why an account operation failed.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    /// The username is empty or holds whitespace or control characters.
    #[error("username {0:?} is not valid: use 1-150 characters without spaces")]
    InvalidUsername(String),
    /// A user with that name exists.
    #[error("user {0:?} already exists")]
    UsernameTaken(String),
    /// No user with that name.
    #[error("no user {0:?}")]
    UnknownUser(String),
    /// The random source failed.
    #[error("cannot generate a token: {0}")]
    Random(String),
    /// The database failed.
    #[error("database: {0}")]
    Db(#[from] DbErr),
}

const USER_COLUMNS: &str = "id, uuid, username, is_staff";

/// Creates a user.
pub async fn create_user(
    db: &impl ConnectionTrait,
    username: &str,
    is_staff: bool,
) -> Result<User, AccountError> {
    let valid = !username.is_empty()
        && username.chars().count() <= 150
        && !username
            .chars()
            .any(|c| c.is_whitespace() || c.is_control());
    if !valid {
        return Err(AccountError::InvalidUsername(username.to_owned()));
    }
    let sql = format!(
        "INSERT INTO users (username, is_staff) VALUES ($1, $2) \
         ON CONFLICT (username) DO NOTHING RETURNING {USER_COLUMNS}"
    );
    User::find_by_statement(statement(db, &sql, [username.into(), is_staff.into()]))
        .one(db)
        .await?
        .ok_or_else(|| AccountError::UsernameTaken(username.to_owned()))
}

/// Looks a user up by name.
pub async fn find_user(db: &impl ConnectionTrait, username: &str) -> Result<Option<User>, DbErr> {
    let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE username = $1");
    User::find_by_statement(statement(db, &sql, [username.into()]))
        .one(db)
        .await
}

/// Issues a new token for a user and returns its key; only its hash is kept.
pub async fn create_token(
    db: &impl ConnectionTrait,
    username: &str,
) -> Result<String, AccountError> {
    let user = find_user(db, username)
        .await?
        .ok_or_else(|| AccountError::UnknownUser(username.to_owned()))?;
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|error| AccountError::Random(error.to_string()))?;
    let key = hex::encode(bytes);
    db.execute_raw(statement(
        db,
        "INSERT INTO api_tokens (user_id, key_hash) VALUES ($1, $2)",
        [user.id.into(), key_hash(&key).into()],
    ))
    .await?;
    Ok(key)
}

/// The user a token key belongs to, if any.
pub async fn authenticate(db: &impl ConnectionTrait, key: &str) -> Result<Option<User>, DbErr> {
    let sql = format!(
        "SELECT {USER_COLUMNS} FROM users WHERE id = \
         (SELECT user_id FROM api_tokens WHERE key_hash = $1)"
    );
    User::find_by_statement(statement(db, sql, [key_hash(key).into()]))
        .one(db)
        .await
}

/// Whether the user manages the offering.
pub async fn manages_offering(
    db: &impl ConnectionTrait,
    user_id: i64,
    offering_id: i64,
) -> Result<bool, DbErr> {
    let row = db
        .query_one_raw(statement(
            db,
            "SELECT 1 FROM offering_managers WHERE user_id = $1 AND offering_id = $2",
            [user_id.into(), offering_id.into()],
        ))
        .await?;
    Ok(row.is_some())
}

fn key_hash(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}
