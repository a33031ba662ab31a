//! Storage through diesel: embedded SQLite (bundled) by default, PostgreSQL when the database URL
//! says so. Migrations run when the store is opened.
//!
//! The same code runs on both backends: [`Db`] holds a pool of either kind, and [`Conn`] is a
//! borrowed connection of either kind whose primitives dispatch to diesel with the concrete type.
//! Everything above the primitives (configuration objects, history, users) is written once.
//! Calls block; async callers run them on a blocking thread.

mod batch;
pub mod config;
pub mod history;
pub mod query;
pub mod secrets;
pub mod sync;
pub mod tables;
pub mod users;

use diesel::prelude::*;
use diesel::r2d2::{ConnectionManager, CustomizeConnection, Pool, PooledConnection};
use diesel::sql_types::{BigInt, Text};
use diesel::{PgConnection, SqliteConnection};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

use crate::validate::FieldErrors;
use query::{Backend, Bind, Sql};

const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    #[error("invalid: {0}")]
    Invalid(FieldErrors),
    #[error("database error: {0}")]
    Db(#[from] diesel::result::Error),
    #[error("database connection error: {0}")]
    Pool(#[from] diesel::r2d2::PoolError),
    #[error("cannot open database: {0}")]
    Open(String),
    #[error("stored data is corrupt: {0}")]
    Corrupt(#[from] serde_json::Error),
}

impl From<FieldErrors> for StoreError {
    fn from(e: FieldErrors) -> Self {
        StoreError::Invalid(e)
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// A pool of connections to the configuration database.
#[derive(Clone)]
pub enum Db {
    Sqlite(Pool<ConnectionManager<SqliteConnection>>),
    Postgres(Pool<ConnectionManager<PgConnection>>),
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Db::Sqlite(_) => "Db(sqlite)",
            Db::Postgres(_) => "Db(postgres)",
        })
    }
}

/// WAL, a busy timeout and foreign keys on every SQLite connection.
#[derive(Debug)]
struct SqlitePragmas;

impl CustomizeConnection<SqliteConnection, diesel::r2d2::Error> for SqlitePragmas {
    fn on_acquire(&self, conn: &mut SqliteConnection) -> std::result::Result<(), diesel::r2d2::Error> {
        // busy_timeout first: the pool opens connections concurrently, and the others must wait for
        // the one switching a new file to WAL instead of failing with "database is locked".
        diesel::sql_query("PRAGMA busy_timeout = 10000; PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;")
            .execute(conn)
            .map(|_| ())
            .map_err(diesel::r2d2::Error::QueryError)
    }
}

impl Db {
    /// Opens `url` (`postgres://…`/`postgresql://…` for PostgreSQL, otherwise a SQLite file path or
    /// `sqlite://path`), runs pending migrations and makes sure the singletons exist.
    pub fn open(url: &str) -> Result<Db> {
        let db = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let pool = Pool::builder()
                .max_size(8)
                .connection_timeout(std::time::Duration::from_secs(10))
                .build(ConnectionManager::<PgConnection>::new(url))
                .map_err(|e| StoreError::Open(e.to_string()))?;
            let mut c = pool.get()?;
            c.run_pending_migrations(POSTGRES_MIGRATIONS).map_err(|e| StoreError::Open(e.to_string()))?;
            Db::Postgres(pool)
        } else {
            let path = url.strip_prefix("sqlite://").unwrap_or(url);
            if let Some(dir) = std::path::Path::new(path).parent()
                && !dir.as_os_str().is_empty()
            {
                std::fs::create_dir_all(dir).map_err(|e| StoreError::Open(format!("{}: {e}", dir.display())))?;
            }
            let pool = Pool::builder()
                .max_size(4)
                .connection_customizer(Box::new(SqlitePragmas))
                .build(ConnectionManager::<SqliteConnection>::new(path))
                .map_err(|e| StoreError::Open(e.to_string()))?;
            let mut c = pool.get()?;
            c.run_pending_migrations(SQLITE_MIGRATIONS).map_err(|e| StoreError::Open(e.to_string()))?;
            Db::Sqlite(pool)
        };
        config::ensure_singletons(&db)?;
        Ok(db)
    }

    pub fn backend(&self) -> Backend {
        match self {
            Db::Sqlite(_) => Backend::Sqlite,
            Db::Postgres(_) => Backend::Postgres,
        }
    }

    /// Runs `f` in one transaction: everything it wrote is kept if it returns `Ok`, nothing if not.
    pub fn transaction<T>(&self, f: impl FnOnce(&mut Conn<'_>) -> Result<T>) -> Result<T> {
        match self {
            Db::Sqlite(pool) => {
                let mut c: PooledConnection<_> = pool.get()?;
                // IMMEDIATE takes the write lock up front, so two writers never deadlock upgrading.
                c.immediate_transaction(|c| f(&mut Conn::Sqlite(c)))
            }
            Db::Postgres(pool) => {
                let mut c = pool.get()?;
                c.transaction(|c| f(&mut Conn::Postgres(c)))
            }
        }
    }

    /// Runs `f` on a connection without a transaction (reads).
    pub fn read<T>(&self, f: impl FnOnce(&mut Conn<'_>) -> Result<T>) -> Result<T> {
        match self {
            Db::Sqlite(pool) => f(&mut Conn::Sqlite(&mut *pool.get()?)),
            Db::Postgres(pool) => f(&mut Conn::Postgres(&mut *pool.get()?)),
        }
    }
}

/// A connection of either backend.
pub enum Conn<'a> {
    Sqlite(&'a mut SqliteConnection),
    Postgres(&'a mut PgConnection),
}

/// Runs the same diesel expression on whichever concrete connection `$conn` holds.
macro_rules! on_conn {
    ($conn:expr, $c:ident => $body:expr) => {
        match $conn {
            $crate::store::Conn::Sqlite($c) => $body,
            $crate::store::Conn::Postgres($c) => $body,
        }
    };
}
pub(crate) use on_conn;

/// A single integer column named `n` (counts, ids).
#[derive(Debug, diesel::QueryableByName)]
pub(crate) struct Count {
    #[diesel(sql_type = BigInt)]
    pub(crate) n: i64,
}

impl Conn<'_> {
    pub fn backend(&self) -> Backend {
        match self {
            Conn::Sqlite(_) => Backend::Sqlite,
            Conn::Postgres(_) => Backend::Postgres,
        }
    }

    /// Loads the rows of a built query.
    pub fn load<R>(&mut self, sql: Sql) -> Result<Vec<R>>
    where
        R: diesel::QueryableByName<diesel::sqlite::Sqlite> + diesel::QueryableByName<diesel::pg::Pg> + 'static,
    {
        Ok(match self {
            Conn::Sqlite(c) => {
                let mut q = diesel::sql_query(sql.text).into_boxed::<diesel::sqlite::Sqlite>();
                for b in sql.binds {
                    q = match b {
                        Bind::Text(s) => q.bind::<Text, _>(s),
                        Bind::Int(i) => q.bind::<BigInt, _>(i),
                    };
                }
                q.load(*c)?
            }
            Conn::Postgres(c) => {
                let mut q = diesel::sql_query(sql.text).into_boxed::<diesel::pg::Pg>();
                for b in sql.binds {
                    q = match b {
                        Bind::Text(s) => q.bind::<Text, _>(s),
                        Bind::Int(i) => q.bind::<BigInt, _>(i),
                    };
                }
                q.load(*c)?
            }
        })
    }

    /// Runs a built `SELECT COUNT(*) AS n …`.
    pub fn count(&mut self, sql: Sql) -> Result<i64> {
        Ok(self.load::<Count>(sql)?.first().map(|c| c.n).unwrap_or(0))
    }
}
