//! No caller can exhaust the API or make it answer 500: writes are refused
//! before their body is read, bodies are bounded, errors echo only an
//! excerpt, the metrics keep a fixed label set, held connections are
//! closed, pages past the last are refused, and text fields are bounded.
//! Each test talks to the real server over TCP.

mod support;

use std::time::{Duration, Instant};

use poem::http::StatusCode;
use reqwest::Method;
use serde_json::{Value, json};
use support::app::TestApp;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The address `host:port` of an app.
fn address(app: &TestApp) -> String {
    app.base.trim_start_matches("http://").to_owned()
}

/// Sends `head` (and `body`) on a fresh connection, without finishing
/// anything the head promises, and reads the answer's status line and body
/// within `within`.
async fn raw(app: &TestApp, head: &str, body: &[u8], within: Duration) -> (u16, Value) {
    let stream = TcpStream::connect(address(app)).await.expect("connect");
    raw_on(stream, head, body, within).await
}

/// [`raw`] on a connection already open.
async fn raw_on(mut stream: TcpStream, head: &str, body: &[u8], within: Duration) -> (u16, Value) {
    stream.write_all(head.as_bytes()).await.expect("write head");
    stream.write_all(body).await.expect("write body");
    let mut answer = Vec::new();
    let read = tokio::time::timeout(within, async {
        let mut buffer = [0u8; 8192];
        loop {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(n) => answer.extend_from_slice(&buffer[..n]),
            }
            if complete(&answer) {
                break;
            }
        }
    })
    .await;
    assert!(
        read.is_ok() || complete(&answer),
        "no answer within {within:?} to {head:?}: got {:?}",
        String::from_utf8_lossy(&answer)
    );
    let text = String::from_utf8_lossy(&answer).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {text:?}"));
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, body)| serde_json::from_str(body).unwrap_or(Value::Null))
        .unwrap_or(Value::Null);
    (status, body)
}

/// Whether a buffer holds a whole answer with a `content-length` body.
fn complete(answer: &[u8]) -> bool {
    let text = String::from_utf8_lossy(answer);
    let Some((head, body)) = text.split_once("\r\n\r\n") else {
        return false;
    };
    head.lines()
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse::<usize>().ok())
                .flatten()
        })
        .is_some_and(|length| body.len() >= length)
}

/// A request head announcing a JSON body of `length` bytes.
fn head(method: &str, path: &str, token: Option<&str>, length: usize) -> String {
    let authorization = token
        .map(|token| format!("Authorization: Token {token}\r\n"))
        .unwrap_or_default();
    format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\n{authorization}\
         Content-Type: application/json\r\nContent-Length: {length}\r\n\r\n"
    )
}

#[tokio::test]
async fn writes_by_no_one_are_refused_before_their_body_is_read() {
    let app = TestApp::with_samples().await;
    let staff = app.token("staff", true).await;
    let catalog = app
        .get(
            "/api/marketplace-software-catalogs/?name=EESSI",
            Some(&staff),
        )
        .await
        .body["results"][0]["uuid"]
        .as_str()
        .unwrap()
        .to_owned();
    let offering = app
        .send(
            Method::POST,
            "/api/marketplace-provider-offerings/",
            Some(&staff),
            Some(json!({"name": "HPC", "type": "hpc"})),
        )
        .await
        .body["uuid"]
        .as_str()
        .unwrap()
        .to_owned();
    let writes = [
        ("POST", "/api/marketplace-software-catalogs/".to_owned()),
        (
            "PATCH",
            format!("/api/marketplace-software-catalogs/{catalog}/"),
        ),
        (
            "DELETE",
            format!("/api/marketplace-software-catalogs/{catalog}/"),
        ),
        ("POST", "/api/marketplace-provider-offerings/".to_owned()),
        (
            "POST",
            format!("/api/marketplace-provider-offerings/{offering}/add_software_catalog/"),
        ),
        (
            "PATCH",
            format!("/api/marketplace-provider-offerings/{offering}/update_software_catalog/"),
        ),
        ("POST", "/api/admin/jobs/".to_owned()),
        ("PATCH", "/api/admin/settings/".to_owned()),
        ("POST", "/api/admin/software-catalogs/refresh/".to_owned()),
    ];
    for (method, path) in &writes {
        for token in [None, Some("not-a-token")] {
            // 10 MB announced, a few bytes sent: an answer at once means the
            // body was not waited for.
            let (status, body) = raw(
                &app,
                &head(method, path, token, 10_000_000),
                b"{\"name\": ",
                Duration::from_secs(5),
            )
            .await;
            assert_eq!(status, 401, "{method} {path} {token:?}: {body}");
            assert!(body["detail"].is_string(), "{body}");
        }
        // A malformed body from no one: 401, not 400.
        let answer = app
            .client
            .request(
                Method::from_bytes(method.as_bytes()).unwrap(),
                format!("{}{path}", app.base),
            )
            .header("Content-Type", "application/json")
            .body("{not json")
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status().as_u16(), 401, "{method} {path}");
    }
    // The catalog is still there: nothing was written.
    assert_eq!(
        app.get(
            &format!("/api/marketplace-software-catalogs/{catalog}/"),
            Some(&staff)
        )
        .await
        .status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn the_token_keyword_is_case_insensitive() {
    let app = TestApp::spawn(false).await;
    let token = app.token("reader", false).await;
    for keyword in ["Token", "token", "TOKEN", "tOkEn"] {
        let answer = app
            .client
            .get(format!("{}/api/marketplace-software-catalogs/", app.base))
            .header("Authorization", format!("{keyword} {token}"))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status().as_u16(), 200, "{keyword}");
    }
    let bearer = app
        .client
        .get(format!("{}/api/marketplace-software-catalogs/", app.base))
        .header("Authorization", format!("Bearer {token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(bearer.status().as_u16(), 401);
}

#[tokio::test]
async fn bodies_over_the_limit_are_413_before_they_are_read() {
    let app = TestApp::spawn(false).await;
    let staff = app.token("staff", true).await;
    let path = "/api/marketplace-software-catalogs/";

    // Announced: refused at once, the body never waited for.
    let (status, body) = raw(
        &app,
        &head("POST", path, Some(&staff), 10_000_000),
        b"{\"name\": \"",
        Duration::from_secs(5),
    )
    .await;
    assert_eq!(status, 413, "{body}");
    assert_eq!(body["field"], "body", "{body}");

    // Not announced (chunked): read up to the limit, then refused.
    let mut chunked = Vec::new();
    let chunk = vec![b' '; 16 * 1024];
    for _ in 0..8 {
        chunked.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        chunked.extend_from_slice(&chunk);
        chunked.extend_from_slice(b"\r\n");
    }
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Token {staff}\r\n\
         Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    );
    let (status, body) = raw(&app, &head, &chunked, Duration::from_secs(5)).await;
    assert_eq!(status, 413, "{body}");

    // Within the limit: served.
    let created = app
        .send(
            Method::POST,
            path,
            Some(&staff),
            Some(
                json!({"name": "Local", "version": "1", "catalog_type": "source_package",
                        "description": "x".repeat(9_000)}),
            ),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
}

/// A client still sending a body far over the limit gets the 413, not a
/// reset connection: curl streaming 200 MB chunked from its standard input
/// (which, before the rest of a refused body was read and discarded,
/// reported a broken pipe in about a third of the runs).
#[tokio::test]
async fn a_client_still_sending_gets_its_413() {
    let app = TestApp::spawn(false).await;
    let staff = app.token("staff", true).await;
    let url = format!("{}/api/marketplace-software-catalogs/", app.base);
    for run in 0..8 {
        let output = tokio::process::Command::new("sh")
            .arg("-c")
            .arg(
                "head -c 200M /dev/zero | curl -s -o /dev/null -w '%{http_code}' -X POST \
                 -H 'Content-Type: application/json' -H \"Authorization: Token $TOKEN\" -T - \"$URL\"",
            )
            .env("TOKEN", &staff)
            .env("URL", &url)
            .output()
            .await
            .expect("sh and curl");
        let answer = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success() && answer == "413",
            "run {run}: curl {:?} answered {answer:?}",
            output.status
        );
    }
}

#[tokio::test]
async fn errors_echo_only_an_excerpt_of_bad_input() {
    let app = TestApp::spawn(false).await;
    let staff = app.token("staff", true).await;
    let long = "y".repeat(50_000);
    for body in [
        json!({"name": [long], "version": "1", "catalog_type": "source_package"}),
        json!({"name": "A", "version": {"v": long}, "catalog_type": "source_package"}),
        json!({"name": "A", "version": "1", "catalog_type": long}),
    ] {
        let answer = app
            .send(
                Method::POST,
                "/api/marketplace-software-catalogs/",
                Some(&staff),
                Some(body),
            )
            .await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{}", answer.body);
        let detail = answer.body["detail"].as_str().unwrap();
        assert!(detail.chars().count() <= 220, "{} chars", detail.len());
    }
    let settings = app
        .send(
            Method::PATCH,
            "/api/admin/settings/",
            Some(&staff),
            Some(json!({ "K".repeat(50_000): 1 })),
        )
        .await;
    assert_eq!(
        settings.status,
        StatusCode::BAD_REQUEST,
        "{}",
        settings.body
    );
    assert!(settings.body.to_string().len() < 600, "{}", settings.body);
}

#[tokio::test]
async fn unknown_paths_are_one_series_in_the_metrics() {
    let app = TestApp::spawn(false).await;
    let token = app.token("reader", false).await;
    for i in 0..200 {
        let path = format!("/no-such-path-{i}/deeper");
        let answer = app.get(&path, Some(&token)).await;
        assert_eq!(answer.status, StatusCode::NOT_FOUND);
        app.send(Method::POST, &format!("/no-such-write-{i}"), None, None)
            .await;
        app.get(
            &format!("/api/marketplace-software-catalogs/not-a-uuid-{i}/"),
            Some(&token),
        )
        .await;
    }
    let metrics = app
        .client
        .request(
            Method::from_bytes(b"BREW").unwrap(),
            format!("{}/metrics", app.base),
        )
        .send()
        .await
        .unwrap();
    assert!(metrics.status().is_client_error());
    let text = app
        .client
        .get(format!("{}/metrics", app.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let series: Vec<&str> = text
        .lines()
        .filter(|line| line.starts_with("softcat_http_requests_total{"))
        .collect();
    assert!(
        !series
            .iter()
            .any(|line| line.contains("no-such") || line.contains("not-a-uuid")),
        "{series:#?}"
    );
    let unmatched: Vec<&&str> = series
        .iter()
        .filter(|line| line.contains("route=\"unmatched\""))
        .collect();
    // GET 404 and POST 401: one series each, whatever the path.
    assert!(
        (1..=4).contains(&unmatched.len()),
        "{unmatched:#?} of {series:#?}"
    );
    assert!(
        series.iter().any(|line| line
            .contains("route=\"/api/marketplace-software-catalogs/{id}\"")
            && line.contains("status=\"404\"")),
        "{series:#?}"
    );
    assert!(!series.iter().any(|line| line.contains("BREW")));
}

/// Opens `n` connections that send part of a request line, and never more.
async fn held(app: &TestApp, n: usize) -> Vec<TcpStream> {
    let mut streams = Vec::new();
    for _ in 0..n {
        let mut stream = TcpStream::connect(address(app)).await.expect("connect");
        stream.write_all(b"GET /hea").await.expect("write");
        streams.push(stream);
    }
    streams
}

/// Whether the server closed `stream` within `within`.
async fn closed_within(stream: &mut TcpStream, within: Duration) -> bool {
    let mut buffer = [0u8; 1024];
    let deadline = Instant::now() + within;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, stream.read(&mut buffer)).await {
            Err(_) => return false,
            Ok(Ok(0) | Err(_)) => return true,
            // An error answer (408) before the close is fine.
            Ok(Ok(_)) => continue,
        }
    }
}

#[tokio::test]
async fn held_connections_are_closed_after_the_header_timeout() {
    let app = TestApp::spawn_with(|api| {
        api.header_read_timeout_secs = 2;
        api.max_connections = 64;
    })
    .await;
    let mut streams = held(&app, 40).await;
    let mut silent = TcpStream::connect(address(&app)).await.unwrap();

    // A fresh connection is served while they are held.
    let started = Instant::now();
    let health = app.get("/health", None).await;
    assert_eq!(health.status, StatusCode::OK);
    assert!(started.elapsed() < Duration::from_secs(1));

    for stream in &mut streams {
        assert!(
            closed_within(stream, Duration::from_secs(6)).await,
            "a half-sent request was kept open"
        );
    }
    assert!(closed_within(&mut silent, Duration::from_secs(3)).await);

    // Fresh connections are served as before. (The client's pooled one has
    // been idle as long as the timeout, and is closed by now, or about to be.)
    let health = reqwest::Client::new()
        .get(format!("{}/health", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status().as_u16(), 200);
}

#[tokio::test]
async fn connections_beyond_the_limit_are_refused_until_some_close() {
    let app = TestApp::spawn_with(|api| {
        api.header_read_timeout_secs = 2;
        api.max_connections = 8;
    })
    .await;
    let streams = held(&app, 8).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (status, body) = raw(
        &app,
        "GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n",
        b"",
        Duration::from_secs(2),
    )
    .await;
    assert_eq!(status, 503, "{body}");
    // Once the held ones time out, fresh connections are served again.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (status, _) = raw(
        &app,
        "GET /health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
        b"",
        Duration::from_secs(2),
    )
    .await;
    assert_eq!(status, 200);
    drop(streams);
}

/// A connection to the app from another address of this machine: all of
/// 127.0.0.0/8 is the loopback interface.
async fn connect_from(app: &TestApp, source: &str) -> TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket
        .bind(format!("{source}:0").parse().expect("source address"))
        .expect("bind the source address");
    socket
        .connect(address(app).parse().expect("app address"))
        .await
        .expect("connect")
}

#[tokio::test]
async fn one_client_cannot_take_every_connection() {
    let app = TestApp::spawn_with(|api| {
        api.max_connections = 16;
        api.max_connections_per_client = 4;
    })
    .await;
    let health = "GET /health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
    let mut held = Vec::new();
    for _ in 0..4 {
        let mut stream = connect_from(&app, "127.0.0.2").await;
        stream.write_all(b"GET /hea").await.expect("write");
        held.push(stream);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;

    // One more from that client is refused, saying why.
    let stream = connect_from(&app, "127.0.0.2").await;
    let (status, body) = raw_on(stream, health, b"", Duration::from_secs(2)).await;
    assert_eq!(status, 503, "{body}");
    assert!(
        body["detail"]
            .as_str()
            .is_some_and(|detail| detail.contains("from this address")),
        "{body}"
    );
    // Other clients are served while it holds its share.
    for source in ["127.0.0.1", "127.0.0.3"] {
        let stream = connect_from(&app, source).await;
        let (status, _) = raw_on(stream, health, b"", Duration::from_secs(2)).await;
        assert_eq!(status, 200, "from {source}");
    }
    // A connection it closes gives its slot back.
    drop(held.pop());
    tokio::time::sleep(Duration::from_millis(200)).await;
    let stream = connect_from(&app, "127.0.0.2").await;
    let (status, _) = raw_on(stream, health, b"", Duration::from_secs(2)).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn a_page_past_the_last_is_404_naming_page() {
    let app = TestApp::with_samples().await;
    let token = app.token("reader", false).await;
    let staff = app.token("staff", true).await;
    let count = app
        .get(
            "/api/marketplace-software-packages/?page_size=10",
            Some(&token),
        )
        .await
        .body["count"]
        .as_u64()
        .unwrap();
    let last = count.div_ceil(10);
    let answer = app
        .get(
            &format!("/api/marketplace-software-packages/?page_size=10&page={last}"),
            Some(&token),
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.body["next"], Value::Null);
    for path in [
        format!(
            "/api/marketplace-software-packages/?page_size=10&page={}",
            last + 1
        ),
        "/api/marketplace-software-packages/?page=99999999".to_owned(),
        "/api/marketplace-software-versions/?page=99999999".to_owned(),
        "/api/marketplace-software-targets/?page=99999999".to_owned(),
        "/api/marketplace-software-catalogs/?page=2".to_owned(),
        "/api/marketplace-provider-offerings/?page=2".to_owned(),
    ] {
        let answer = app.get(&path, Some(&staff)).await;
        assert_eq!(
            answer.status,
            StatusCode::NOT_FOUND,
            "{path}: {}",
            answer.body
        );
        assert_eq!(answer.body["field"], "page", "{path}");
    }
    let jobs = app.get("/api/admin/jobs/?page=5", Some(&staff)).await;
    assert_eq!(jobs.status, StatusCode::NOT_FOUND);
    // The first page of nothing is an empty page, not an error.
    let empty = app
        .get(
            "/api/marketplace-software-packages/?name=no-such-package",
            Some(&token),
        )
        .await;
    assert_eq!(empty.status, StatusCode::OK);
    assert_eq!(empty.body["count"], 0);
}

#[tokio::test]
async fn text_fields_are_bounded_and_control_characters_refused() {
    let app = TestApp::with_samples().await;
    let staff = app.token("staff", true).await;
    app.token("manager", false).await;
    // Varied text: Postgres compresses a repeated one below the btree limit.
    let long = |n: usize| {
        let mut text = String::new();
        while text.len() < n {
            text.push_str(&uuid::Uuid::new_v4().simple().to_string());
        }
        text.truncate(n);
        text
    };
    let catalog = |name: String, version: String| json!({"name": name, "version": version, "catalog_type": "source_package"});
    let cases = [
        (
            Method::POST,
            "/api/marketplace-software-catalogs/".to_owned(),
            catalog(long(2_685), "1".into()),
            "name",
        ),
        (
            Method::POST,
            "/api/marketplace-software-catalogs/".to_owned(),
            catalog("A".into(), long(3_000)),
            "version",
        ),
        (
            Method::POST,
            "/api/marketplace-software-catalogs/".to_owned(),
            catalog("A\nB".into(), "1".into()),
            "name",
        ),
        (
            Method::POST,
            "/api/marketplace-software-catalogs/".to_owned(),
            json!({"name": "A", "version": "1", "catalog_type": "source_package",
                   "description": "ok\n\u{7}bell"}),
            "description",
        ),
        (
            Method::POST,
            "/api/marketplace-provider-offerings/".to_owned(),
            json!({"name": long(10_000), "type": "hpc"}),
            "name",
        ),
        (
            Method::POST,
            "/api/marketplace-provider-offerings/".to_owned(),
            json!({"name": "O", "type": "hpc", "managers": ["manager\u{0}"]}),
            "managers",
        ),
        (
            Method::POST,
            "/api/marketplace-provider-offerings/".to_owned(),
            json!({"name": "O", "type": long(5_000)}),
            "type",
        ),
        (
            Method::POST,
            "/api/admin/jobs/".to_owned(),
            json!({"kind": "load", "source": "spack", "catalog_name": long(3_000)}),
            "catalog_name",
        ),
        (
            Method::POST,
            "/api/admin/jobs/".to_owned(),
            json!({"kind": "load", "source": "spack", "url": "/data/\u{0}x"}),
            "url",
        ),
        (
            Method::POST,
            "/api/marketplace-software-catalogs/import_catalog/".to_owned(),
            json!({"name": "EESSI", "version": long(3_000)}),
            "version",
        ),
        (
            Method::PATCH,
            "/api/admin/settings/".to_owned(),
            json!({"SOFTWARE_CATALOG_EESSI_API_URL": "/data/\u{0}"}),
            "SOFTWARE_CATALOG_EESSI_API_URL",
        ),
        (
            Method::PATCH,
            "/api/admin/settings/".to_owned(),
            json!({"SOFTWARE_CATALOG_SPACK_VERSION": long(5_000)}),
            "SOFTWARE_CATALOG_SPACK_VERSION",
        ),
        (
            Method::POST,
            "/api/marketplace-software-catalogs/".to_owned(),
            json!({"name": "A", "version": "1", "catalog_type": "source_package",
                   "source_url": "javascript:alert(1)"}),
            "source_url",
        ),
        (
            Method::POST,
            "/api/marketplace-software-catalogs/".to_owned(),
            json!({"name": "A", "version": "1", "catalog_type": "source_package",
                   "source_url": " data:text/html,<script>x</script>"}),
            "source_url",
        ),
    ];
    for (method, path, body, field) in cases {
        let answer = app
            .send(method.clone(), &path, Some(&staff), Some(body))
            .await;
        assert_eq!(
            answer.status,
            StatusCode::BAD_REQUEST,
            "{method} {path} {field}: {}",
            answer.body
        );
        assert_eq!(answer.body["field"], field, "{}", answer.body);
    }

    // Changes too.
    let eessi = app
        .get(
            "/api/marketplace-software-catalogs/?name=EESSI",
            Some(&staff),
        )
        .await
        .body["results"][0]["uuid"]
        .as_str()
        .unwrap()
        .to_owned();
    let patch = app
        .send(
            Method::PATCH,
            &format!("/api/marketplace-software-catalogs/{eessi}/"),
            Some(&staff),
            Some(json!({"version": long(3_000)})),
        )
        .await;
    assert_eq!(patch.status, StatusCode::BAD_REQUEST, "{}", patch.body);
    assert_eq!(patch.body["field"], "version");
    assert_eq!(patch.body["detail"], "version: at most 255 characters");
    let offering = app
        .send(
            Method::POST,
            "/api/marketplace-provider-offerings/",
            Some(&staff),
            Some(json!({"name": "O", "type": "hpc"})),
        )
        .await;
    let offering = offering.body["uuid"].as_str().unwrap();
    let link = app
        .send(
            Method::POST,
            &format!("/api/marketplace-provider-offerings/{offering}/add_software_catalog/"),
            Some(&staff),
            Some(json!({"catalog": eessi, "enabled_cpu_family": ["x86_64\u{0}"]})),
        )
        .await;
    assert_eq!(link.status, StatusCode::BAD_REQUEST, "{}", link.body);
    assert_eq!(link.body["field"], "enabled_cpu_family");

    // At the bounds: stored. Free text keeps its line breaks.
    let created = app
        .send(
            Method::POST,
            "/api/marketplace-software-catalogs/",
            Some(&staff),
            Some(
                json!({"name": long(255), "version": long(255), "catalog_type": "source_package",
                        "description": "line one\nline two\ttabbed",
                        "source_url": "https://example.org/catalog.json"}),
            ),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);

    // The bounds are in the OpenAPI document.
    let document = app.get("/api/openapi.json", None).await.body;
    let name = &document["components"]["schemas"]["CatalogCreate"]["properties"]["name"];
    assert_eq!(name["maxLength"], 255, "{name}");
    assert!(name["pattern"].is_string(), "{name}");
    let managers = &document["components"]["schemas"]["OfferingCreate"]["properties"]["managers"];
    assert_eq!(managers["maxItems"], 100, "{managers}");
    assert_eq!(managers["items"]["maxLength"], 150, "{managers}");
}
