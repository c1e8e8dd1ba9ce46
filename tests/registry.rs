//! The registry of sources is the one place a source is declared: every
//! registered source appears in the command line, the configuration, the
//! runtime settings and the OpenAPI document, and the names operators
//! already use (EESSI's and Spack's) stay as they were.

mod support;

use std::collections::BTreeSet;
use std::process::Command;

use softcat_shared::catalog::CatalogKind;
use softcat_shared::settings::CatalogSettings;
use softcat_shared::sources::registry::OptionKind;
use support::app::TestApp;

fn softcat(args: &[&str]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_softcat"))
        .args(args)
        .env("SOFTCAT_CONFIG", "/nonexistent/softcat.toml")
        .env("SOFTCAT_LOG", "warn")
        .output()
        .expect("run softcat");
    assert!(output.status.success(), "softcat {args:?}: {output:?}");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn every_source_is_a_load_command_with_its_flags() {
    let overview = softcat(&["load", "--help"]);
    for kind in CatalogKind::all() {
        let definition = kind.definition();
        assert!(overview.contains(definition.id), "{overview}");
        let help = softcat(&["load", definition.id, "--help"]);
        let url_flag = format!("--{}", definition.url_key.replace('_', "-"));
        assert!(help.contains(&url_flag), "{kind}: {help}");
        for option in definition.options {
            assert!(
                help.contains(&format!("--{}", option.flag)),
                "{kind}: {help}"
            );
            if option.kind == OptionKind::Flag {
                assert!(
                    help.contains(&format!("--no-{}", option.flag)),
                    "{kind}: {help}"
                );
            }
        }
        for common in ["--dry-run", "--update-existing", "--allow-shrink", "--json"] {
            assert!(help.contains(common), "{kind}: {help}");
        }
        let enqueue = softcat(&["enqueue", "load", definition.id, "--help"]);
        assert!(enqueue.contains(&url_flag), "{kind}: {enqueue}");
    }
    // The flags operators already type.
    assert!(softcat(&["load", "eessi", "--help"]).contains("--api-url"));
    assert!(softcat(&["load", "eessi", "--help"]).contains("--no-extensions"));
    assert!(softcat(&["load", "spack", "--help"]).contains("--data-url"));
}

#[test]
fn every_source_has_a_configuration_section() {
    let config: serde_json::Value =
        serde_json::from_str(&softcat(&["config"])).expect("config is JSON");
    for kind in CatalogKind::all() {
        let definition = kind.definition();
        let section = &config[definition.id];
        assert!(section.is_object(), "{kind}: {config}");
        assert!(
            section.get(definition.url_key).is_some(),
            "{kind}: {section}"
        );
        for option in definition.options {
            assert!(section.get(option.name).is_some(), "{kind}: {section}");
        }
    }
    assert_eq!(
        config["eessi"]["api_url"],
        "https://www.eessi.io/api_data/data/"
    );
    assert_eq!(
        config["spack"]["data_url"],
        "https://packages.spack.io/data/repology.json"
    );
}

#[tokio::test]
async fn every_source_has_its_settings_and_is_in_the_openapi_document() {
    let app = TestApp::spawn(false).await;
    let staff = app.token("admin", true).await;
    let settings = app.get("/api/admin/settings/", Some(&staff)).await;
    let keys: BTreeSet<String> = settings.body.as_object().unwrap().keys().cloned().collect();
    let expected: BTreeSet<String> = CatalogSettings::keys().into_iter().collect();
    assert_eq!(keys, expected);
    for kind in CatalogKind::all() {
        let definition = kind.definition();
        let id = definition.id.to_ascii_uppercase();
        for suffix in ["UPDATE_ENABLED", "VERSION"] {
            assert!(
                keys.contains(&format!("SOFTWARE_CATALOG_{id}_{suffix}")),
                "{kind}"
            );
        }
        let url = definition.url_key.to_ascii_uppercase();
        assert!(
            keys.contains(&format!("SOFTWARE_CATALOG_{id}_{url}")),
            "{kind}"
        );
        for option in definition.options {
            let option = option.name.to_ascii_uppercase();
            assert!(
                keys.contains(&format!("SOFTWARE_CATALOG_{id}_{option}")),
                "{kind}"
            );
        }
    }
    for key in [
        "SOFTWARE_CATALOG_EESSI_UPDATE_ENABLED",
        "SOFTWARE_CATALOG_EESSI_VERSION",
        "SOFTWARE_CATALOG_EESSI_API_URL",
        "SOFTWARE_CATALOG_EESSI_INCLUDE_EXTENSIONS",
        "SOFTWARE_CATALOG_SPACK_UPDATE_ENABLED",
        "SOFTWARE_CATALOG_SPACK_VERSION",
        "SOFTWARE_CATALOG_SPACK_DATA_URL",
    ] {
        assert!(keys.contains(key), "{key}");
    }

    let document = app.get("/api/openapi.json", None).await;
    let schemas = &document.body["components"]["schemas"];
    let sources: BTreeSet<&str> = schemas["CatalogSource"]["enum"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|id| id.as_str())
        .collect();
    let registered: BTreeSet<&str> = CatalogKind::all().map(CatalogKind::as_str).collect();
    assert_eq!(sources, registered);
    let options = schemas["LoadOptions"]["properties"].as_object().unwrap();
    for kind in CatalogKind::all() {
        for option in kind.definition().options {
            assert!(options.contains_key(option.name), "{kind}: {}", option.name);
        }
    }
    let job = &schemas["JobCreate"]["properties"];
    assert!(job["source"].to_string().contains("CatalogSource"), "{job}");
    assert!(job["options"].to_string().contains("LoadOptions"), "{job}");
    let documented: BTreeSet<String> = schemas["Settings"]["properties"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    assert_eq!(documented, expected);
}

#[tokio::test]
async fn a_load_job_takes_its_sources_options_and_refuses_others_by_name() {
    let app = TestApp::spawn(false).await;
    let staff = app.token("admin", true).await;
    let post = |body: serde_json::Value| {
        let app = &app;
        let staff = staff.clone();
        async move {
            app.send(
                reqwest::Method::POST,
                "/api/admin/jobs/",
                Some(&staff),
                Some(body),
            )
            .await
        }
    };
    let tree = support::data_file("lmod/uit-stallo_old-format.json");
    let accepted = post(serde_json::json!({
        "kind": "load", "source": "lmod", "url": tree, "catalog_name": "Stallo",
        "options": {"cpu_targets": ["x86_64/intel/sandybridge", "x86_64/amd/zen4"]},
    }))
    .await;
    assert_eq!(accepted.status, 202, "{}", accepted.body);
    let id = accepted.body["id"].as_str().unwrap();
    let job = app
        .get(&format!("/api/admin/jobs/{id}/"), Some(&staff))
        .await;
    assert_eq!(
        job.body["parameters"]["cpu_targets"],
        serde_json::json!(["x86_64/intel/sandybridge", "x86_64/amd/zen4"])
    );

    let cases = [
        (
            serde_json::json!({"kind": "load", "source": "spack",
                               "options": {"include_extensions": true}}),
            "options.include_extensions",
        ),
        (
            serde_json::json!({"kind": "load", "source": "lmod", "url": tree,
                               "catalog_name": "Stallo",
                               "options": {"cpu_targets": ["zen4"]}}),
            "options.cpu_targets",
        ),
        (
            serde_json::json!({"kind": "load", "source": "lmod", "catalog_name": "Stallo"}),
            "url",
        ),
        (
            serde_json::json!({"kind": "load", "source": "lmod", "url": tree}),
            "catalog_name",
        ),
    ];
    for (body, field) in cases {
        let refused = post(body.clone()).await;
        assert_eq!(refused.status, 400, "{body}: {}", refused.body);
        assert!(
            refused.body.to_string().contains(field),
            "{body}: {}",
            refused.body
        );
    }
    // The body's old flat flag still reaches EESSI, and Spack ignores it
    // as it always did.
    let spack = post(serde_json::json!({"kind": "load", "source": "spack",
                                        "include_extensions": true}))
    .await;
    assert_eq!(spack.status, 202, "{}", spack.body);
    let eessi = post(serde_json::json!({"kind": "load", "source": "eessi",
                                        "include_extensions": false}))
    .await;
    assert_eq!(eessi.status, 202, "{}", eessi.body);
    let id = eessi.body["id"].as_str().unwrap();
    let job = app
        .get(&format!("/api/admin/jobs/{id}/"), Some(&staff))
        .await;
    assert_eq!(job.body["parameters"]["include_extensions"], false);

    let unknown = post(serde_json::json!({"kind": "load", "source": "nope"})).await;
    assert_eq!(unknown.status, 400, "{}", unknown.body);
    assert!(
        unknown.body.to_string().contains("eessi"),
        "{}",
        unknown.body
    );
}
