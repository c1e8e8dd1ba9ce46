//! The load's transaction: one connection of the pool, inside `BEGIN`, that
//! serves the loader's statements through sea-orm's [`ConnectionTrait`] and
//! also takes `COPY`, which a sea-orm transaction cannot. Both travel on the
//! same session, so they commit or roll back together.
//!
//! Once it has ended, statements through it run on the same session outside
//! any transaction: what must follow the commit need not wait for another
//! connection of the pool (the one just used goes back to the pool only
//! after a task switch, so the pool would often open a new one).
//!
//! Dropped before it ends (a job's timeout cancels a load at any await,
//! `COPY` included), it closes its connection instead of returning it to
//! the pool: the server then rolls back and frees the catalog's lock, and no
//! later load inherits a session left mid-`COPY` or mid-transaction.
//!
//! A worker can die without the server noticing: a statement running when
//! the process is killed goes on to its end, and an idle session of a host
//! that vanished waits for a packet. The transaction therefore bounds its
//! own session ([`SESSION_BOUNDS`]), and says which session it is
//! ([`LoadSession`]) so that a job can record it with its lease and a
//! successor can end it.

use std::sync::Arc;

use sea_orm::sea_query::Values;
use sea_orm::sqlx::pool::PoolConnection;
use sea_orm::sqlx::{self, AssertSqlSafe, Postgres};
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DbBackend, DbErr, ExecResult, QueryResult, RuntimeErr,
    Statement,
};
use sea_query_sqlx::SqlxValues;
use tokio::sync::Mutex;

/// Bounds on the load's session for as long as its transaction lasts
/// (`SET LOCAL`): the server checks every 2 s during a statement whether
/// the client is still there (`client_connection_check_interval`, Postgres
/// 14 and later), probes a silent client's socket after 10 s (then every
/// 5 s, 3 times), and ends a transaction left idle for 2 minutes.
const SESSION_BOUNDS: &str = "SET LOCAL tcp_keepalives_idle = 10; \
     SET LOCAL tcp_keepalives_interval = 5; SET LOCAL tcp_keepalives_count = 3; \
     SET LOCAL idle_in_transaction_session_timeout = '120s'";

/// `client_connection_check_interval` exists from this server version on.
const CONNECTION_CHECK_SINCE: i32 = 140_000;

/// The Postgres session and transaction a load writes in: the backend's
/// pid and the transaction's start, which together name this transaction
/// alone (a pid is reused by later backends, a start time is not shared
/// by two transactions of one backend).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoadSession {
    /// `pg_backend_pid()` of the load's connection.
    pub pid: i32,
    /// `now()` in the transaction, `pg_stat_activity.xact_start` while it runs.
    pub xact_start: chrono::DateTime<chrono::Utc>,
}

/// A transaction the loader writes through.
pub struct LoadTransaction {
    connection: Mutex<PoolConnection<Postgres>>,
    /// Whether it ended with a `COMMIT` or `ROLLBACK` the server confirmed.
    ended: bool,
    session: LoadSession,
}

impl LoadTransaction {
    /// Begins a transaction on a connection of `db`'s pool.
    pub async fn begin(db: &DatabaseConnection) -> Result<Self, DbErr> {
        let mut connection = db
            .get_postgres_connection_pool()
            .acquire()
            .await
            .map_err(exec_error)?;
        sqlx::raw_sql(AssertSqlSafe(format!("BEGIN; {SESSION_BOUNDS}")))
            .execute(&mut *connection)
            .await
            .map_err(exec_error)?;
        let (pid, xact_start, server_version): (i32, chrono::DateTime<chrono::Utc>, i32) =
            sqlx::query_as(
                "SELECT pg_backend_pid(), now(), current_setting('server_version_num')::int",
            )
            .fetch_one(&mut *connection)
            .await
            .map_err(query_error)?;
        if server_version >= CONNECTION_CHECK_SINCE {
            sqlx::raw_sql(AssertSqlSafe(
                "SET LOCAL client_connection_check_interval = '2s'",
            ))
            .execute(&mut *connection)
            .await
            .map_err(exec_error)?;
        }
        Ok(Self {
            connection: Mutex::new(connection),
            ended: false,
            session: LoadSession { pid, xact_start },
        })
    }

    /// The session and transaction this load writes in.
    pub fn session(&self) -> LoadSession {
        self.session
    }

    /// Commits everything written through it.
    pub async fn commit(&mut self) -> Result<(), DbErr> {
        self.end("COMMIT").await
    }

    /// Discards everything written through it.
    pub async fn rollback(&mut self) -> Result<(), DbErr> {
        self.end("ROLLBACK").await
    }

    async fn end(&mut self, statement: &'static str) -> Result<(), DbErr> {
        sqlx::raw_sql(AssertSqlSafe(statement))
            .execute(&mut **self.connection.get_mut())
            .await
            .map_err(exec_error)?;
        self.ended = true;
        Ok(())
    }

    /// Runs `statement` (a `COPY … FROM STDIN`) with the data `chunks`
    /// yields, sending each chunk as soon as it is made so that the server
    /// stores rows while the next ones are encoded. Returns the rows copied.
    pub async fn copy_in(
        &self,
        statement: &str,
        chunks: Box<dyn Iterator<Item = Vec<u8>> + Send + '_>,
    ) -> Result<u64, DbErr> {
        let mut connection = self.connection.lock().await;
        let mut copy = connection
            .copy_in_raw(statement)
            .await
            .map_err(exec_error)?;
        for chunk in chunks {
            copy.send(chunk).await.map_err(exec_error)?;
        }
        copy.finish().await.map_err(exec_error)
    }
}

impl Drop for LoadTransaction {
    fn drop(&mut self) {
        if !self.ended {
            self.connection.get_mut().close_on_drop();
        }
    }
}

fn query(statement: &Statement) -> sqlx::query::Query<'_, Postgres, SqlxValues> {
    let values = statement.values.clone().unwrap_or(Values(Vec::new()));
    sqlx::query_with(AssertSqlSafe(statement.sql.as_str()), SqlxValues(values))
}

fn exec_error(error: sqlx::Error) -> DbErr {
    DbErr::Exec(RuntimeErr::SqlxError(Arc::new(error)))
}

fn query_error(error: sqlx::Error) -> DbErr {
    DbErr::Query(RuntimeErr::SqlxError(Arc::new(error)))
}

#[async_trait::async_trait]
impl ConnectionTrait for LoadTransaction {
    fn get_database_backend(&self) -> DbBackend {
        DbBackend::Postgres
    }

    async fn execute_raw(&self, statement: Statement) -> Result<ExecResult, DbErr> {
        let mut connection = self.connection.lock().await;
        query(&statement)
            .execute(&mut **connection)
            .await
            .map(ExecResult::from)
            .map_err(exec_error)
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        let mut connection = self.connection.lock().await;
        sqlx::raw_sql(AssertSqlSafe(sql))
            .execute(&mut **connection)
            .await
            .map(ExecResult::from)
            .map_err(exec_error)
    }

    async fn query_one_raw(&self, statement: Statement) -> Result<Option<QueryResult>, DbErr> {
        let mut connection = self.connection.lock().await;
        query(&statement)
            .fetch_optional(&mut **connection)
            .await
            .map(|row| row.map(QueryResult::from))
            .map_err(query_error)
    }

    async fn query_all_raw(&self, statement: Statement) -> Result<Vec<QueryResult>, DbErr> {
        let mut connection = self.connection.lock().await;
        query(&statement)
            .fetch_all(&mut **connection)
            .await
            .map(|rows| rows.into_iter().map(QueryResult::from).collect())
            .map_err(query_error)
    }
}
