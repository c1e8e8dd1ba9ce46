//! A running API over a test database: `TestApp::spawn()` binds a free
//! port, serves the real `softcat_api` app, and offers HTTP helpers.

use poem::http::StatusCode;
use serde_json::Value;
use softcat_shared::accounts;
use softcat_shared::config::ApiConfig;

use std::sync::Arc;

use super::jobs::{TestQueue, test_config};
use super::{TempDir, TestDb, UPDATE, data_file, eessi_source, spack_source};

/// The API of one test, with its own database.
pub struct TestApp {
    pub db: TestDb,
    pub queue: TestQueue,
    pub base: String,
    pub client: reqwest::Client,
    task: tokio::task::JoinHandle<()>,
}

/// A response: status, JSON body (Null when empty) and headers.
pub struct Answer {
    pub status: StatusCode,
    pub body: Value,
    pub headers: reqwest::header::HeaderMap,
}

impl TestApp {
    /// An API over an empty, migrated database.
    pub async fn spawn(anonymous_reads: bool) -> Self {
        Self::spawn_with(|api| api.anonymous_reads = anonymous_reads).await
    }

    /// An API over an empty, migrated database, its API configuration
    /// changed by `configure` after the test defaults are set.
    pub async fn spawn_with(configure: impl FnOnce(&mut ApiConfig)) -> Self {
        let db = TestDb::new().await;
        let queue = TestQueue::new();
        let mut config = Arc::unwrap_or_clone(test_config(&db, &queue));
        config.api.listen = "127.0.0.1:0".into();
        config.api.public_url = None;
        config.api.anonymous_reads = false;
        config.api.shutdown_grace_secs = 1;
        configure(&mut config.api);
        let server = softcat_api::ApiServer::bind(
            Arc::new(config),
            db.conn.clone(),
            Arc::new(queue.client()),
        )
        .await
        .expect("bind API");
        let address = server.local_addr().expect("bound address");
        let task = tokio::spawn(async move {
            server
                .run_until(std::future::pending())
                .await
                .expect("serve API");
        });
        Self {
            db,
            queue,
            base: format!("http://{address}"),
            client: reqwest::Client::new(),
            task,
        }
    }

    /// An API with two real catalogs loaded through the loader: EESSI 2023.06
    /// from EESSI's published sample file, and Spack's published sample.
    pub async fn with_samples() -> Self {
        let app = Self::spawn(false).await;
        let dir = TempDir::new();
        let sample =
            std::fs::read(data_file("eessi/published-sample_software.json")).expect("EESSI sample");
        dir.write("eessi_api_metadata_software.json", sample);
        let mut eessi = eessi_source(dir.path());
        eessi.catalog_version = Some("2023.06".into());
        app.db.load_eessi(&eessi, UPDATE).await.expect("load EESSI");
        let spack = spack_source(data_file("spack/published-sample_repology.json"));
        app.db.load_spack(&spack, UPDATE).await.expect("load Spack");
        app
    }

    /// A new user's token.
    pub async fn token(&self, username: &str, staff: bool) -> String {
        accounts::create_user(&self.db.conn, username, staff)
            .await
            .expect("create user");
        accounts::create_token(&self.db.conn, username)
            .await
            .expect("create token")
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Answer {
        self.send(reqwest::Method::GET, path, token, None).await
    }

    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Answer {
        let mut request = self.client.request(method, format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.header("Authorization", format!("Token {token}"));
        }
        if let Some(body) = body {
            request = request
                .header("Content-Type", "application/json")
                .body(body.to_string());
        }
        let response = request.send().await.expect("request");
        let status = StatusCode::from_u16(response.status().as_u16()).expect("status");
        let headers = response.headers().clone();
        let bytes = response.bytes().await.expect("body");
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
        };
        Answer {
            status,
            body,
            headers,
        }
    }

    /// Every result of a listing, following `next` links.
    pub async fn all(&self, path: &str, token: &str) -> Vec<Value> {
        let mut results = Vec::new();
        let mut url = Some(format!("{}{path}", self.base));
        while let Some(next) = url {
            let answer = self
                .get(next.trim_start_matches(&self.base), Some(token))
                .await;
            assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
            results.extend(answer.body["results"].as_array().expect("results").clone());
            url = answer.body["next"].as_str().map(str::to_owned);
        }
        results
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The `name` of each object, in order.
pub fn names(objects: &[Value]) -> Vec<String> {
    objects
        .iter()
        .map(|object| object["name"].as_str().expect("name").to_owned())
        .collect()
}
