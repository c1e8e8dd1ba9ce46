//! SLURM partitions of offerings, catalog links per partition, and what a
//! partition runs, over the real API and the real EESSI catalog.

mod support;

use std::collections::BTreeSet;

use poem::http::StatusCode;
use reqwest::Method;
use sea_orm::{FromQueryResult, Statement};
use serde_json::{Value, json};
use support::app::{Answer, TestApp};
use support::{UPDATE, data_file, eessi_source};

async fn send(
    app: &TestApp,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Value,
) -> Answer {
    app.send(method, path, token, Some(body)).await
}

async fn offering(app: &TestApp, staff: &str, name: &str, managers: &[&str]) -> String {
    let created = send(
        app,
        Method::POST,
        "/api/marketplace-provider-offerings/",
        Some(staff),
        json!({"name": name, "type": "hpc", "managers": managers}),
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    created.body["uuid"].as_str().unwrap().to_owned()
}

fn action(offering: &str, name: &str) -> String {
    format!("/api/marketplace-provider-offerings/{offering}/{name}/")
}

#[tokio::test]
async fn partitions_are_validated_scoped_to_their_offering_and_permitted() {
    let app = TestApp::with_samples().await;
    let staff = app.token("staff", true).await;
    let manager = app.token("manager", false).await;
    let other_manager = app.token("other", false).await;
    let user = app.token("user", false).await;
    let mine = offering(&app, &staff, "A", &["manager"]).await;
    let theirs = offering(&app, &staff, "B", &["other"]).await;
    let add = action(&mine, "add_partition");

    // Who may add one.
    let body = json!({"partition_name": "zen4", "cpu_arch": "x86_64/amd/zen4", "max_nodes": 10});
    for (token, status) in [
        (None, StatusCode::UNAUTHORIZED),
        (Some(user.as_str()), StatusCode::FORBIDDEN),
        (Some(other_manager.as_str()), StatusCode::FORBIDDEN),
    ] {
        let answer = send(&app, Method::POST, &add, token, body.clone()).await;
        assert_eq!(answer.status, status, "{}", answer.body);
    }
    let added = send(&app, Method::POST, &add, Some(&manager), body.clone()).await;
    assert_eq!(added.status, StatusCode::CREATED, "{}", added.body);
    assert_eq!(added.body["partition_name"], "zen4");
    assert_eq!(added.body["max_nodes"], 10);
    assert_eq!(added.body["offering"], mine.as_str());
    let zen4 = added.body["uuid"].as_str().unwrap().to_owned();
    let staff_added = send(
        &app,
        Method::POST,
        &action(&theirs, "add_partition"),
        Some(&staff),
        json!({"partition_name": "gpu", "gpu_arch": "nvidia/cc90"}),
    )
    .await;
    assert_eq!(
        staff_added.status,
        StatusCode::CREATED,
        "{}",
        staff_added.body
    );
    let their_partition = staff_added.body["uuid"].as_str().unwrap().to_owned();

    // Bad values are 400s naming the field.
    for (body, field) in [
        (json!({"partition_name": "zen4"}), "partition_name"),
        (json!({"partition_name": "bad name"}), "partition_name"),
        (json!({"partition_name": "p", "max_nodes": -1}), "max_nodes"),
        (
            json!({"partition_name": "p", "min_nodes": 5, "max_nodes": 2}),
            "min_nodes",
        ),
        (
            json!({"partition_name": "p", "default_time": 90, "max_time": 60}),
            "default_time",
        ),
        (
            json!({"partition_name": "p", "cpu_arch": "zen4"}),
            "cpu_arch",
        ),
        (
            json!({"partition_name": "p", "gpu_arch": "cc90"}),
            "gpu_arch",
        ),
    ] {
        let answer = send(&app, Method::POST, &add, Some(&manager), body.clone()).await;
        assert_eq!(
            answer.status,
            StatusCode::BAD_REQUEST,
            "{body}: {}",
            answer.body
        );
        assert_eq!(answer.body["field"], field, "{body}: {}", answer.body);
    }

    // An update is checked against what is stored.
    let update = action(&mine, "update_partition");
    let below = send(
        &app,
        Method::PATCH,
        &update,
        Some(&manager),
        json!({"partition_uuid": zen4, "min_nodes": 11}),
    )
    .await;
    assert_eq!(below.status, StatusCode::BAD_REQUEST, "{}", below.body);
    assert_eq!(below.body["field"], "min_nodes");
    let updated = send(
        &app,
        Method::PATCH,
        &update,
        Some(&manager),
        json!({"partition_uuid": zen4, "min_nodes": 2, "exclusive_user": true, "priority_tier": 5}),
    )
    .await;
    assert_eq!(updated.status, StatusCode::OK, "{}", updated.body);
    assert_eq!(updated.body["min_nodes"], 2);
    assert_eq!(updated.body["max_nodes"], 10);
    assert_eq!(updated.body["exclusive_user"], true);

    // Another offering's partition is not reachable through this one.
    for (method, name) in [
        (Method::PATCH, "update_partition"),
        (Method::POST, "remove_partition"),
    ] {
        let answer = send(
            &app,
            method,
            &action(&mine, name),
            Some(&manager),
            json!({"partition_uuid": their_partition, "max_nodes": 1}),
        )
        .await;
        assert_eq!(
            answer.status,
            StatusCode::NOT_FOUND,
            "{name}: {}",
            answer.body
        );
    }

    // The offering shows its partitions; the listing filters them.
    let shown = app
        .get(
            &format!("/api/marketplace-provider-offerings/{mine}/"),
            Some(&user),
        )
        .await;
    assert_eq!(shown.body["partitions"][0]["uuid"], zen4.as_str());
    for (query, expected) in [
        ("has_gpu=true", vec!["gpu"]),
        ("has_gpu=false", vec!["zen4"]),
        ("cpu_arch=zen4", vec!["zen4"]),
        ("exclusive_user=true", vec!["zen4"]),
        ("priority_tier=5", vec!["zen4"]),
        (&format!("offering_uuid={theirs}"), vec!["gpu"]),
        ("o=-partition_name", vec!["zen4", "gpu"]),
    ] {
        let listed = app
            .all(
                &format!("/api/marketplace-offering-partitions/?{query}"),
                &user,
            )
            .await;
        let names: Vec<&str> = listed
            .iter()
            .map(|p| p["partition_name"].as_str().unwrap())
            .collect();
        assert_eq!(names, expected, "{query}");
    }

    // A partition with catalog links stays until they are removed.
    let catalogs = app
        .get(
            "/api/marketplace-software-catalogs/?source=eessi",
            Some(&user),
        )
        .await;
    let eessi = catalogs.body["results"][0]["uuid"]
        .as_str()
        .unwrap()
        .to_owned();
    let linked = send(
        &app,
        Method::POST,
        &action(&mine, "add_software_catalog"),
        Some(&manager),
        json!({"catalog": eessi, "partition": zen4}),
    )
    .await;
    assert_eq!(linked.status, StatusCode::CREATED, "{}", linked.body);
    assert_eq!(linked.body["partition_name"], "zen4");
    let remove = action(&mine, "remove_partition");
    let refused = send(
        &app,
        Method::POST,
        &remove,
        Some(&manager),
        json!({"partition_uuid": zen4}),
    )
    .await;
    assert_eq!(refused.status, StatusCode::CONFLICT, "{}", refused.body);
    let link = linked.body["offering_catalog_uuid"]
        .as_str()
        .unwrap()
        .to_owned();
    let unlinked = send(
        &app,
        Method::POST,
        &action(&mine, "remove_software_catalog"),
        Some(&manager),
        json!({"offering_catalog_uuid": link}),
    )
    .await;
    assert_eq!(unlinked.status, StatusCode::NO_CONTENT);
    let removed = send(
        &app,
        Method::POST,
        &remove,
        Some(&manager),
        json!({"partition_uuid": zen4}),
    )
    .await;
    assert_eq!(removed.status, StatusCode::NO_CONTENT, "{}", removed.body);
}

/// One target of the stored catalog, by plain SQL.
#[derive(Debug, FromQueryResult)]
struct TargetRow {
    package_uuid: uuid::Uuid,
    cpu_family: Option<String>,
    cpu_microarchitecture: Option<String>,
    gpus: Value,
}

#[tokio::test]
async fn a_partition_runs_what_its_links_enable_and_its_cpu_can_run() {
    let app = TestApp::spawn(false).await;
    let staff = app.token("staff", true).await;
    let mut eessi = eessi_source(data_file("eessi"));
    eessi.catalog_version = Some("2025.06".into());
    app.db.load_eessi(&eessi, UPDATE).await.expect("load EESSI");
    let catalog = app
        .get(
            "/api/marketplace-software-catalogs/?source=eessi",
            Some(&staff),
        )
        .await
        .body["results"][0]["uuid"]
        .as_str()
        .unwrap()
        .to_owned();
    let cluster = offering(&app, &staff, "Cluster", &[]).await;
    let mut partitions = Vec::new();
    for (name, cpu) in [
        ("zen4", "x86_64/amd/zen4"),
        ("grace", "aarch64/nvidia/grace"),
    ] {
        let added = send(
            &app,
            Method::POST,
            &action(&cluster, "add_partition"),
            Some(&staff),
            json!({"partition_name": name, "cpu_arch": cpu}),
        )
        .await;
        assert_eq!(added.status, StatusCode::CREATED, "{}", added.body);
        partitions.push(added.body["uuid"].as_str().unwrap().to_owned());
    }
    let add_link = action(&cluster, "add_software_catalog");
    let link = |partition: &str, families: Value, micros: Value| {
        let body = json!({
            "catalog": catalog, "partition": partition,
            "enabled_cpu_family": families, "enabled_cpu_microarchitectures": micros,
        });
        send(&app, Method::POST, &add_link, Some(&staff), body)
    };
    // A zen4 node does not run haswell builds, nor anything aarch64.
    let haswell = link(&partitions[0], json!([]), json!(["haswell"])).await;
    assert_eq!(haswell.status, StatusCode::BAD_REQUEST, "{}", haswell.body);
    assert_eq!(haswell.body["field"], "enabled_cpu_microarchitectures");
    let detail = haswell.body["detail"].as_str().unwrap();
    assert!(
        detail.contains("intel/haswell") && detail.contains("x86_64/amd/zen4"),
        "{detail}"
    );
    let arm = link(&partitions[0], json!(["aarch64"]), json!([])).await;
    assert_eq!(arm.status, StatusCode::BAD_REQUEST, "{}", arm.body);
    assert_eq!(arm.body["field"], "enabled_cpu_family");
    // One catalog, linked to both partitions.
    let zen4_link = link(
        &partitions[0],
        json!(["x86_64"]),
        json!(["generic", "zen3", "zen4"]),
    )
    .await;
    assert_eq!(zen4_link.status, StatusCode::CREATED, "{}", zen4_link.body);
    let grace_link = link(&partitions[1], json!([]), json!([])).await;
    assert_eq!(
        grace_link.status,
        StatusCode::CREATED,
        "{}",
        grace_link.body
    );
    let twice = link(&partitions[1], json!([]), json!([])).await;
    assert_eq!(twice.status, StatusCode::BAD_REQUEST, "{}", twice.body);

    let links = app
        .all(
            &format!("/api/marketplace-offering-software-catalogs/?offering_uuid={cluster}&has_partition=true"),
            &staff,
        )
        .await;
    let names: BTreeSet<&str> = links
        .iter()
        .map(|l| l["partition_name"].as_str().unwrap())
        .collect();
    assert_eq!(names, BTreeSet::from(["grace", "zen4"]));

    // What each partition runs, computed here from the rows: a target the
    // link enables, of the partition's family, for a micro-architecture its
    // CPU runs (zen4: zen4, zen3, zen2 and generic x86_64; Grace, archspec's
    // neoverse_v2: itself, neoverse_n1 and generic aarch64), CPU-only.
    let rows = TargetRow::find_by_statement(Statement::from_string(
        sea_orm::DatabaseBackend::Postgres,
        "SELECT p.uuid AS package_uuid, t.cpu_family, t.cpu_microarchitecture, \
           coalesce(t.metadata->'gpu_arch', '[]'::jsonb) AS gpus \
         FROM software_targets t JOIN software_versions v ON v.id = t.version_id \
         JOIN software_packages p ON p.id = v.package_id",
    ))
    .all(&app.db.conn)
    .await
    .expect("rows");
    let cases: [(&str, &str, &[&str], &[&str]); 2] = [
        (
            &partitions[0],
            "x86_64",
            &["generic", "amd/zen3", "amd/zen4"],
            &[],
        ),
        (
            &partitions[1],
            "aarch64",
            &["generic", "neoverse_n1", "nvidia/grace"],
            &[],
        ),
    ];
    for (partition, family, runs, _) in cases {
        let expected: BTreeSet<String> = rows
            .iter()
            .filter(|row| {
                row.cpu_family.as_deref() == Some(family)
                    && row
                        .cpu_microarchitecture
                        .as_deref()
                        .is_some_and(|m| runs.contains(&m))
                    && row.gpus.as_array().is_none_or(Vec::is_empty)
            })
            .map(|row| row.package_uuid.to_string())
            .collect();
        assert!(!expected.is_empty());
        let answered: BTreeSet<String> = app
            .all(
                &format!(
                    "/api/marketplace-software-packages/?partition_uuid={partition}&page_size=300"
                ),
                &staff,
            )
            .await
            .iter()
            .map(|p| p["uuid"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(answered.len(), expected.len(), "{family}");
        assert_eq!(answered, expected, "{family}");
        let targets = app
            .get(
                &format!(
                    "/api/marketplace-software-targets/?partition_uuid={partition}&page_size=1"
                ),
                Some(&staff),
            )
            .await;
        let counted = rows
            .iter()
            .filter(|row| {
                row.cpu_family.as_deref() == Some(family)
                    && row
                        .cpu_microarchitecture
                        .as_deref()
                        .is_some_and(|m| runs.contains(&m))
                    && row.gpus.as_array().is_none_or(Vec::is_empty)
            })
            .count();
        assert_eq!(targets.body["count"], counted as u64, "{family}");
    }
}

#[tokio::test]
async fn qos_belong_to_their_offering_and_partitions_allow_a_list_of_them() {
    let app = TestApp::with_samples().await;
    let staff = app.token("staff", true).await;
    let manager = app.token("manager", false).await;
    let user = app.token("user", false).await;
    let mine = offering(&app, &staff, "A", &["manager"]).await;
    let theirs = offering(&app, &staff, "B", &[]).await;
    let add = action(&mine, "add_qos");
    let stranger = app.token("stranger", false).await;
    offering(&app, &staff, "C", &["stranger"]).await;
    for (token, status) in [
        (None, StatusCode::UNAUTHORIZED),
        (Some(user.as_str()), StatusCode::FORBIDDEN),
        (Some(stranger.as_str()), StatusCode::FORBIDDEN),
    ] {
        for (method, name) in [
            (Method::POST, "add_qos"),
            (Method::PATCH, "update_qos"),
            (Method::POST, "remove_qos"),
            (Method::POST, "set_partition_qos"),
        ] {
            let body = json!({"name": "normal", "qos_uuid": uuid::Uuid::new_v4(),
                "partition_uuid": uuid::Uuid::new_v4(), "qos_options": []});
            let answer = send(&app, method, &action(&mine, name), token, body).await;
            assert_eq!(answer.status, status, "{name}: {}", answer.body);
        }
    }
    for (body, field) in [
        (json!({"name": "1234"}), "name"),
        (json!({"name": "long", "max_wall": -5}), "max_wall"),
        (json!({"name": "big", "grp_tres": "cpu=lots"}), "grp_tres"),
    ] {
        let answer = send(&app, Method::POST, &add, Some(&manager), body.clone()).await;
        assert_eq!(
            answer.status,
            StatusCode::BAD_REQUEST,
            "{body}: {}",
            answer.body
        );
        assert_eq!(answer.body["field"], field, "{body}");
    }
    let mut qos = Vec::new();
    for name in ["normal", "long"] {
        let added = send(
            &app,
            Method::POST,
            &add,
            Some(&manager),
            json!({"name": name, "max_wall": 1440, "max_tres_per_user": "cpu=256,gres/gpu=8"}),
        )
        .await;
        assert_eq!(added.status, StatusCode::CREATED, "{}", added.body);
        assert_eq!(added.body["max_tres_per_user"], "cpu=256,gres/gpu=8");
        qos.push(added.body["uuid"].as_str().unwrap().to_owned());
    }
    let twice = send(
        &app,
        Method::POST,
        &add,
        Some(&manager),
        json!({"name": "normal"}),
    )
    .await;
    assert_eq!(twice.status, StatusCode::BAD_REQUEST);
    let foreign = send(
        &app,
        Method::POST,
        &action(&theirs, "add_qos"),
        Some(&staff),
        json!({"name": "other"}),
    )
    .await;
    let foreign = foreign.body["uuid"].as_str().unwrap().to_owned();
    let partition = send(
        &app,
        Method::POST,
        &action(&mine, "add_partition"),
        Some(&manager),
        json!({"partition_name": "cpu"}),
    )
    .await;
    let partition = partition.body["uuid"].as_str().unwrap().to_owned();

    let set = action(&mine, "set_partition_qos");
    let option = |uuid: &str, is_default: bool| json!({"qos_uuid": uuid, "is_default": is_default});
    for options in [
        json!([option(&qos[0], true), option(&qos[1], true)]),
        json!([option(&qos[0], false), option(&foreign, false)]),
        json!([option(&qos[0], false), option(&qos[0], false)]),
    ] {
        let answer = send(
            &app,
            Method::POST,
            &set,
            Some(&manager),
            json!({"partition_uuid": partition, "qos_options": options}),
        )
        .await;
        assert_eq!(
            answer.status,
            StatusCode::BAD_REQUEST,
            "{options}: {}",
            answer.body
        );
        assert_eq!(answer.body["field"], "qos_options");
    }
    let done = send(
        &app,
        Method::POST,
        &set,
        Some(&manager),
        json!({"partition_uuid": partition, "qos_options": [option(&qos[0], true), option(&qos[1], false)]}),
    )
    .await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    let allowed: Vec<(&str, bool)> = done.body["qos_options"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            (
                o["name"].as_str().unwrap(),
                o["is_default"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(allowed, [("long", false), ("normal", true)]);
    // A new list replaces the old one.
    let replaced = send(
        &app,
        Method::POST,
        &set,
        Some(&manager),
        json!({"partition_uuid": partition, "qos_options": [option(&qos[1], true)]}),
    )
    .await;
    assert_eq!(replaced.body["qos_options"].as_array().unwrap().len(), 1);
    assert_eq!(replaced.body["qos_options"][0]["name"], "long");

    // Another offering's QoS and partitions are not reachable through this one.
    for (method, name) in [(Method::POST, "remove_qos"), (Method::PATCH, "update_qos")] {
        let across = send(
            &app,
            method,
            &action(&mine, name),
            Some(&manager),
            json!({"qos_uuid": foreign, "priority": 1}),
        )
        .await;
        assert_eq!(across.status, StatusCode::NOT_FOUND, "{name}");
    }
    let their_partition = send(
        &app,
        Method::POST,
        &action(&theirs, "add_partition"),
        Some(&staff),
        json!({"partition_name": "theirs"}),
    )
    .await;
    let their_partition = their_partition.body["uuid"].as_str().unwrap().to_owned();
    let across = send(
        &app,
        Method::POST,
        &set,
        Some(&manager),
        json!({"partition_uuid": their_partition, "qos_options": []}),
    )
    .await;
    assert_eq!(across.status, StatusCode::NOT_FOUND, "{}", across.body);
    let catalogs = app
        .get(
            "/api/marketplace-software-catalogs/?source=eessi",
            Some(&user),
        )
        .await;
    let eessi = catalogs.body["results"][0]["uuid"]
        .as_str()
        .unwrap()
        .to_owned();
    let across = send(
        &app,
        Method::POST,
        &action(&mine, "add_software_catalog"),
        Some(&manager),
        json!({"catalog": eessi, "partition": their_partition}),
    )
    .await;
    assert_eq!(across.status, StatusCode::BAD_REQUEST, "{}", across.body);
    assert_eq!(across.body["field"], "partition");
    let own_link = send(
        &app,
        Method::POST,
        &action(&mine, "add_software_catalog"),
        Some(&manager),
        json!({"catalog": eessi}),
    )
    .await;
    let own_link = own_link.body["offering_catalog_uuid"]
        .as_str()
        .unwrap()
        .to_owned();
    let moved = send(
        &app,
        Method::PATCH,
        &action(&mine, "update_software_catalog"),
        Some(&manager),
        json!({"offering_catalog_uuid": own_link, "partition": their_partition}),
    )
    .await;
    assert_eq!(moved.status, StatusCode::BAD_REQUEST, "{}", moved.body);
    assert_eq!(moved.body["field"], "partition");
    let updated = send(
        &app,
        Method::PATCH,
        &action(&mine, "update_qos"),
        Some(&manager),
        json!({"qos_uuid": qos[1], "priority": 10}),
    )
    .await;
    assert_eq!(updated.status, StatusCode::OK, "{}", updated.body);
    assert_eq!(updated.body["priority"], 10);
    assert_eq!(updated.body["max_wall"], 1440);
    let removed = send(
        &app,
        Method::POST,
        &action(&mine, "remove_qos"),
        Some(&manager),
        json!({"qos_uuid": qos[1]}),
    )
    .await;
    assert_eq!(removed.status, StatusCode::NO_CONTENT);
    let shown = app
        .get(
            &format!("/api/marketplace-provider-offerings/{mine}/"),
            Some(&user),
        )
        .await;
    assert_eq!(shown.body["partitions"][0]["qos_options"], json!([]));
    assert_eq!(shown.body["qos"].as_array().unwrap().len(), 1);
}
