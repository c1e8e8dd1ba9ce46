//! The REST API end to end: a real server over a real database holding real
//! catalogs loaded through the loader. Expectations are computed from the
//! source JSON, not written down.

mod support;

use std::collections::{BTreeMap, BTreeSet};

use poem::http::StatusCode;
use reqwest::Method;
use serde_json::{Value, json};
use support::app::{TestApp, names};
use support::data_file;

/// The 2023.06 installations of EESSI's published sample, by software name.
fn sample_installations() -> BTreeMap<String, Vec<Value>> {
    let text = std::fs::read(data_file("eessi/published-sample_software.json")).unwrap();
    let document: Value = serde_json::from_slice(&text).unwrap();
    let mut installations = BTreeMap::new();
    for (name, software) in document["software"].as_object().unwrap() {
        let in_stack: Vec<Value> = software["versions"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|installation| {
                installation["required_modules"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|module| module["full_module_name"] == "EESSI/2023.06")
            })
            .cloned()
            .collect();
        if !in_stack.is_empty() {
            installations.insert(name.clone(), in_stack);
        }
    }
    installations
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item.as_str().unwrap().to_owned())
        .collect()
}

/// UUID of the one package a filter finds.
async fn package_uuid(app: &TestApp, token: &str, query: &str) -> String {
    let answer = app
        .get(
            &format!("/api/marketplace-software-packages/?{query}"),
            Some(token),
        )
        .await;
    assert_eq!(answer.body["count"], 1, "{query}: {}", answer.body);
    answer.body["results"][0]["uuid"]
        .as_str()
        .unwrap()
        .to_owned()
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

#[tokio::test]
async fn catalogs_list_filter_and_show_their_cpu_targets() {
    let app = TestApp::with_samples().await;
    let token = app.token("reader", false).await;
    let installations = sample_installations();

    let all = app
        .get("/api/marketplace-software-catalogs/", Some(&token))
        .await;
    assert_eq!(all.status, StatusCode::OK);
    assert_eq!(all.body["count"], 2);
    assert_eq!(
        names(all.body["results"].as_array().unwrap()),
        ["EESSI", "Spack"]
    );
    assert_eq!(all.headers["x-result-count"], "2");

    let eessi = app
        .get("/api/marketplace-software-catalogs/?name=eSs", Some(&token))
        .await;
    assert_eq!(eessi.body["count"], 1);
    let summary = &eessi.body["results"][0];
    assert_eq!(summary["version"], "2023.06");
    assert_eq!(summary["catalog_type"], "binary_runtime");
    assert_eq!(summary["source"], "eessi");
    assert!(summary.get("cpu_targets").is_none());
    let extensions: BTreeSet<String> = installations
        .values()
        .flatten()
        .flat_map(|i| i["extensions"].as_array().unwrap().iter())
        .map(|e| e["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        summary["package_count"],
        (installations.len() + extensions.len()) as u64
    );

    for (query, expected) in [
        ("version=2023.06", 1),
        ("source=spack", 1),
        ("catalog_type=source_package", 1),
        ("catalog_type=package_manager", 0),
    ] {
        let answer = app
            .get(
                &format!("/api/marketplace-software-catalogs/?{query}"),
                Some(&token),
            )
            .await;
        assert_eq!(answer.body["count"], expected, "{query}");
    }

    let detail = app
        .get(
            summary["url"]
                .as_str()
                .unwrap()
                .trim_start_matches(&app.base),
            Some(&token),
        )
        .await;
    assert_eq!(detail.status, StatusCode::OK);
    let expected: BTreeSet<String> = installations
        .values()
        .flatten()
        .flat_map(|i| strings(&i["cpu_arch"]))
        .collect();
    let shown: BTreeSet<String> = detail.body["cpu_targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            let full = t["full_arch"].as_str().unwrap().to_owned();
            assert_eq!(
                full,
                format!(
                    "{}/{}",
                    t["cpu_family"].as_str().unwrap(),
                    t["cpu_microarchitecture"].as_str().unwrap()
                )
            );
            full
        })
        .collect();
    assert_eq!(shown, expected);
    assert!(shown.contains("x86_64/amd/zen4"));
}

#[tokio::test]
async fn package_filters_match_the_source_data() {
    let app = TestApp::with_samples().await;
    let token = app.token("reader", false).await;
    let installations = sample_installations();
    let list = |query: &'static str| {
        let app = &app;
        let token = &token;
        async move {
            let path = format!("/api/marketplace-software-packages/?page_size=300&{query}");
            let answer = app.get(&path, Some(token)).await;
            assert_eq!(answer.status, StatusCode::OK, "{query}: {}", answer.body);
            let found: BTreeSet<String> = names(answer.body["results"].as_array().unwrap())
                .into_iter()
                .collect();
            found
        }
    };
    let set =
        |items: &[&str]| -> BTreeSet<String> { items.iter().map(|s| s.to_string()).collect() };

    // Micro-architectures: the software with an installation built for it.
    let with_a64fx: BTreeSet<String> = installations
        .iter()
        .filter(|(_, installs)| {
            installs
                .iter()
                .any(|i| strings(&i["cpu_arch"]).contains(&"aarch64/a64fx".to_owned()))
        })
        .map(|(name, _)| name.clone())
        .collect();
    let found = list("catalog_name=EESSI&is_extension=false&cpu_microarchitecture=a64fx").await;
    assert_eq!(found, with_a64fx);
    assert!(!found.is_empty() && found.len() < installations.len());
    let found = list(
        "catalog_name=eessi&is_extension=false&cpu_family=aarch64&cpu_microarchitecture=a64fx",
    )
    .await;
    assert_eq!(found, with_a64fx);
    assert!(
        list("cpu_family=x86_64&cpu_microarchitecture=a64fx")
            .await
            .is_empty()
    );

    assert_eq!(list("name=PMI").await, set(&["PMIx"]));
    assert_eq!(
        list("name=xterm").await,
        BTreeSet::new(),
        "xterm is only in 2025.06"
    );
    assert_eq!(list("has_version=4.2.6").await, set(&["PMIx"]));
    assert_eq!(list("has_version=4.2").await, BTreeSet::new());
    assert_eq!(list("query=4.2.6").await, set(&["PMIx"]));
    assert_eq!(
        list("query=proxy").await,
        set(&["3proxy"]),
        "description match"
    );
    assert_eq!(list("description=ARCHIVER").await, set(&["7zip"]));
    assert_eq!(list("has_version=develop").await, set(&["abacus"]));
    assert_eq!(
        list("name=ldc").await,
        set(&["ldc"]),
        "the alias key D is not a package"
    );
    assert_eq!(
        list("catalog_version=2025-03-20&name=abi").await,
        set(&["abi-compliance-checker", "abi-dumper"])
    );

    let extensions: BTreeSet<String> = installations["hatchling"]
        .iter()
        .flat_map(|i| i["extensions"].as_array().unwrap().iter())
        .map(|e| e["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(list("is_extension=true").await, extensions);
    let hatchling = package_uuid(&app, &token, "name=hatchling&is_extension=false").await;
    let path = format!("/api/marketplace-software-packages/?parent_software_uuid={hatchling}");
    let children = app.get(&path, Some(&token)).await;
    let children: BTreeSet<String> = names(children.body["results"].as_array().unwrap())
        .into_iter()
        .collect();
    assert_eq!(children, extensions);
}

#[tokio::test]
async fn listings_page_order_and_count() {
    let app = TestApp::with_samples().await;
    let token = app.token("reader", false).await;

    let first = app
        .get(
            "/api/marketplace-software-packages/?page_size=3&o=name",
            Some(&token),
        )
        .await;
    let count = first.body["count"].as_u64().unwrap();
    assert!(count > 6);
    assert_eq!(first.body["previous"], Value::Null);
    let next = first.body["next"].as_str().unwrap();
    assert!(
        next.contains("page=2") && next.contains("o=name") && next.contains("page_size=3"),
        "{next}"
    );

    // Walking the pages gives every package once, in name order.
    let walked = app
        .all(
            "/api/marketplace-software-packages/?page_size=3&o=name",
            &token,
        )
        .await;
    let walked = names(&walked);
    assert_eq!(walked.len() as u64, count);
    let mut sorted = walked.clone();
    sorted.sort();
    assert_eq!(walked, sorted);

    let last_page = count.div_ceil(3);
    let last = app
        .get(
            &format!("/api/marketplace-software-packages/?page_size=3&page={last_page}"),
            Some(&token),
        )
        .await;
    assert_eq!(last.body["next"], Value::Null);
    assert!(
        last.body["previous"]
            .as_str()
            .unwrap()
            .contains(&format!("page={}", last_page - 1))
    );
    let beyond = app
        .get(
            &format!(
                "/api/marketplace-software-packages/?page_size=3&page={}",
                last_page + 1
            ),
            Some(&token),
        )
        .await;
    // Past the last page: 404 naming `page`, as Django REST answers.
    assert_eq!(beyond.status, StatusCode::NOT_FOUND);
    assert_eq!(beyond.body["field"], "page");

    // Ordering by version count, descending, then by name.
    let by_versions = app
        .all(
            "/api/marketplace-software-packages/?o=-version_count,name&page_size=300",
            &token,
        )
        .await;
    let counts: Vec<i64> = by_versions
        .iter()
        .map(|p| p["version_count"].as_i64().unwrap())
        .collect();
    assert!(counts.windows(2).all(|w| w[0] >= w[1]), "{counts:?}");
    let descending = app
        .all("/api/marketplace-software-packages/?o=-name", &token)
        .await;
    let mut reversed = sorted.clone();
    reversed.reverse();
    assert_eq!(names(&descending), reversed);

    // The neighbour pages are also in an RFC 8288 Link header.
    let middle = app
        .get(
            "/api/marketplace-software-packages/?page_size=1&page=2",
            Some(&token),
        )
        .await;
    let link = middle.headers["link"].to_str().unwrap().to_owned();
    let next = middle.body["next"].as_str().unwrap();
    let previous = middle.body["previous"].as_str().unwrap();
    assert_eq!(
        link,
        format!("<{next}>; rel=\"next\", <{previous}>; rel=\"prev\"")
    );
    let last = app
        .get(
            &format!(
                "/api/marketplace-software-packages/?page_size=1&page={}",
                sorted.len()
            ),
            Some(&token),
        )
        .await;
    assert!(last.body["next"].is_null());
    assert_eq!(
        last.headers["link"].to_str().unwrap(),
        format!(
            "<{}>; rel=\"prev\"",
            last.body["previous"].as_str().unwrap()
        )
    );

    // HEAD answers the count without a body.
    let head = app
        .send(
            Method::HEAD,
            "/api/marketplace-software-packages/?name=abi",
            Some(&token),
            None,
        )
        .await;
    assert_eq!(head.status, StatusCode::OK);
    assert_eq!(head.headers["x-result-count"], "2");
    assert_eq!(head.body, Value::Null);
}

#[tokio::test]
async fn package_detail_nests_versions_newest_first_with_targets_and_extensions() {
    let app = TestApp::with_samples().await;
    let token = app.token("reader", false).await;
    let installations = sample_installations();

    let pmix = package_uuid(&app, &token, "name=PMIx").await;
    let detail = app
        .get(
            &format!("/api/marketplace-software-packages/{pmix}/"),
            Some(&token),
        )
        .await;
    assert_eq!(detail.status, StatusCode::OK);
    let versions: Vec<&str> = detail.body["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["version"].as_str().unwrap())
        .collect();
    assert_eq!(versions, ["4.2.6", "4.2.4", "4.2.2"]);
    assert_eq!(detail.body["version_count"], 3);
    let newest = &detail.body["versions"][0];
    let source = installations["PMIx"]
        .iter()
        .find(|i| i["version"] == "4.2.6")
        .unwrap();
    assert_eq!(newest["modulename"], source["module"]["full_module_name"]);
    assert_eq!(newest["toolchain_name"], source["toolchain"]["name"]);
    let targets = newest["targets"].as_array().unwrap();
    assert_eq!(targets.len(), source["cpu_arch"].as_array().unwrap().len());
    let zen3 = targets
        .iter()
        .find(|t| t["target_name"] == "x86_64/amd/zen3")
        .unwrap();
    assert_eq!(zen3["cpu_family"], "x86_64");
    assert_eq!(zen3["cpu_microarchitecture"], "amd/zen3");
    assert_eq!(zen3["full_arch"], "x86_64/amd/zen3");
    assert_eq!(
        zen3["path"],
        "/cvmfs/software.eessi.io/versions/2023.06/software/linux/x86_64/amd/zen3"
    );
    assert_eq!(detail.body["extensions"], json!([]));

    let hatchling = package_uuid(&app, &token, "name=hatchling&is_extension=false").await;
    let detail = app
        .get(
            &format!("/api/marketplace-software-packages/{hatchling}/"),
            Some(&token),
        )
        .await;
    let expected: BTreeSet<(String, String)> = installations["hatchling"]
        .iter()
        .flat_map(|i| i["extensions"].as_array().unwrap().iter())
        .map(|e| {
            (
                e["name"].as_str().unwrap().to_owned(),
                e["version"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let shown: BTreeSet<(String, String)> = detail.body["extensions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["name"].as_str().unwrap().to_owned(),
                e["version"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(shown, expected);
    let extension = &detail.body["extensions"][0];
    let extension_path = format!(
        "/api/marketplace-software-packages/{}/",
        extension["uuid"].as_str().unwrap()
    );
    assert!(
        extension["url"]
            .as_str()
            .unwrap()
            .ends_with(&extension_path)
    );
    let shown = app.get(&extension_path, Some(&token)).await;
    assert_eq!(shown.body["is_extension"], true);
    let parents: Vec<&Value> = shown.body["parent_softwares"]
        .as_array()
        .unwrap()
        .iter()
        .map(|parent| &parent["uuid"])
        .collect();
    assert_eq!(parents, [&detail.body["uuid"]]);

    // Spack: a branch version is newer than every release.
    let abacus = package_uuid(&app, &token, "name=abacus").await;
    let detail = app
        .get(
            &format!("/api/marketplace-software-packages/{abacus}/"),
            Some(&token),
        )
        .await;
    let versions: Vec<&str> = detail.body["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["version"].as_str().unwrap())
        .collect();
    assert_eq!(versions, ["develop", "2.2.3", "2.2.2", "2.2.1", "2.2.0"]);
    let targets: Vec<&str> = detail.body["versions"][0]["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["target_name"].as_str().unwrap())
        .collect();
    assert_eq!(targets, ["default"]);
}

#[tokio::test]
async fn versions_and_targets_filter_and_show_details() {
    let app = TestApp::with_samples().await;
    let token = app.token("reader", false).await;
    let installations = sample_installations();

    let espresso = app
        .all(
            "/api/marketplace-software-versions/?package_name=ESPResSo&o=version",
            &token,
        )
        .await;
    assert_eq!(espresso.len(), installations["ESPResSo"].len());
    let toolchains: BTreeSet<String> = espresso
        .iter()
        .map(|v| {
            format!(
                "{}-{}",
                v["toolchain_name"].as_str().unwrap(),
                v["toolchain_version"].as_str().unwrap()
            )
        })
        .collect();
    let expected: BTreeSet<String> = installations["ESPResSo"]
        .iter()
        .map(|i| {
            format!(
                "{}-{}",
                i["toolchain"]["name"].as_str().unwrap(),
                i["toolchain"]["version"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(toolchains, expected);
    assert!(
        app.all(
            "/api/marketplace-software-versions/?package_name_exact=espresso",
            &token
        )
        .await
        .is_empty()
    );
    let any_case = app
        .all(
            "/api/marketplace-software-versions/?package_name=espresso",
            &token,
        )
        .await;
    assert_eq!(any_case.len(), espresso.len());

    let gcc = app
        .all(
            "/api/marketplace-software-versions/?toolchain_name=GCC&catalog_type=binary_runtime",
            &token,
        )
        .await;
    let expected = installations
        .values()
        .flatten()
        .filter(|i| i["toolchain"]["name"] == "GCC")
        .count();
    assert_eq!(gcc.len(), expected);

    let compatible = installations
        .values()
        .flatten()
        .filter(|i| {
            strings(&i["toolchain_families_compatibility"]).contains(&"2023a_foss".to_owned())
        })
        .count();
    let found = app
        .all(
            "/api/marketplace-software-versions/?toolchain_families_compatibility=2023a_foss",
            &token,
        )
        .await;
    let main_versions = found
        .iter()
        .filter(|v| v["parent_versions"] == serde_json::json!([]))
        .count();
    assert_eq!(main_versions, compatible);
    assert!(compatible > 0);

    let a64fx = installations
        .values()
        .flatten()
        .filter(|i| strings(&i["cpu_arch"]).contains(&"aarch64/a64fx".to_owned()))
        .count();
    let found = app
        .all(
            "/api/marketplace-software-versions/?cpu_microarchitecture=a64fx&page_size=300",
            &token,
        )
        .await;
    // Extension versions carry their parent's targets; count main versions.
    let main_versions = found
        .iter()
        .filter(|v| v["parent_versions"] == serde_json::json!([]))
        .count();
    assert_eq!(main_versions, a64fx);

    let version = &espresso[0];
    let detail = app
        .get(
            version["url"]
                .as_str()
                .unwrap()
                .trim_start_matches(&app.base),
            Some(&token),
        )
        .await;
    assert_eq!(detail.body["uuid"], version["uuid"]);
    assert_eq!(detail.body["package_name"], "ESPResSo");

    let targets = app
        .all(
            &format!(
                "/api/marketplace-software-targets/?version_uuid={}",
                version["uuid"].as_str().unwrap()
            ),
            &token,
        )
        .await;
    let source = installations["ESPResSo"]
        .iter()
        .find(|i| i["module"]["full_module_name"] == version["modulename"])
        .unwrap();
    let expected: BTreeSet<String> = strings(&source["cpu_arch"]).into_iter().collect();
    let shown: BTreeSet<String> = targets
        .iter()
        .map(|t| t["full_arch"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(shown, expected);

    let zen4 = app
        .all("/api/marketplace-software-targets/?package_name=PMIx&cpu_family=x86_64&cpu_microarchitecture=amd/zen4", &token)
        .await;
    assert_eq!(zen4.len(), installations["PMIx"].len());
    let target = app
        .get(
            zen4[0]["url"]
                .as_str()
                .unwrap()
                .trim_start_matches(&app.base),
            Some(&token),
        )
        .await;
    assert_eq!(target.body["full_arch"], "x86_64/amd/zen4");
    assert_eq!(target.body["package_name"], "PMIx");

    let spack_default = app
        .get(
            "/api/marketplace-software-targets/?package_name=7zip",
            Some(&token),
        )
        .await;
    let kinds: BTreeSet<String> = spack_default.body["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            format!(
                "{}/{}",
                t["target_type"].as_str().unwrap(),
                t["target_name"].as_str().unwrap()
            )
        })
        .collect();
    let expected: BTreeSet<String> = [
        "build_variant/default",
        "platform/windows",
        "external/system",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect();
    assert_eq!(kinds, expected);
    assert_eq!(spack_default.body["results"][0]["cpu_family"], Value::Null);
}

#[tokio::test]
async fn offering_catalog_links_are_validated_and_restrict_packages() {
    let app = TestApp::with_samples().await;
    let staff = app.token("operator", true).await;
    let installations = sample_installations();
    let eessi = catalog_uuid(&app, &staff, "EESSI").await;
    let spack = catalog_uuid(&app, &staff, "Spack").await;

    let created = app
        .send(
            Method::POST,
            "/api/marketplace-provider-offerings/",
            Some(&staff),
            Some(json!({"name": "Cluster A", "type": "hpc", "managers": ["operator"]})),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let offering = created.body["uuid"].as_str().unwrap().to_owned();
    let action = |name: &str| format!("/api/marketplace-provider-offerings/{offering}/{name}/");

    let add_path = action("add_software_catalog");
    let add = |body: Value| app.send(Method::POST, &add_path, Some(&staff), Some(body));
    let missing = add(json!({"catalog": uuid::Uuid::new_v4()})).await;
    assert_eq!(missing.status, StatusCode::BAD_REQUEST);
    assert_eq!(missing.body["field"], "catalog");
    let bad_family = add(json!({"catalog": eessi, "enabled_cpu_family": ["riscv64"]})).await;
    assert_eq!(bad_family.status, StatusCode::BAD_REQUEST);
    assert_eq!(bad_family.body["field"], "enabled_cpu_family");
    assert!(
        bad_family.body["detail"]
            .as_str()
            .unwrap()
            .contains("riscv64")
    );
    let bad_micro =
        add(json!({"catalog": eessi, "enabled_cpu_microarchitectures": ["amd/zen9"]})).await;
    assert_eq!(bad_micro.status, StatusCode::BAD_REQUEST);
    assert_eq!(bad_micro.body["field"], "enabled_cpu_microarchitectures");
    assert!(
        bad_micro.body["detail"]
            .as_str()
            .unwrap()
            .contains("amd/zen9")
    );

    let linked = add(json!({
        "catalog": eessi,
        "enabled_cpu_family": ["aarch64"],
        "enabled_cpu_microarchitectures": ["a64fx"],
    }))
    .await;
    assert_eq!(linked.status, StatusCode::CREATED, "{}", linked.body);
    let link = linked.body["offering_catalog_uuid"]
        .as_str()
        .unwrap()
        .to_owned();
    let twice = add(json!({"catalog": eessi})).await;
    assert_eq!(twice.status, StatusCode::BAD_REQUEST);
    assert_eq!(twice.body["field"], "catalog");

    // Packages of the offering: those with an a64fx build (their extensions too).
    let with_a64fx: BTreeSet<String> = installations
        .iter()
        .filter(|(_, installs)| {
            installs
                .iter()
                .any(|i| strings(&i["cpu_arch"]).contains(&"aarch64/a64fx".to_owned()))
        })
        .map(|(name, _)| name.clone())
        .collect();
    let path =
        format!("/api/marketplace-software-packages/?offering_uuid={offering}&is_extension=false");
    let offered: BTreeSet<String> = names(&app.all(&path, &staff).await).into_iter().collect();
    assert_eq!(offered, with_a64fx);
    assert!(linked.body["package_count"].as_u64().unwrap() as usize >= with_a64fx.len());

    let updated = app
        .send(
            Method::PATCH,
            &action("update_software_catalog"),
            Some(&staff),
            Some(json!({"offering_catalog_uuid": link, "enabled_cpu_microarchitectures": []})),
        )
        .await;
    assert_eq!(updated.status, StatusCode::OK, "{}", updated.body);
    assert_eq!(updated.body["enabled_cpu_family"], json!(["aarch64"]));
    assert_eq!(updated.body["enabled_cpu_microarchitectures"], json!([]));
    let offered = app.all(&path, &staff).await;
    assert_eq!(
        offered.len(),
        installations.len(),
        "every sample software has aarch64 builds"
    );
    let bad_update = app
        .send(
            Method::PATCH,
            &action("update_software_catalog"),
            Some(&staff),
            Some(json!({"offering_catalog_uuid": link, "enabled_cpu_family": ["sparc"]})),
        )
        .await;
    assert_eq!(bad_update.body["field"], "enabled_cpu_family");
    let unknown_link = app
        .send(
            Method::PATCH,
            &action("update_software_catalog"),
            Some(&staff),
            Some(json!({"offering_catalog_uuid": uuid::Uuid::new_v4(), "enabled_cpu_family": []})),
        )
        .await;
    assert_eq!(unknown_link.status, StatusCode::BAD_REQUEST);
    assert_eq!(unknown_link.body["field"], "offering_catalog_uuid");

    // Spack has no CPU targets: only an unrestricted link is possible.
    let spack_link = add(json!({"catalog": spack})).await;
    assert_eq!(spack_link.status, StatusCode::CREATED);
    let shown = app
        .get(
            &format!("/api/marketplace-provider-offerings/{offering}/"),
            Some(&staff),
        )
        .await;
    let catalogs = shown.body["software_catalogs"].as_array().unwrap();
    assert_eq!(catalogs.len(), 2);
    assert_eq!(catalogs[1]["catalog_name"], "Spack");
    assert_eq!(catalogs[1]["package_count"], 8);
    let listed = app
        .get(
            "/api/marketplace-provider-offerings/?name=cluster%20a",
            Some(&staff),
        )
        .await;
    assert_eq!(listed.body["count"], 1);
    assert_eq!(listed.body["results"][0]["managers"], json!(["operator"]));
    assert_eq!(
        listed.body["results"][0]["software_catalogs"],
        shown.body["software_catalogs"]
    );

    let removed = app
        .send(
            Method::POST,
            &action("remove_software_catalog"),
            Some(&staff),
            Some(json!({"offering_catalog_uuid": link})),
        )
        .await;
    assert_eq!(removed.status, StatusCode::NO_CONTENT);
    let again = app
        .send(
            Method::POST,
            &action("remove_software_catalog"),
            Some(&staff),
            Some(json!({"offering_catalog_uuid": link})),
        )
        .await;
    assert_eq!(again.status, StatusCode::BAD_REQUEST);
    assert_eq!(again.body["field"], "offering_catalog_uuid");
    let path =
        format!("/api/marketplace-software-packages/?offering_uuid={offering}&catalog_name=EESSI");
    assert!(app.all(&path, &staff).await.is_empty());
}

#[tokio::test]
async fn each_role_may_do_exactly_what_it_should() {
    let app = TestApp::with_samples().await;
    let staff = app.token("staff", true).await;
    let user = app.token("user", false).await;
    let manager = app.token("manager", false).await;
    let other_manager = app.token("other", false).await;
    let eessi = catalog_uuid(&app, &staff, "EESSI").await;

    let anonymous = app.get("/api/marketplace-software-packages/", None).await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    assert!(anonymous.body["detail"].is_string());
    let wrong = app
        .get("/api/marketplace-software-packages/", Some("not-a-token"))
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert_eq!(wrong.body["detail"], "invalid token");
    assert_eq!(
        app.get("/api/marketplace-software-packages/", Some(&user))
            .await
            .status,
        StatusCode::OK
    );

    let new_catalog = json!({"name": "Local", "version": "1", "catalog_type": "source_package"});
    let create = |token: Option<String>| {
        let body = new_catalog.clone();
        let app = &app;
        async move {
            app.send(
                Method::POST,
                "/api/marketplace-software-catalogs/",
                token.as_deref(),
                Some(body),
            )
            .await
            .status
        }
    };
    assert_eq!(create(None).await, StatusCode::UNAUTHORIZED);
    assert_eq!(create(Some(user.clone())).await, StatusCode::FORBIDDEN);
    assert_eq!(create(Some(staff.clone())).await, StatusCode::CREATED);

    let offering = |name: &str, managers: Vec<&str>| {
        let app = &app;
        let staff = &staff;
        let body = json!({"name": name, "type": "hpc", "managers": managers});
        async move {
            let answer = app
                .send(
                    Method::POST,
                    "/api/marketplace-provider-offerings/",
                    Some(staff),
                    Some(body),
                )
                .await;
            assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.body);
            answer.body["uuid"].as_str().unwrap().to_owned()
        }
    };
    let mine = offering("Mine", vec!["manager"]).await;
    offering("Theirs", vec!["other"]).await;
    let by_user = app
        .send(
            Method::POST,
            "/api/marketplace-provider-offerings/",
            Some(&user),
            Some(json!({"name": "X"})),
        )
        .await;
    assert_eq!(by_user.status, StatusCode::FORBIDDEN);
    let unknown_manager = app
        .send(
            Method::POST,
            "/api/marketplace-provider-offerings/",
            Some(&staff),
            Some(json!({"name": "Y", "managers": ["nobody"]})),
        )
        .await;
    assert_eq!(unknown_manager.body["field"], "managers");

    let add = format!("/api/marketplace-provider-offerings/{mine}/add_software_catalog/");
    let link = |token: Option<String>| {
        let app = &app;
        let add = add.clone();
        let body = json!({"catalog": eessi});
        async move {
            app.send(Method::POST, &add, token.as_deref(), Some(body))
                .await
        }
    };
    assert_eq!(link(None).await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(link(Some(user.clone())).await.status, StatusCode::FORBIDDEN);
    assert_eq!(
        link(Some(other_manager.clone())).await.status,
        StatusCode::FORBIDDEN
    );
    let by_manager = link(Some(manager.clone())).await;
    assert_eq!(
        by_manager.status,
        StatusCode::CREATED,
        "{}",
        by_manager.body
    );
    let link_uuid = by_manager.body["offering_catalog_uuid"]
        .as_str()
        .unwrap()
        .to_owned();
    let remove = format!("/api/marketplace-provider-offerings/{mine}/remove_software_catalog/");
    let by_other = app
        .send(
            Method::POST,
            &remove,
            Some(&other_manager),
            Some(json!({"offering_catalog_uuid": link_uuid})),
        )
        .await;
    assert_eq!(by_other.status, StatusCode::FORBIDDEN);
    let by_staff = app
        .send(
            Method::POST,
            &remove,
            Some(&staff),
            Some(json!({"offering_catalog_uuid": link_uuid})),
        )
        .await;
    assert_eq!(by_staff.status, StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn anonymous_reads_can_be_switched_on() {
    let app = TestApp::spawn(true).await;
    let answer = app.get("/api/marketplace-software-catalogs/", None).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.body["count"], 0);
    let write = app
        .send(
            Method::POST,
            "/api/marketplace-software-catalogs/",
            None,
            Some(json!({"name": "A", "version": "1", "catalog_type": "source_package"})),
        )
        .await;
    assert_eq!(write.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn staff_edit_and_delete_catalogs() {
    let app = TestApp::with_samples().await;
    let staff = app.token("staff", true).await;
    let spack = catalog_uuid(&app, &staff, "Spack").await;
    let path = format!("/api/marketplace-software-catalogs/{spack}/");

    let changed = app
        .send(
            Method::PATCH,
            &path,
            Some(&staff),
            Some(json!({"description": "mirror"})),
        )
        .await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.body);
    assert_eq!(changed.body["description"], "mirror");
    assert_eq!(changed.body["name"], "Spack");
    assert_eq!(
        app.db
            .count("SELECT count(*) FROM software_catalogs WHERE name = 'Spack' AND source_fingerprint IS NULL")
            .await,
        1,
        "an edit makes the next load compare the data"
    );
    let blank = app
        .send(
            Method::PATCH,
            &path,
            Some(&staff),
            Some(json!({"name": " "})),
        )
        .await;
    assert_eq!(blank.status, StatusCode::BAD_REQUEST);
    assert_eq!(blank.body["field"], "name");
    let duplicate = app
        .send(
            Method::POST,
            "/api/marketplace-software-catalogs/",
            Some(&staff),
            Some(json!({"name": "EESSI", "version": "2023.06", "catalog_type": "binary_runtime"})),
        )
        .await;
    assert_eq!(duplicate.status, StatusCode::BAD_REQUEST);
    assert_eq!(duplicate.body["field"], "name");
    let missing_field = app
        .send(
            Method::POST,
            "/api/marketplace-software-catalogs/",
            Some(&staff),
            Some(json!({"name": "EESSI"})),
        )
        .await;
    assert_eq!(missing_field.status, StatusCode::BAD_REQUEST);
    assert_eq!(missing_field.body["field"], "body");

    let deleted = app.send(Method::DELETE, &path, Some(&staff), None).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    assert_eq!(
        app.get(&path, Some(&staff)).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(app.db.catalog_size("Spack", "2025-03-20").await, (0, 0, 0));
    let (packages, _, _) = app.db.catalog_size("EESSI", "2023.06").await;
    assert!(packages > 0, "the other catalog is untouched");
}

#[tokio::test]
async fn bad_requests_get_json_errors_naming_the_parameter() {
    let app = TestApp::with_samples().await;
    let token = app.token("reader", false).await;
    for (query, field) in [
        ("catalog_uuid=not-a-uuid", "catalog_uuid"),
        ("page=0", "page"),
        ("page_size=0", "page_size"),
        ("page=x", "page"),
        ("is_extension=maybe", "is_extension"),
        ("o=popularity", "o"),
        ("page=100000000000000000&page_size=300", "page"),
        ("name=gro%00macs", "name"),
    ] {
        let answer = app
            .get(
                &format!("/api/marketplace-software-packages/?{query}"),
                Some(&token),
            )
            .await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{query}");
        assert_eq!(answer.body["field"], field, "{query}: {}", answer.body);
    }
    // What each parameter needs, in words rather than the parser's.
    for (query, detail) in [
        ("page_size=ten", "page_size: a positive integer is required"),
        ("page=-1", "page: a positive integer is required"),
        ("page=0", "page: must be at least 1"),
        ("page_size=0", "page_size: must be at least 1"),
        (
            "is_extension=maybe",
            "is_extension: true or false is required",
        ),
        (
            "catalog_uuid=x",
            "catalog_uuid: a UUID such as 0193a0f4-41a4-4d47-a4a4-6a4bdf1b8b55 is required",
        ),
        (
            "catalog_type=conda",
            "catalog_type: one of the values the API documents for it is required (see /api/docs/)",
        ),
    ] {
        let answer = app
            .get(
                &format!("/api/marketplace-software-packages/?{query}"),
                Some(&token),
            )
            .await;
        assert_eq!(answer.body["detail"], detail, "{query}");
    }
    let date = app
        .get(
            "/api/marketplace-software-versions/?release_date_after=June",
            Some(&token),
        )
        .await;
    assert_eq!(
        date.body["detail"],
        "release_date_after: a date such as 2026-06-30 is required"
    );
    let dates = app
        .get(
            "/api/marketplace-software-versions/?release_date_after=yesterday",
            Some(&token),
        )
        .await;
    assert_eq!(dates.body["field"], "release_date_after");

    for path in [
        format!(
            "/api/marketplace-software-packages/{}/",
            uuid::Uuid::new_v4()
        ),
        format!(
            "/api/marketplace-software-versions/{}/",
            uuid::Uuid::new_v4()
        ),
        format!(
            "/api/marketplace-software-targets/{}/",
            uuid::Uuid::new_v4()
        ),
        format!(
            "/api/marketplace-software-catalogs/{}/",
            uuid::Uuid::new_v4()
        ),
        format!(
            "/api/marketplace-provider-offerings/{}/",
            uuid::Uuid::new_v4()
        ),
        "/api/marketplace-software-packages/not-a-uuid/".to_owned(),
        "/api/no-such-thing/".to_owned(),
    ] {
        let answer = app.get(&path, Some(&token)).await;
        assert_eq!(answer.status, StatusCode::NOT_FOUND, "{path}");
        assert!(answer.body["detail"].is_string(), "{path}: {}", answer.body);
    }

    let huge = app
        .get(
            "/api/marketplace-software-packages/?page_size=1000000",
            Some(&token),
        )
        .await;
    assert_eq!(huge.status, StatusCode::OK);

    let staff = app.token("staff", true).await;
    for (body, field) in [
        (
            json!({"name": "A", "version": "1", "catalog_type": "conda"}),
            "catalog_type",
        ),
        (
            json!({"name": "A\u{0}", "version": "1", "catalog_type": "source_package"}),
            "name",
        ),
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
        assert_eq!(answer.body["field"], field, "{}", answer.body);
    }
    let path = format!(
        "/api/marketplace-provider-offerings/{}/add_software_catalog/",
        uuid::Uuid::new_v4()
    );
    let anonymous = app
        .send(
            Method::POST,
            &path,
            None,
            Some(json!({"catalog": uuid::Uuid::new_v4()})),
        )
        .await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn openapi_document_lists_every_route_and_docs_and_health_answer() {
    let app = TestApp::spawn(false).await;
    let document = app.get("/api/openapi.json", None).await;
    assert_eq!(document.status, StatusCode::OK);
    let paths: BTreeSet<&str> = document.body["paths"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let expected: BTreeSet<&str> = [
        "/health",
        "/ready",
        "/api/marketplace-software-catalogs",
        "/api/marketplace-software-catalogs/{uuid}",
        "/api/marketplace-software-catalogs/{uuid}/cpu_targets",
        "/api/marketplace-software-catalogs/{uuid}/update_catalog",
        "/api/marketplace-software-catalogs/discover",
        "/api/marketplace-software-catalogs/import_catalog",
        "/api/marketplace-software-catalogs/upload",
        "/api/marketplace-software-packages",
        "/api/marketplace-software-packages/{uuid}",
        "/api/marketplace-software-versions",
        "/api/marketplace-software-versions/{uuid}",
        "/api/marketplace-software-targets",
        "/api/marketplace-software-targets/{uuid}",
        "/api/marketplace-provider-offerings",
        "/api/marketplace-provider-offerings/{uuid}",
        "/api/marketplace-provider-offerings/{uuid}/add_software_catalog",
        "/api/marketplace-provider-offerings/{uuid}/update_software_catalog",
        "/api/marketplace-provider-offerings/{uuid}/remove_software_catalog",
        "/api/marketplace-provider-offerings/{uuid}/add_partition",
        "/api/marketplace-provider-offerings/{uuid}/update_partition",
        "/api/marketplace-provider-offerings/{uuid}/remove_partition",
        "/api/marketplace-provider-offerings/{uuid}/add_qos",
        "/api/marketplace-provider-offerings/{uuid}/update_qos",
        "/api/marketplace-provider-offerings/{uuid}/remove_qos",
        "/api/marketplace-provider-offerings/{uuid}/set_partition_qos",
        "/api/marketplace-offering-partitions",
        "/api/marketplace-offering-software-catalogs",
        "/api/marketplace-provider-offerings/{uuid}/add_manager",
        "/api/marketplace-provider-offerings/{uuid}/remove_manager",
        "/api/admin/jobs",
        "/api/admin/jobs/{id}",
        "/api/admin/jobs/{id}/cancel",
        "/api/admin/software-catalogs/refresh",
        "/api/admin/settings",
    ]
    .into_iter()
    .collect();
    assert_eq!(paths, expected);
    for (path, item) in document.body["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            assert!(
                operation["summary"].is_string(),
                "{method} {path} has no summary"
            );
            for parameter in operation["parameters"].as_array().into_iter().flatten() {
                assert!(
                    parameter["description"].is_string(),
                    "{method} {path}: {parameter}"
                );
            }
        }
    }
    // Fields that may be null say so.
    let schemas = &document.body["components"]["schemas"];
    for (schema, field) in [
        ("PackagePage", "next"),
        ("PackagePage", "previous"),
        ("Version", "release_date"),
        ("Job", "error"),
        ("Job", "catalog"),
        ("Job", "parent"),
        ("Job", "started"),
        ("Job", "run_after"),
        ("Job", "worker"),
        ("Catalog", "last_update_attempt"),
    ] {
        assert_eq!(
            schemas[schema]["properties"][field]["nullable"], true,
            "{schema}.{field}: {}",
            schemas[schema]["properties"][field]
        );
    }
    let packages = &document.body["paths"]["/api/marketplace-software-packages"]["get"];
    let parameters: BTreeSet<&str> = packages["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    for name in [
        "catalog_uuid",
        "query",
        "has_version",
        "offering_uuid",
        "cpu_microarchitecture",
        "o",
        "page",
        "page_size",
    ] {
        assert!(parameters.contains(name), "{name}");
    }
    for parameter in packages["parameters"].as_array().unwrap() {
        assert_eq!(parameter["required"], false, "{parameter}");
    }
    // Every paginated list says where its pages and page sizes start.
    let mut paginated = 0;
    for (path, operations) in document.body["paths"].as_object().unwrap() {
        for (method, operation) in operations.as_object().unwrap() {
            for parameter in operation["parameters"].as_array().into_iter().flatten() {
                if parameter["name"] == "page" || parameter["name"] == "page_size" {
                    paginated += 1;
                    assert_eq!(
                        parameter["schema"]["minimum"].as_f64(),
                        Some(1.0),
                        "{method} {path}: {parameter}"
                    );
                }
            }
        }
    }
    assert!(paginated >= 16, "{paginated} page parameters");
    let name = packages["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "name")
        .unwrap();
    assert_eq!(name["schema"]["example"], "GROMACS");
    assert!(document.body["components"]["securitySchemes"]["TokenAuth"].is_object());
    for status in ["200", "400", "401", "404"] {
        assert!(
            packages["responses"][status].is_object(),
            "{status} undocumented"
        );
    }

    let yaml = app.get("/api/openapi.yaml", None).await;
    assert_eq!(yaml.status, StatusCode::OK);
    assert!(
        yaml.body
            .as_str()
            .unwrap()
            .contains("/api/marketplace-software-packages")
    );
    let docs = app.get("/api/docs/", None).await;
    assert_eq!(docs.status, StatusCode::OK);
    assert!(docs.body.as_str().unwrap().contains("swagger"), "docs page");

    assert_eq!(app.get("/health", None).await.body, json!({"status": "ok"}));
    assert_eq!(app.get("/ready", None).await.body, json!({"status": "ok"}));
}

#[tokio::test]
async fn the_full_spack_catalog_is_served_with_counts_from_the_source() {
    let app = TestApp::spawn(false).await;
    let spack = support::spack_source(data_file("spack/repology.json"));
    app.db.load_spack(&spack, support::UPDATE).await.unwrap();
    let token = app.token("reader", false).await;

    let text = std::fs::read(data_file("spack/repology.json")).unwrap();
    let document: Value = serde_json::from_slice(&text).unwrap();
    let mut identities = BTreeSet::new();
    let mut with_develop = BTreeSet::new();
    for (key, package) in document["packages"].as_object().unwrap() {
        let name = package["name"].as_str().unwrap_or(key).to_owned();
        let versions = package["version"].as_array().unwrap();
        if versions.iter().any(|v| v["version"] == "develop") {
            with_develop.insert(name.clone());
        }
        identities.insert(name);
    }

    let all = app
        .get(
            "/api/marketplace-software-packages/?page_size=1000000",
            Some(&token),
        )
        .await;
    assert_eq!(all.body["count"], identities.len() as u64);
    assert_eq!(
        all.body["results"].as_array().unwrap().len(),
        300,
        "page size is clamped"
    );
    let develop = app
        .get(
            "/api/marketplace-software-packages/?has_version=develop&page_size=1",
            Some(&token),
        )
        .await;
    assert_eq!(
        develop.headers["x-result-count"],
        with_develop.len().to_string().as_str()
    );
    let targets = app
        .get(
            "/api/marketplace-software-targets/?page_size=1",
            Some(&token),
        )
        .await;
    assert!(targets.body["count"].as_u64().unwrap() > identities.len() as u64);
    let version_path = "/api/marketplace-software-versions/?package_name_exact=cmake&page_size=1";
    let cmake_versions = app.get(version_path, Some(&token)).await;
    let expected: BTreeSet<&str> = document["packages"]["cmake"]["version"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["version"].as_str().unwrap())
        .collect();
    assert_eq!(cmake_versions.body["count"], expected.len() as u64);
}

#[tokio::test]
async fn a_load_committed_elsewhere_shows_in_cached_answers() {
    let app = TestApp::with_samples().await;
    let token = app.token("reader", false).await;
    let path = "/api/marketplace-software-catalogs/?source=spack";
    let before = app.get(path, Some(&token)).await;
    assert_eq!(before.body["results"][0]["package_count"], 8);
    // Served again, now from the cache.
    assert_eq!(app.get(path, Some(&token)).await.body, before.body);

    // A worker would load through the loader, not through this API.
    let full = support::spack_source(data_file("spack/repology.json"));
    let mut replacement = full.clone();
    replacement.catalog_version = Some("2025-03-20".into());
    app.db
        .load_spack(&replacement, support::UPDATE)
        .await
        .unwrap();
    let expected = app
        .db
        .count("SELECT count(*) FROM software_packages p JOIN software_catalogs c ON c.id = p.catalog_id WHERE c.name = 'Spack'")
        .await;
    assert!(expected > 8);

    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let now = app.get(path, Some(&token)).await;
        if now.body["results"][0]["package_count"] == expected {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "still {}", now.body);
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn the_first_load_into_an_empty_database_shows_in_cached_answers() {
    let app = TestApp::spawn(false).await;
    let token = app.token("reader", false).await;
    let path = "/api/marketplace-software-catalogs/";
    // Let the API read the generation, then cache the empty answer.
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    assert_eq!(app.get(path, Some(&token)).await.body["count"], 0);
    assert_eq!(app.get(path, Some(&token)).await.body["count"], 0);

    let spack = support::spack_source(data_file("spack/published-sample_repology.json"));
    app.db.load_spack(&spack, support::UPDATE).await.unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while app.get(path, Some(&token)).await.body["count"] != 1 {
        assert!(
            std::time::Instant::now() < deadline,
            "the load never showed"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn uuid_filters_and_offering_filters_on_versions_and_targets() {
    let app = TestApp::with_samples().await;
    let staff = app.token("staff", true).await;
    let installations = sample_installations();
    let eessi = catalog_uuid(&app, &staff, "EESSI").await;
    let spack = catalog_uuid(&app, &staff, "Spack").await;
    let count = |path: String| {
        let app = &app;
        let staff = &staff;
        async move {
            let answer = app.get(&path, Some(staff)).await;
            assert_eq!(answer.status, StatusCode::OK, "{path}: {}", answer.body);
            answer.body["count"].as_u64().unwrap()
        }
    };
    let main_installations = installations.values().flatten().count() as u64;
    let targets_of = |filter: &dyn Fn(&Value) -> bool| -> u64 {
        installations
            .values()
            .flatten()
            .filter(|i| filter(i))
            .map(|i| i["cpu_arch"].as_array().unwrap().len() as u64)
            .sum()
    };

    // Packages and versions by catalog.
    assert_eq!(
        count(format!(
            "/api/marketplace-software-packages/?catalog_uuid={spack}"
        ))
        .await,
        8
    );
    // One version per installation, plus one per extension per installation.
    let extension_versions: u64 = installations
        .values()
        .flatten()
        .map(|i| i["extensions"].as_array().unwrap().len() as u64)
        .sum();
    let eessi_versions = count(format!(
        "/api/marketplace-software-versions/?catalog_uuid={eessi}&o=-version"
    ))
    .await;
    assert_eq!(eessi_versions, main_installations + extension_versions);

    // Versions and targets of one package, by UUID.
    let pmix = package_uuid(&app, &staff, "name=PMIx").await;
    assert_eq!(
        count(format!(
            "/api/marketplace-software-versions/?package_uuid={pmix}"
        ))
        .await,
        installations["PMIx"].len() as u64
    );
    assert_eq!(
        count(format!(
            "/api/marketplace-software-targets/?package_uuid={pmix}"
        ))
        .await,
        targets_of(&|i| i["module"]["full_module_name"]
            .as_str()
            .unwrap()
            .starts_with("PMIx/"))
    );
    assert_eq!(
        count("/api/marketplace-software-targets/?package_name=PMIx&version=4.2.4".into()).await,
        targets_of(&|i| i["module"]["full_module_name"] == "PMIx/4.2.4-GCCcore-12.3.0")
    );

    // CPU family on versions: every sample installation has aarch64 builds.
    let aarch64 = app
        .all(
            "/api/marketplace-software-versions/?cpu_family=aarch64&page_size=300",
            &staff,
        )
        .await;
    let main_aarch64 = aarch64
        .iter()
        .filter(|v| v["parent_versions"] == serde_json::json!([]))
        .count() as u64;
    assert_eq!(main_aarch64, main_installations);
    assert_eq!(
        count("/api/marketplace-software-versions/?cpu_family=riscv64".into()).await,
        0
    );

    // No sample states release dates, so a date range finds nothing.
    assert_eq!(
        count("/api/marketplace-software-versions/?release_date_after=2000-01-01".into()).await,
        0
    );

    // An offering enabling only a64fx: its versions and targets.
    let offering = app
        .send(
            Method::POST,
            "/api/marketplace-provider-offerings/",
            Some(&staff),
            Some(json!({"name": "A64FX cluster"})),
        )
        .await
        .body["uuid"]
        .as_str()
        .unwrap()
        .to_owned();
    let linked = app
        .send(
            Method::POST,
            &format!("/api/marketplace-provider-offerings/{offering}/add_software_catalog/"),
            Some(&staff),
            Some(json!({"catalog": eessi, "enabled_cpu_microarchitectures": ["a64fx"]})),
        )
        .await;
    assert_eq!(linked.status, StatusCode::CREATED);
    let a64fx = |i: &Value| strings(&i["cpu_arch"]).contains(&"aarch64/a64fx".to_owned());
    let offered_targets = app
        .all(
            &format!("/api/marketplace-software-targets/?offering_uuid={offering}&page_size=300"),
            &staff,
        )
        .await;
    assert!(
        offered_targets
            .iter()
            .all(|t| t["full_arch"] == "aarch64/a64fx")
    );
    // One a64fx target per a64fx installation and per extension it holds.
    let expected: usize = installations
        .values()
        .flatten()
        .filter(|i| a64fx(i))
        .map(|i| 1 + i["extensions"].as_array().unwrap().len())
        .sum();
    assert_eq!(offered_targets.len(), expected);
    let offered_versions = app
        .all(
            &format!("/api/marketplace-software-versions/?offering_uuid={offering}&page_size=300"),
            &staff,
        )
        .await;
    let main_offered = offered_versions
        .iter()
        .filter(|v| v["parent_versions"] == serde_json::json!([]))
        .count();
    assert_eq!(
        main_offered,
        installations
            .values()
            .flatten()
            .filter(|i| a64fx(i))
            .count()
    );
    let ordered = app
        .all(
            &format!("/api/marketplace-software-targets/?offering_uuid={offering}&o=-package_name"),
            &staff,
        )
        .await;
    let names: Vec<&str> = ordered
        .iter()
        .map(|t| t["package_name"].as_str().unwrap())
        .collect();
    assert!(names.windows(2).all(|w| w[0] >= w[1]), "{names:?}");
}

#[tokio::test]
async fn a_body_that_is_not_json_is_a_documented_415() {
    let app = TestApp::spawn(false).await;
    let staff = app.token("staff", true).await;
    let answer = app
        .client
        .post(format!("{}/api/marketplace-software-catalogs/", app.base))
        .header("Authorization", format!("Token {staff}"))
        .header("Content-Type", "text/plain")
        .body("name=EESSI")
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status().as_u16(), 415);
    let body: Value = answer.json().await.unwrap();
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("application/json"),
        "{body}"
    );
    let document = app.get("/api/openapi.json", None).await;
    let responses =
        &document.body["paths"]["/api/marketplace-software-catalogs"]["post"]["responses"];
    assert!(responses["415"].is_object(), "{responses}");
}
