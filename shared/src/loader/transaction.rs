//! The load's transaction: one sqlx transaction that serves the loader's
//! statements through sea-orm's [`ConnectionTrait`] and also takes `COPY`,
//! which a sea-orm transaction cannot. Both travel on the same session, so
//! they commit or roll back together; dropped without a commit, it rolls
//! back.

use std::sync::Arc;

use sea_orm::sea_query::Values;
use sea_orm::sqlx::{self, AssertSqlSafe, Postgres};
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DbBackend, DbErr, ExecResult, QueryResult, RuntimeErr,
    Statement,
};
use sea_query_sqlx::SqlxValues;
use tokio::sync::Mutex;

/// A transaction the loader writes through.
pub struct LoadTransaction {
    transaction: Mutex<sqlx::Transaction<'static, Postgres>>,
}

impl LoadTransaction {
    /// Begins a transaction on a connection of `db`'s pool.
    pub async fn begin(db: &DatabaseConnection) -> Result<Self, DbErr> {
        let transaction = db
            .get_postgres_connection_pool()
            .begin()
            .await
            .map_err(exec_error)?;
        Ok(Self {
            transaction: Mutex::new(transaction),
        })
    }

    /// Commits everything written through it.
    pub async fn commit(self) -> Result<(), DbErr> {
        self.transaction
            .into_inner()
            .commit()
            .await
            .map_err(exec_error)
    }

    /// Discards everything written through it.
    pub async fn rollback(self) -> Result<(), DbErr> {
        self.transaction
            .into_inner()
            .rollback()
            .await
            .map_err(exec_error)
    }

    /// Runs `statement` (a `COPY … FROM STDIN`) with the data `chunks`
    /// yields, sending each chunk as soon as it is made so that the server
    /// stores rows while the next ones are encoded. Returns the rows copied.
    pub async fn copy_in(
        &self,
        statement: &str,
        chunks: Box<dyn Iterator<Item = Vec<u8>> + Send + '_>,
    ) -> Result<u64, DbErr> {
        let mut transaction = self.transaction.lock().await;
        let mut copy = transaction
            .copy_in_raw(statement)
            .await
            .map_err(exec_error)?;
        for chunk in chunks {
            copy.send(chunk).await.map_err(exec_error)?;
        }
        copy.finish().await.map_err(exec_error)
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
        let mut transaction = self.transaction.lock().await;
        query(&statement)
            .execute(&mut **transaction)
            .await
            .map(ExecResult::from)
            .map_err(exec_error)
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        let mut transaction = self.transaction.lock().await;
        sqlx::raw_sql(AssertSqlSafe(sql))
            .execute(&mut **transaction)
            .await
            .map(ExecResult::from)
            .map_err(exec_error)
    }

    async fn query_one_raw(&self, statement: Statement) -> Result<Option<QueryResult>, DbErr> {
        let mut transaction = self.transaction.lock().await;
        query(&statement)
            .fetch_optional(&mut **transaction)
            .await
            .map(|row| row.map(QueryResult::from))
            .map_err(query_error)
    }

    async fn query_all_raw(&self, statement: Statement) -> Result<Vec<QueryResult>, DbErr> {
        let mut transaction = self.transaction.lock().await;
        query(&statement)
            .fetch_all(&mut **transaction)
            .await
            .map(|rows| rows.into_iter().map(QueryResult::from).collect())
            .map_err(query_error)
    }
}
