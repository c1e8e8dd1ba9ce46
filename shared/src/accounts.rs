//! Users, API tokens and offering managers: who is calling, and what they
//! may change. Tokens are random keys shown once and stored as SHA-256,
//! beside the first [`KEY_PREFIX_LEN`] characters of the key (a public
//! handle: 32 of 256 bits, useless to sign in with) so that operators can
//! list and revoke tokens.
//!
//! Every change to users or tokens advances the account generation
//! (`crate::browse::generation::advance_accounts`) once it has committed;
//! API processes read it every 250 ms and then forget the tokens they had
//! verified, so a revoked token, a deleted user or a changed staff flag
//! holds in every process within one poll. The functions that take rights
//! away take a [`DatabaseConnection`], not a transaction, so that the
//! advance always follows the commit. Deleting a user also advances the
//! catalog data generation: offering answers list managers.

use chrono::{DateTime, FixedOffset};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr, FromQueryResult, TransactionTrait};
use serde::Serialize;
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
    /// No token matches the key or key prefix.
    #[error("no token has the key prefix {0:?} (see `softcat tokens list`)")]
    UnknownToken(String),
    /// A key prefix that names several tokens.
    #[error("key prefix {prefix:?} matches {} tokens: {}; give more characters, the whole key, or --all USER", candidates.len(), candidates.join(", "))]
    AmbiguousPrefix {
        /// What was given.
        prefix: String,
        /// `prefix (user)` of each matching token.
        candidates: Vec<String>,
    },
    /// Not a key prefix: too short, too long or not hexadecimal.
    #[error("{0:?} is not a key prefix: give {min} to {max} hexadecimal characters as `softcat tokens list` shows them, or the whole key", min = MIN_PREFIX_LEN, max = KEY_PREFIX_LEN)]
    InvalidPrefix(String),
    /// The random source failed.
    #[error("cannot generate a token: {0}")]
    Random(String),
    /// The database failed.
    #[error("database: {0}")]
    Db(#[from] DbErr),
}

const USER_COLUMNS: &str = "id, uuid, username, is_staff";

/// Characters of each new key stored in the clear, as its public handle.
pub const KEY_PREFIX_LEN: usize = 8;
/// Fewest characters a key prefix given to [`revoke_token`] may have.
pub const MIN_PREFIX_LEN: usize = 4;
/// Length of a whole key (32 random bytes, hex).
const KEY_LEN: usize = 64;

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
    let user = User::find_by_statement(statement(db, &sql, [username.into(), is_staff.into()]))
        .one(db)
        .await?
        .ok_or_else(|| AccountError::UsernameTaken(username.to_owned()))?;
    crate::browse::generation::advance_accounts(db).await?;
    Ok(user)
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
        "INSERT INTO api_tokens (user_id, key_hash, key_prefix) VALUES ($1, $2, $3)",
        [
            user.id.into(),
            key_hash(&key).into(),
            key[..KEY_PREFIX_LEN].to_owned().into(),
        ],
    ))
    .await?;
    crate::browse::generation::advance_accounts(db).await?;
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

/// A user as `softcat users list` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct UserSummary {
    /// Login name.
    pub username: String,
    /// Public identity.
    pub uuid: Uuid,
    /// Whether the user is staff.
    pub is_staff: bool,
    /// When the user was created.
    pub created: DateTime<FixedOffset>,
    /// How many tokens the user holds.
    pub tokens: i64,
    /// Names of the offerings the user manages, sorted.
    pub manages: Vec<String>,
}

/// Every user, by name, with token counts and managed offerings.
pub async fn list_users(db: &impl ConnectionTrait) -> Result<Vec<UserSummary>, DbErr> {
    #[derive(FromQueryResult)]
    struct Row {
        username: String,
        uuid: Uuid,
        is_staff: bool,
        created: DateTime<FixedOffset>,
        tokens: i64,
        manages: serde_json::Value,
    }
    let rows = Row::find_by_statement(statement(
        db,
        "SELECT u.username, u.uuid, u.is_staff, u.created, \
           (SELECT count(*) FROM api_tokens t WHERE t.user_id = u.id) AS tokens, \
           to_jsonb(ARRAY(SELECT o.name FROM offering_managers m \
                          JOIN offerings o ON o.id = m.offering_id \
                          WHERE m.user_id = u.id ORDER BY o.name, o.id)) AS manages \
         FROM users u ORDER BY u.username",
        [],
    ))
    .all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|row| UserSummary {
            username: row.username,
            uuid: row.uuid,
            is_staff: row.is_staff,
            created: row.created,
            tokens: row.tokens,
            manages: serde_json::from_value(row.manages).unwrap_or_default(),
        })
        .collect())
}

/// Makes a user staff or not; returns the user and whether the flag moved.
/// Takes effect in every API process within one poll of the account
/// generation.
pub async fn set_staff(
    db: &DatabaseConnection,
    username: &str,
    is_staff: bool,
) -> Result<(User, bool), AccountError> {
    let before = find_user(db, username)
        .await?
        .ok_or_else(|| AccountError::UnknownUser(username.to_owned()))?;
    let sql = format!("UPDATE users SET is_staff = $2 WHERE id = $1 RETURNING {USER_COLUMNS}");
    let user = User::find_by_statement(statement(db, &sql, [before.id.into(), is_staff.into()]))
        .one(db)
        .await?
        .ok_or_else(|| AccountError::UnknownUser(username.to_owned()))?;
    crate::browse::generation::advance_accounts(db).await?;
    Ok((user, before.is_staff != is_staff))
}

/// What deleting a user took with it.
#[derive(Debug, Clone)]
pub struct DeletedUser {
    /// The user as it was.
    pub user: User,
    /// Tokens revoked with it.
    pub tokens: u64,
    /// Offerings it no longer manages.
    pub offerings: u64,
}

/// Deletes a user with its tokens and manager roles, in one transaction;
/// its tokens are refused by every API process within one poll.
pub async fn delete_user(
    db: &DatabaseConnection,
    username: &str,
) -> Result<DeletedUser, AccountError> {
    let txn = db.begin().await?;
    let user = find_user(&txn, username)
        .await?
        .ok_or_else(|| AccountError::UnknownUser(username.to_owned()))?;
    let count = |sql: &'static str| {
        let txn = &txn;
        async move {
            let row = txn
                .query_one_raw(statement(txn, sql, [user.id.into()]))
                .await?;
            let value: i64 = match row {
                Some(row) => row.try_get("", "count")?,
                None => 0,
            };
            Ok::<u64, DbErr>(u64::try_from(value).unwrap_or(0))
        }
    };
    let tokens = count("SELECT count(*) AS count FROM api_tokens WHERE user_id = $1").await?;
    let offerings =
        count("SELECT count(*) AS count FROM offering_managers WHERE user_id = $1").await?;
    txn.execute_raw(statement(
        &txn,
        "DELETE FROM users WHERE id = $1",
        [user.id.into()],
    ))
    .await?;
    txn.commit().await?;
    crate::browse::generation::advance_accounts(db).await?;
    if offerings > 0 {
        crate::browse::generation::advance(db).await?;
    }
    Ok(DeletedUser {
        user,
        tokens,
        offerings,
    })
}

/// A token as `softcat tokens list` shows it: never the key.
#[derive(Debug, Clone, Serialize, FromQueryResult)]
pub struct TokenSummary {
    /// The first characters of the key; `None` for tokens issued before
    /// prefixes were kept.
    pub key_prefix: Option<String>,
    /// Whose token it is.
    pub username: String,
    /// When it was issued.
    pub created: DateTime<FixedOffset>,
}

impl TokenSummary {
    /// `prefix (user)`, as error messages name a token.
    fn label(&self) -> String {
        format!(
            "{} ({})",
            self.key_prefix.as_deref().unwrap_or("no prefix"),
            self.username
        )
    }
}

const TOKEN_COLUMNS: &str = "t.id, t.key_prefix, u.username, t.created";
const TOKEN_FROM: &str = "FROM api_tokens t JOIN users u ON u.id = t.user_id";

#[derive(FromQueryResult)]
struct TokenRow {
    id: i64,
    key_prefix: Option<String>,
    username: String,
    created: DateTime<FixedOffset>,
}

impl From<TokenRow> for TokenSummary {
    fn from(row: TokenRow) -> Self {
        Self {
            key_prefix: row.key_prefix,
            username: row.username,
            created: row.created,
        }
    }
}

/// Every token, or one user's, by user and issue time.
pub async fn list_tokens(
    db: &impl ConnectionTrait,
    username: Option<&str>,
) -> Result<Vec<TokenSummary>, AccountError> {
    let rows = match username {
        Some(name) => {
            let user = find_user(db, name)
                .await?
                .ok_or_else(|| AccountError::UnknownUser(name.to_owned()))?;
            TokenRow::find_by_statement(statement(
                db,
                format!(
                    "SELECT {TOKEN_COLUMNS} {TOKEN_FROM} WHERE t.user_id = $1 \
                     ORDER BY t.created, t.id"
                ),
                [user.id.into()],
            ))
            .all(db)
            .await?
        }
        None => {
            TokenRow::find_by_statement(statement(
                db,
                format!("SELECT {TOKEN_COLUMNS} {TOKEN_FROM} ORDER BY u.username, t.created, t.id"),
                [],
            ))
            .all(db)
            .await?
        }
    };
    Ok(rows.into_iter().map(TokenSummary::from).collect())
}

/// Revokes the one token whose key starts with `prefix` (4 to 8 of the
/// characters `tokens list` shows) or whose whole key it is. A prefix
/// matching several tokens revokes nothing and names them.
pub async fn revoke_token(
    db: &DatabaseConnection,
    prefix: &str,
) -> Result<TokenSummary, AccountError> {
    let given = prefix.trim().to_ascii_lowercase();
    if !given.chars().all(|c| c.is_ascii_hexdigit())
        || !(given.len() == KEY_LEN || (MIN_PREFIX_LEN..=KEY_PREFIX_LEN).contains(&given.len()))
    {
        return Err(AccountError::InvalidPrefix(prefix.to_owned()));
    }
    let mut rows = if given.len() == KEY_LEN {
        TokenRow::find_by_statement(statement(
            db,
            format!("SELECT {TOKEN_COLUMNS} {TOKEN_FROM} WHERE t.key_hash = $1"),
            [key_hash(&given).into()],
        ))
        .all(db)
        .await?
    } else {
        // Hex digits only, so the pattern has no LIKE wildcards.
        TokenRow::find_by_statement(statement(
            db,
            format!(
                "SELECT {TOKEN_COLUMNS} {TOKEN_FROM} WHERE t.key_prefix LIKE $1 \
                 ORDER BY u.username, t.created, t.id"
            ),
            [format!("{given}%").into()],
        ))
        .all(db)
        .await?
    };
    let row = match rows.len() {
        0 => return Err(AccountError::UnknownToken(prefix.to_owned())),
        1 => rows.remove(0),
        _ => {
            return Err(AccountError::AmbiguousPrefix {
                prefix: prefix.to_owned(),
                candidates: rows
                    .into_iter()
                    .map(|row| TokenSummary::from(row).label())
                    .collect(),
            });
        }
    };
    db.execute_raw(statement(
        db,
        "DELETE FROM api_tokens WHERE id = $1",
        [row.id.into()],
    ))
    .await?;
    crate::browse::generation::advance_accounts(db).await?;
    Ok(row.into())
}

/// Revokes every token of a user; returns how many there were.
pub async fn revoke_all(db: &DatabaseConnection, username: &str) -> Result<u64, AccountError> {
    let user = find_user(db, username)
        .await?
        .ok_or_else(|| AccountError::UnknownUser(username.to_owned()))?;
    let result = db
        .execute_raw(statement(
            db,
            "DELETE FROM api_tokens WHERE user_id = $1",
            [user.id.into()],
        ))
        .await?;
    crate::browse::generation::advance_accounts(db).await?;
    Ok(result.rows_affected())
}

fn key_hash(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}
