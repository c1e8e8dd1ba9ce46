//! Offerings, users and tokens managed end to end: staff edits and
//! deletes offerings and appoints their managers over the real API; the
//! operator commands `softcat users …` and `softcat tokens …` as processes;
//! and revocation: a token the API has verified and cached is refused by
//! it right after `softcat tokens revoke`, `users delete` or `users set`.

mod support;

use std::process::{Command, Output};
use std::time::{Duration, Instant};

use poem::http::StatusCode;
use reqwest::Method;
use sea_orm::ConnectionTrait;
use serde_json::{Value, json};
use support::app::TestApp;
use support::*;

const OFFERINGS: &str = "/api/marketplace-provider-offerings/";

fn softcat(database_url: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_softcat"))
        .args(args)
        .env("DATABASE_URL", database_url)
        .env("SOFTCAT_CONFIG", "/nonexistent/softcat.toml")
        .env("SOFTCAT_LOG", "warn")
        .output()
        .expect("run softcat")
}

/// The standard output of a command that must succeed.
fn ok(output: Output) -> String {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The one error line of a command that must fail.
fn fails(output: Output) -> String {
    assert!(
        !output.status.success(),
        "succeeded: {}",
        String::from_utf8_lossy(&output.stdout)
    );
    let error = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(error.lines().count(), 1, "not one line: {error}");
    assert!(error.starts_with("error: "), "{error}");
    error
}

fn squeeze(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Creates an offering as staff and returns its UUID.
async fn offering(app: &TestApp, staff: &str, name: &str, managers: &[&str]) -> String {
    let answer = app
        .send(
            Method::POST,
            OFFERINGS,
            Some(staff),
            Some(json!({"name": name, "type": "hpc", "managers": managers})),
        )
        .await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.body);
    answer.body["uuid"].as_str().unwrap().to_owned()
}

async fn catalog_uuid(app: &TestApp, token: &str, name: &str) -> String {
    let answer = app
        .get(
            &format!("/api/marketplace-software-catalogs/?name={name}"),
            Some(token),
        )
        .await;
    answer.body["results"][0]["uuid"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// The four callers who may not do a staff-only action, with the status
/// each gets: anonymous 401, a plain user, a manager of another offering
/// and a manager of this one 403.
struct Callers {
    staff: String,
    user: String,
    manager: String,
    other_manager: String,
}

impl Callers {
    async fn new(app: &TestApp) -> Self {
        Self {
            staff: app.token("staff", true).await,
            user: app.token("user", false).await,
            manager: app.token("manager", false).await,
            other_manager: app.token("other", false).await,
        }
    }

    fn refused(&self) -> [(Option<&str>, StatusCode); 4] {
        [
            (None, StatusCode::UNAUTHORIZED),
            (Some(&self.user), StatusCode::FORBIDDEN),
            (Some(&self.other_manager), StatusCode::FORBIDDEN),
            (Some(&self.manager), StatusCode::FORBIDDEN),
        ]
    }
}

#[tokio::test]
async fn staff_change_and_delete_offerings() {
    let app = TestApp::with_samples().await;
    let callers = Callers::new(&app).await;
    let staff = callers.staff.as_str();
    let mine = offering(&app, staff, "Mine", &["manager"]).await;
    offering(&app, staff, "Theirs", &["other"]).await;
    let path = format!("{OFFERINGS}{mine}/");
    let eessi = catalog_uuid(&app, staff, "EESSI").await;
    let linked = app
        .send(
            Method::POST,
            &format!("{path}add_software_catalog/"),
            Some(&callers.manager),
            Some(json!({"catalog": eessi})),
        )
        .await;
    assert_eq!(linked.status, StatusCode::CREATED, "{}", linked.body);
    let partition = app
        .send(
            Method::POST,
            &format!("{path}add_partition/"),
            Some(staff),
            Some(json!({"partition_name": "gpu", "gpu_arch": "nvidia/cc90"})),
        )
        .await;
    assert_eq!(partition.status, StatusCode::CREATED, "{}", partition.body);
    let qos = app
        .send(
            Method::POST,
            &format!("{path}add_qos/"),
            Some(staff),
            Some(json!({"name": "normal"})),
        )
        .await;
    assert_eq!(qos.status, StatusCode::CREATED, "{}", qos.body);
    let spack = catalog_uuid(&app, staff, "Spack").await;
    let on_partition = app
        .send(
            Method::POST,
            &format!("{path}add_software_catalog/"),
            Some(staff),
            Some(json!({"catalog": spack, "partition": partition.body["uuid"]})),
        )
        .await;
    assert_eq!(
        on_partition.status,
        StatusCode::CREATED,
        "{}",
        on_partition.body
    );
    // Read (and cache) the detail before changing it.
    assert_eq!(app.get(&path, Some(staff)).await.body["name"], "Mine");

    for (token, status) in callers.refused() {
        let answer = app
            .send(Method::PATCH, &path, token, Some(json!({"name": "Taken"})))
            .await;
        assert_eq!(answer.status, status, "{token:?}: {}", answer.body);
    }
    let changed = app
        .send(
            Method::PATCH,
            &path,
            Some(staff),
            Some(json!({"name": "Cluster A", "type": "slurm"})),
        )
        .await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.body);
    assert_eq!(changed.body["name"], "Cluster A");
    assert_eq!(changed.body["type"], "slurm");
    assert_eq!(changed.body["managers"], json!(["manager"]));
    assert_eq!(
        changed.body["software_catalogs"].as_array().unwrap().len(),
        2
    );
    assert_eq!(changed.body["partitions"].as_array().unwrap().len(), 1);
    let shown = app.get(&path, Some(&callers.user)).await;
    assert_eq!(shown.body["name"], "Cluster A", "the cached detail moved");
    let kept = app
        .send(
            Method::PATCH,
            &path,
            Some(staff),
            Some(json!({"type": "hpc"})),
        )
        .await;
    assert_eq!(kept.body["name"], "Cluster A", "absent fields are kept");
    assert_eq!(kept.body["type"], "hpc");

    let long_name = "n".repeat(256);
    let long_type = "t".repeat(101);
    for (body, field) in [
        (json!({"name": " "}), "name"),
        (json!({"name": long_name}), "name"),
        (json!({"type": long_type}), "type"),
        (json!({"name": "a\u{0}b"}), "name"),
    ] {
        let answer = app
            .send(Method::PATCH, &path, Some(staff), Some(body.clone()))
            .await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(answer.body["field"], field, "{body}: {}", answer.body);
    }
    let just_fits = app
        .send(
            Method::PATCH,
            &path,
            Some(staff),
            Some(json!({"name": "é".repeat(255)})),
        )
        .await;
    assert_eq!(just_fits.status, StatusCode::OK, "characters, not bytes");
    let created_too_long = app
        .send(
            Method::POST,
            OFFERINGS,
            Some(staff),
            Some(json!({"name": long_name})),
        )
        .await;
    assert_eq!(created_too_long.status, StatusCode::BAD_REQUEST);
    assert_eq!(created_too_long.body["field"], "name");
    let nowhere = format!("{OFFERINGS}{}/", uuid::Uuid::new_v4());
    let missing = app
        .send(
            Method::PATCH,
            &nowhere,
            Some(staff),
            Some(json!({"name": "X"})),
        )
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);

    for (token, status) in callers.refused() {
        let answer = app.send(Method::DELETE, &path, token, None).await;
        assert_eq!(answer.status, status, "{token:?}: {}", answer.body);
    }
    let deleted = app.send(Method::DELETE, &path, Some(staff), None).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT, "{}", deleted.body);
    assert_eq!(
        app.get(&path, Some(staff)).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.send(Method::DELETE, &path, Some(staff), None)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.db
            .count("SELECT count(*) FROM offering_software_catalogs")
            .await,
        0,
        "its catalog links went with it"
    );
    assert_eq!(
        app.db
            .count("SELECT count(*) FROM offering_partitions")
            .await,
        0,
        "and its partition"
    );
    assert_eq!(
        app.db.count("SELECT count(*) FROM offering_qos").await,
        0,
        "and its QoS"
    );
    assert_eq!(
        app.db
            .count(
                "SELECT count(*) FROM offering_managers m JOIN users u ON u.id = m.user_id \
                 WHERE u.username = 'manager'"
            )
            .await,
        0
    );
    let left = app.get(OFFERINGS, Some(staff)).await;
    assert_eq!(left.body["count"], 1);
    assert_eq!(left.body["results"][0]["name"], "Theirs");
    let (packages, _, _) = app.db.catalog_size("EESSI", "2023.06").await;
    assert!(packages > 0, "the catalog itself stays");
}

#[tokio::test]
async fn staff_add_and_remove_managers() {
    let app = TestApp::with_samples().await;
    let callers = Callers::new(&app).await;
    let staff = callers.staff.as_str();
    let newcomer = app.token("newcomer", false).await;
    let mine = offering(&app, staff, "Mine", &["manager"]).await;
    offering(&app, staff, "Theirs", &["other"]).await;
    let add = format!("{OFFERINGS}{mine}/add_manager/");
    let remove = format!("{OFFERINGS}{mine}/remove_manager/");
    let link = format!("{OFFERINGS}{mine}/add_software_catalog/");
    let eessi = catalog_uuid(&app, staff, "EESSI").await;
    let link_as = |token: String| {
        let app = &app;
        let link = link.clone();
        let body = json!({"catalog": eessi});
        async move {
            app.send(Method::POST, &link, Some(&token), Some(body))
                .await
                .status
        }
    };
    assert_eq!(link_as(newcomer.clone()).await, StatusCode::FORBIDDEN);

    let newcomer_body = json!({"username": "newcomer"});
    for (token, status) in callers.refused() {
        let answer = app
            .send(Method::POST, &add, token, Some(newcomer_body.clone()))
            .await;
        assert_eq!(answer.status, status, "{token:?}: {}", answer.body);
    }
    let added = app
        .send(Method::POST, &add, Some(staff), Some(newcomer_body.clone()))
        .await;
    assert_eq!(added.status, StatusCode::OK, "{}", added.body);
    assert_eq!(added.body["managers"], json!(["manager", "newcomer"]));
    assert_eq!(
        app.get(&format!("{OFFERINGS}{mine}/"), Some(&callers.user))
            .await
            .body["managers"],
        json!(["manager", "newcomer"])
    );
    assert_eq!(link_as(newcomer.clone()).await, StatusCode::CREATED);

    for (body, detail) in [
        (newcomer_body.clone(), "already manages"),
        (json!({"username": "nobody"}), "no user"),
    ] {
        let answer = app.send(Method::POST, &add, Some(staff), Some(body)).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST);
        assert_eq!(answer.body["field"], "username");
        assert!(
            answer.body["detail"].as_str().unwrap().contains(detail),
            "{}",
            answer.body
        );
    }
    let no_body = app
        .send(Method::POST, &add, Some(staff), Some(json!({})))
        .await;
    assert_eq!(no_body.status, StatusCode::BAD_REQUEST);
    let elsewhere = format!("{OFFERINGS}{}/add_manager/", uuid::Uuid::new_v4());
    let missing = app
        .send(
            Method::POST,
            &elsewhere,
            Some(staff),
            Some(newcomer_body.clone()),
        )
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);

    for (token, status) in callers.refused() {
        let answer = app
            .send(Method::POST, &remove, token, Some(newcomer_body.clone()))
            .await;
        assert_eq!(answer.status, status, "{token:?}: {}", answer.body);
    }
    let removed = app
        .send(
            Method::POST,
            &remove,
            Some(staff),
            Some(newcomer_body.clone()),
        )
        .await;
    assert_eq!(removed.status, StatusCode::OK, "{}", removed.body);
    assert_eq!(removed.body["managers"], json!(["manager"]));
    let again = app
        .send(Method::POST, &remove, Some(staff), Some(newcomer_body))
        .await;
    assert_eq!(again.status, StatusCode::BAD_REQUEST);
    assert_eq!(again.body["field"], "username");
    assert!(
        again.body["detail"]
            .as_str()
            .unwrap()
            .contains("does not manage"),
        "{}",
        again.body
    );
    let link_uuid = app
        .get(&format!("{OFFERINGS}{mine}/"), Some(staff))
        .await
        .body["software_catalogs"][0]["offering_catalog_uuid"]
        .clone();
    let unlink = app
        .send(
            Method::POST,
            &format!("{OFFERINGS}{mine}/remove_software_catalog/"),
            Some(&newcomer),
            Some(json!({"offering_catalog_uuid": link_uuid})),
        )
        .await;
    assert_eq!(unlink.status, StatusCode::FORBIDDEN, "no longer a manager");
}

#[tokio::test]
async fn users_are_listed_changed_and_deleted() {
    let db = TestDb::new().await;
    let url = db.url.as_str();
    ok(softcat(url, &["users", "create", "alice", "--staff"]));
    ok(softcat(url, &["users", "create", "bob"]));
    ok(softcat(url, &["tokens", "create", "bob"]));
    ok(softcat(url, &["tokens", "create", "bob"]));
    db.conn
        .execute_unprepared(
            "INSERT INTO offerings (name, type) VALUES ('Cluster', 'hpc'); \
             INSERT INTO offering_managers (offering_id, user_id) \
               SELECT o.id, u.id FROM offerings o, users u WHERE u.username = 'bob'",
        )
        .await
        .unwrap();

    let table = squeeze(&ok(softcat(url, &["users", "list"])));
    assert!(
        table.starts_with("username staff tokens manages created uuid"),
        "{table}"
    );
    assert!(table.contains(" alice yes 0 "), "{table}");
    assert!(table.contains(" bob no 2 Cluster "), "{table}");
    let listed: Value =
        serde_json::from_str(&ok(softcat(url, &["users", "list", "--json"]))).expect("JSON");
    assert_eq!(listed[0]["username"], "alice");
    assert_eq!(listed[0]["is_staff"], true);
    assert_eq!(listed[1]["tokens"], 2);
    assert_eq!(listed[1]["manages"], json!(["Cluster"]));

    assert_eq!(
        ok(softcat(url, &["users", "set", "bob", "--staff"])).trim(),
        "bob is now staff"
    );
    assert_eq!(
        ok(softcat(url, &["users", "set", "bob", "--staff"])).trim(),
        "bob is staff already"
    );
    assert_eq!(
        ok(softcat(url, &["users", "set", "alice", "--no-staff"])).trim(),
        "alice is now a plain user"
    );
    let listed: Value =
        serde_json::from_str(&ok(softcat(url, &["users", "list", "--json"]))).expect("JSON");
    assert_eq!(listed[0]["is_staff"], false);
    assert_eq!(listed[1]["is_staff"], true);
    let neither = softcat(url, &["users", "set", "bob"]);
    assert!(!neither.status.success());
    let both = softcat(url, &["users", "set", "bob", "--staff", "--no-staff"]);
    assert!(!both.status.success());

    let deleted = ok(softcat(url, &["users", "delete", "bob"]));
    assert_eq!(
        deleted.trim(),
        "deleted user bob (2 tokens revoked, manager of 1 offerings no more)"
    );
    assert_eq!(db.count("SELECT count(*) FROM api_tokens").await, 0);
    assert_eq!(db.count("SELECT count(*) FROM offering_managers").await, 0);
    assert_eq!(db.count("SELECT count(*) FROM offerings").await, 1);
    let table = squeeze(&ok(softcat(url, &["users", "list"])));
    assert!(!table.contains("bob"), "{table}");

    for args in [
        &["users", "delete", "bob"][..],
        &["users", "set", "carol", "--staff"],
    ] {
        let error = fails(softcat(url, args));
        assert!(error.contains("no user"), "{args:?}: {error}");
    }
    let taken = fails(softcat(url, &["users", "create", "alice"]));
    assert!(taken.contains("already exists"), "{taken}");
}

#[tokio::test]
async fn tokens_are_listed_and_revoked_by_prefix() {
    let db = TestDb::new().await;
    let url = db.url.as_str();
    ok(softcat(url, &["users", "create", "alice"]));
    ok(softcat(url, &["users", "create", "bob"]));
    let first = ok(softcat(url, &["tokens", "create", "alice"]))
        .trim()
        .to_owned();
    let second = ok(softcat(url, &["tokens", "create", "alice"]))
        .trim()
        .to_owned();
    let third = ok(softcat(url, &["tokens", "create", "bob"]))
        .trim()
        .to_owned();
    // Two tokens whose prefixes share four characters, and one from before
    // prefixes were kept.
    db.conn
        .execute_unprepared(
            "INSERT INTO api_tokens (user_id, key_hash, key_prefix) \
               SELECT id, 'hash-1', 'abcd1111' FROM users WHERE username = 'alice'; \
             INSERT INTO api_tokens (user_id, key_hash, key_prefix) \
               SELECT id, 'hash-2', 'abcd2222' FROM users WHERE username = 'bob'; \
             INSERT INTO api_tokens (user_id, key_hash) \
               SELECT id, 'hash-old' FROM users WHERE username = 'bob'",
        )
        .await
        .unwrap();

    let table = ok(softcat(url, &["tokens", "list"]));
    let squeezed = squeeze(&table);
    assert!(squeezed.starts_with("key prefix user created"), "{table}");
    for key in [&first, &second, &third] {
        assert!(squeezed.contains(&format!("{} ", &key[..8])), "{table}");
        assert!(
            !table.contains(&key[..9]),
            "no more than the prefix: {table}"
        );
    }
    assert!(squeezed.contains("(no prefix) bob"), "{table}");
    assert!(squeezed.ends_with("6 tokens"), "{table}");
    let listed: Value =
        serde_json::from_str(&ok(softcat(url, &["tokens", "list", "--json"]))).expect("JSON");
    assert_eq!(listed.as_array().unwrap().len(), 6);
    assert!(
        listed
            .as_array()
            .unwrap()
            .iter()
            .any(|token| token["key_prefix"].is_null() && token["username"] == "bob")
    );
    let mine: Value =
        serde_json::from_str(&ok(softcat(url, &["tokens", "list", "alice", "--json"])))
            .expect("JSON");
    assert_eq!(mine.as_array().unwrap().len(), 3);
    assert!(
        mine.as_array()
            .unwrap()
            .iter()
            .all(|token| token["username"] == "alice")
    );
    let unknown_user = fails(softcat(url, &["tokens", "list", "carol"]));
    assert!(unknown_user.contains("no user \"carol\""), "{unknown_user}");

    let ambiguous = fails(softcat(url, &["tokens", "revoke", "ABCD"]));
    assert!(ambiguous.contains("matches 2 tokens"), "{ambiguous}");
    assert!(ambiguous.contains("abcd1111 (alice)"), "{ambiguous}");
    assert!(ambiguous.contains("abcd2222 (bob)"), "{ambiguous}");
    assert_eq!(db.count("SELECT count(*) FROM api_tokens").await, 6);
    assert_eq!(
        ok(softcat(url, &["tokens", "revoke", "abcd1"])).trim(),
        "revoked token abcd1111 of alice"
    );
    assert_eq!(
        ok(softcat(url, &["tokens", "revoke", &first[..8]])).trim(),
        format!("revoked token {} of alice", &first[..8])
    );
    assert_eq!(
        ok(softcat(url, &["tokens", "revoke", &second])).trim(),
        format!("revoked token {} of alice", &second[..8]),
        "the whole key works too"
    );
    for (prefix, expected) in [
        ("abc", "is not a key prefix"),
        ("abcd12345", "is not a key prefix"),
        ("wxyz", "is not a key prefix"),
        ("abcd1111", "no token has the key prefix"),
    ] {
        let error = fails(softcat(url, &["tokens", "revoke", prefix]));
        assert!(error.contains(expected), "{prefix}: {error}");
    }
    let neither = softcat(url, &["tokens", "revoke"]);
    assert!(!neither.status.success());

    assert_eq!(
        ok(softcat(url, &["tokens", "revoke", "--all", "bob"])).trim(),
        "revoked 3 tokens of bob"
    );
    assert_eq!(db.count("SELECT count(*) FROM api_tokens").await, 0);
    let unknown = fails(softcat(url, &["tokens", "revoke", "--all", "carol"]));
    assert!(unknown.contains("no user \"carol\""), "{unknown}");
    let new_key = ok(softcat(url, &["tokens", "create", "alice"]));
    assert_eq!(new_key.trim().len(), 64);
    assert_eq!(
        db.text("SELECT key_prefix FROM api_tokens").await,
        new_key.trim()[..8]
    );
}

/// Waits until a request with `token` answers `status`, at most `limit`;
/// returns how long it took.
async fn answers_within(
    app: &TestApp,
    path: &str,
    token: &str,
    status: StatusCode,
    limit: Duration,
) -> Duration {
    let started = Instant::now();
    loop {
        let answer = app.get(path, Some(token)).await;
        if answer.status == status {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < limit,
            "{path} still answers {} after {limit:?}, not {status}",
            answer.status
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Within one poll of the account generation (250 ms), with room for a
/// busy machine; far below the 60 s a verified token used to be trusted.
const AT_ONCE: Duration = Duration::from_millis(1500);

#[tokio::test]
async fn revoked_tokens_and_deleted_users_are_refused_at_once() {
    let app = TestApp::spawn(false).await;
    let url = app.db.url.clone();
    let catalogs = "/api/marketplace-software-catalogs/";
    let staff = app.token("staff", true).await;
    let alice = app.token("alice", false).await;
    let alice_two = ok(softcat(&url, &["tokens", "create", "alice"]))
        .trim()
        .to_owned();
    let bob = app.token("bob", false).await;
    let carol = app.token("carol", false).await;
    let mine = offering(&app, &staff, "Mine", &["carol"]).await;
    let detail = format!("{OFFERINGS}{mine}/");
    // Let the API read the account generation, then have it verify (and
    // cache) every token.
    tokio::time::sleep(Duration::from_millis(300)).await;
    for token in [&alice, &alice_two, &bob, &carol] {
        for _ in 0..2 {
            assert_eq!(app.get(catalogs, Some(token)).await.status, StatusCode::OK);
        }
    }
    assert_eq!(
        app.get(&detail, Some(&staff)).await.body["managers"],
        json!(["carol"])
    );

    ok(softcat(&url, &["tokens", "revoke", &alice[..8]]));
    answers_within(&app, catalogs, &alice, StatusCode::UNAUTHORIZED, AT_ONCE).await;
    let refused = app.get(catalogs, Some(&alice)).await;
    assert_eq!(refused.body["detail"], "invalid token");
    assert_eq!(
        app.get(catalogs, Some(&alice_two)).await.status,
        StatusCode::OK,
        "alice's other token still works"
    );

    ok(softcat(&url, &["tokens", "revoke", "--all", "bob"]));
    answers_within(&app, catalogs, &bob, StatusCode::UNAUTHORIZED, AT_ONCE).await;

    ok(softcat(&url, &["users", "delete", "carol"]));
    answers_within(&app, catalogs, &carol, StatusCode::UNAUTHORIZED, AT_ONCE).await;
    let started = Instant::now();
    loop {
        let managers = app.get(&detail, Some(&staff)).await.body["managers"].clone();
        if managers == json!([]) {
            break;
        }
        assert!(
            started.elapsed() < AT_ONCE,
            "the cached offering still lists {managers}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    ok(softcat(&url, &["users", "delete", "alice"]));
    answers_within(
        &app,
        catalogs,
        &alice_two,
        StatusCode::UNAUTHORIZED,
        AT_ONCE,
    )
    .await;
}

#[tokio::test]
async fn a_changed_staff_flag_holds_at_once() {
    let app = TestApp::spawn(false).await;
    let url = app.db.url.clone();
    let settings = "/api/admin/settings/";
    let dana = app.token("dana", true).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    for _ in 0..2 {
        assert_eq!(app.get(settings, Some(&dana)).await.status, StatusCode::OK);
    }
    ok(softcat(&url, &["users", "set", "dana", "--no-staff"]));
    answers_within(&app, settings, &dana, StatusCode::FORBIDDEN, AT_ONCE).await;
    ok(softcat(&url, &["users", "set", "dana", "--staff"]));
    answers_within(&app, settings, &dana, StatusCode::OK, AT_ONCE).await;
}
