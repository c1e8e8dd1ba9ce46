//! `softcat standalone --load-sample`: the API, a worker and the scheduler
//! in one process, started the way a newcomer starts it.

mod support;

use std::time::{Duration, Instant};

use serde_json::Value;
use support::jobs::*;
use support::*;

async fn get(client: &reqwest::Client, url: &str, token: Option<&str>) -> (u16, Value) {
    let mut request = client.get(url);
    if let Some(token) = token {
        request = request.header("Authorization", format!("Token {token}"));
    }
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    let body = response.bytes().await.expect("body");
    (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

#[tokio::test]
async fn standalone_serves_the_sample_runs_jobs_and_stops_cleanly() {
    let db = TestDb::new().await;
    let queue = TestQueue::new();
    let address = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().to_string()
    };
    let mut process = RoleProcess::spawn(
        "standalone --load-sample",
        &db,
        &queue,
        &[("SOFTCAT_API__LISTEN", &address)],
    );
    let base = format!("http://{address}");
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(response) = client.get(format!("{base}/ready")).send().await
            && response.status().is_success()
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "never ready:\n{}",
            process.log_text()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    softcat_shared::accounts::create_user(&db.conn, "admin", true)
        .await
        .unwrap();
    let token = softcat_shared::accounts::create_token(&db.conn, "admin")
        .await
        .unwrap();
    let (status, catalogs) = get(
        &client,
        &format!("{base}/api/marketplace-software-catalogs/"),
        Some(&token),
    )
    .await;
    assert_eq!(status, 200);
    let found: Vec<(String, String, i64)> = catalogs["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap().to_owned(),
                c["version"].as_str().unwrap().to_owned(),
                c["package_count"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        found,
        [
            ("EESSI".to_owned(), "2023.06".to_owned(), 5),
            ("Spack".to_owned(), "2025-03-20".to_owned(), 8)
        ]
    );

    // The embedded worker runs a job enqueued over the API.
    let answer = client
        .post(format!("{base}/api/admin/jobs/"))
        .header("Authorization", format!("Token {token}"))
        .header("Content-Type", "application/json")
        .body(r#"{"kind": "probe"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status().as_u16(), 202);
    let body: Value = serde_json::from_slice(&answer.bytes().await.unwrap()).unwrap();
    let id = body["id"].as_str().unwrap().parse().unwrap();
    let job = wait_for_job(&db, id, Duration::from_secs(30), &[&process], ended).await;
    assert_eq!(job.state, "succeeded");

    process.signal("TERM");
    let status = process.wait_exit(Duration::from_secs(20));
    assert!(status.success(), "{status:?}\n{}", process.log_text());
    assert!(process.log_text().contains("standalone stopped"));
}
