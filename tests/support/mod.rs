//! The harness every end-to-end test uses: a throw-away database per test,
//! the real catalog data, a local HTTP server over fixture files, and
//! helpers to load catalogs and count what is stored.

#![allow(dead_code)] // each test file uses a different part of the harness

pub mod app;
pub mod jobs;
pub mod servers;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use sea_orm::{ConnectionTrait, DatabaseConnection, Statement};
use softcat_shared::config::FetchConfig;
use softcat_shared::db;
use softcat_shared::fetch::Fetcher;
use softcat_shared::loader::{self, LoadError, LoadOptions, LoadReport, NoProgress};
use softcat_shared::sources::eessi::EessiSource;
use softcat_shared::sources::spack::SpackSource;

/// A database of its own for one test, migrated, dropped when the test ends
/// (also when it panics).
pub struct TestDb {
    pub url: String,
    pub conn: DatabaseConnection,
}

impl TestDb {
    pub async fn new() -> Self {
        let name = format!("softcat_test_{}", uuid::Uuid::new_v4().simple());
        let url = format!("{}/{name}", servers::postgres_url());
        db::ensure_database(&url)
            .await
            .expect("create test database");
        let conn = db::connect(&url).await.expect("connect to test database");
        db::migrate(&conn).await.expect("migrate test database");
        Self { url, conn }
    }

    /// Number of rows a query counts.
    pub async fn count(&self, sql: &str) -> u64 {
        let row = self
            .conn
            .query_one_raw(Statement::from_string(
                self.conn.get_database_backend(),
                sql.to_owned(),
            ))
            .await
            .expect(sql)
            .expect("count row");
        row.try_get_by_index::<i64>(0).expect("count value") as u64
    }

    /// Every row a query returns, as one JSON object each (the query
    /// names its columns).
    pub async fn rows(&self, sql: &str) -> Vec<serde_json::Value> {
        let sql = format!("SELECT to_jsonb(r) AS row FROM ({sql}) r");
        self.conn
            .query_all_raw(Statement::from_string(
                self.conn.get_database_backend(),
                sql.clone(),
            ))
            .await
            .expect(&sql)
            .iter()
            .map(|row| row.try_get::<serde_json::Value>("", "row").expect("row"))
            .collect()
    }

    /// The single text value a query returns.
    pub async fn text(&self, sql: &str) -> String {
        let row = self
            .conn
            .query_one_raw(Statement::from_string(
                self.conn.get_database_backend(),
                sql.to_owned(),
            ))
            .await
            .expect(sql)
            .unwrap_or_else(|| panic!("no row for {sql}"));
        row.try_get_by_index::<String>(0).expect("text value")
    }

    /// Packages, versions and targets stored for catalog `name` `version`.
    pub async fn catalog_size(&self, name: &str, version: &str) -> (u64, u64, u64) {
        let catalog = format!(
            "(SELECT id FROM software_catalogs WHERE name = '{name}' AND version = '{version}')"
        );
        let packages = self
            .count(&format!(
                "SELECT count(*) FROM software_packages WHERE catalog_id = {catalog}"
            ))
            .await;
        let versions = self
            .count(&format!(
                "SELECT count(*) FROM software_versions v JOIN software_packages p \
                 ON p.id = v.package_id WHERE p.catalog_id = {catalog}"
            ))
            .await;
        let targets = self
            .count(&format!(
                "SELECT count(*) FROM software_targets t JOIN software_versions v \
                 ON v.id = t.version_id JOIN software_packages p ON p.id = v.package_id \
                 WHERE p.catalog_id = {catalog}"
            ))
            .await;
        (packages, versions, targets)
    }

    /// Every stored row of the catalog tables as text, to prove that a failed
    /// or dry load wrote nothing.
    pub async fn dump(&self) -> Vec<String> {
        let mut rows = Vec::new();
        for table in [
            "software_catalogs",
            "software_packages",
            "software_versions",
            "software_targets",
        ] {
            let result = self
                .conn
                .query_all_raw(Statement::from_string(
                    self.conn.get_database_backend(),
                    format!("SELECT t::text AS row FROM {table} t ORDER BY id"),
                ))
                .await
                .expect("dump");
            rows.extend(
                result
                    .into_iter()
                    .map(|row| row.try_get::<String>("", "row").expect("row text")),
            );
        }
        rows
    }

    pub async fn load_spack(
        &self,
        source: &SpackSource,
        options: LoadOptions,
    ) -> Result<LoadReport, LoadError> {
        self.load_spack_with(source, options, &FetchConfig::default())
            .await
    }

    pub async fn load_spack_with(
        &self,
        source: &SpackSource,
        options: LoadOptions,
        fetch: &FetchConfig,
    ) -> Result<LoadReport, LoadError> {
        let fetcher = Fetcher::new(fetch).expect("fetcher");
        loader::load_source(&self.conn, source, &fetcher, options, &NoProgress).await
    }

    pub async fn load_eessi(
        &self,
        source: &EessiSource,
        options: LoadOptions,
    ) -> Result<LoadReport, LoadError> {
        let fetcher = Fetcher::new(&FetchConfig::default()).expect("fetcher");
        loader::load_source(&self.conn, source, &fetcher, options, &NoProgress).await
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let url = self.url.clone();
        // Drop runs inside the test's runtime, which cannot block on async
        // work: drop the database from a thread with a runtime of its own.
        let dropped = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime")
                .block_on(db::drop_database(&url))
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("could not drop test database {}", self.url);
        }
    }
}

/// The real catalog data: `$SOFTCAT_DATA_DIR`, or `../shared/data` beside
/// the repository.
pub fn data_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::var_os("SOFTCAT_DATA_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data"));
        assert!(
            dir.join("SOURCES.md").exists(),
            "real catalog data not found at {}; set SOFTCAT_DATA_DIR",
            dir.display()
        );
        dir
    })
}

pub fn data_file(relative: &str) -> String {
    data_dir().join(relative).to_string_lossy().into_owned()
}

/// A directory of its own for one test's files, removed at the end.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new() -> Self {
        let dir = std::env::temp_dir().join(format!("softcat-test-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        Self(dir)
    }

    pub fn write(&self, name: &str, contents: impl AsRef<[u8]>) -> String {
        let path = self.0.join(name);
        std::fs::write(&path, contents).expect("write temp file");
        path.to_string_lossy().into_owned()
    }

    pub fn path(&self) -> String {
        self.0.to_string_lossy().into_owned()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A real HTTP server on a free local port serving the files of a directory
/// (404 for absent ones), stopped when dropped.
pub struct FileServer {
    pub base_url: String,
    task: tokio::task::JoinHandle<()>,
}

impl FileServer {
    pub async fn serve(dir: &Path) -> Self {
        use poem::listener::{Acceptor, Listener, TcpListener};
        let acceptor = TcpListener::bind("127.0.0.1:0")
            .into_acceptor()
            .await
            .expect("bind");
        let address = acceptor.local_addr()[0]
            .as_socket_addr()
            .copied()
            .expect("tcp address");
        let app = poem::endpoint::StaticFilesEndpoint::new(dir);
        let task = tokio::spawn(async move {
            let _ = poem::Server::new_with_acceptor(acceptor).run(app).await;
        });
        Self {
            base_url: format!("http://{address}"),
            task,
        }
    }
}

impl Drop for FileServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A local URL where nothing listens.
pub fn unreachable_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("address").port();
    drop(listener);
    format!("http://127.0.0.1:{port}/repology.json")
}

pub fn spack_source(data_url: impl Into<String>) -> SpackSource {
    SpackSource {
        data_url: data_url.into(),
        catalog_name: "Spack".into(),
        catalog_version: None,
    }
}

pub fn eessi_source(api_url: impl Into<String>) -> EessiSource {
    EessiSource {
        api_url: api_url.into(),
        catalog_name: "EESSI".into(),
        catalog_version: None,
        include_extensions: true,
    }
}

pub const UPDATE: LoadOptions = LoadOptions {
    update_existing: true,
    dry_run: false,
    allow_shrink: false,
    limits: loader::ShrinkLimits::DEFAULT,
    bounds: loader::SourceBounds::DEFAULT,
};
pub const DRY_RUN: LoadOptions = LoadOptions {
    update_existing: true,
    dry_run: true,
    allow_shrink: false,
    limits: loader::ShrinkLimits::DEFAULT,
    bounds: loader::SourceBounds::DEFAULT,
};
pub const FIRST_LOAD: LoadOptions = LoadOptions {
    update_existing: false,
    dry_run: false,
    allow_shrink: false,
    limits: loader::ShrinkLimits::DEFAULT,
    bounds: loader::SourceBounds::DEFAULT,
};
