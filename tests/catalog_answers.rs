//! The answers of the catalog API over the real EESSI and Spack data,
//! compared with answers computed in the test: from the source JSON, and
//! from plain SQL rows filtered here by the rules the API documents.

mod support;

use std::collections::{BTreeMap, BTreeSet};

use poem::http::StatusCode;
use reqwest::Method;
use sea_orm::{FromQueryResult, Statement};
use serde_json::{Value, json};
use support::app::TestApp;
use support::{UPDATE, data_file, eessi_source, spack_source};

/// One target (or a version without targets, or a package without
/// versions) with everything above it, as plain SQL reads it.
#[derive(Debug, Clone, FromQueryResult)]
struct Row {
    catalog_uuid: uuid::Uuid,
    package_uuid: uuid::Uuid,
    package_name: String,
    version_uuid: Option<uuid::Uuid>,
    target_uuid: Option<uuid::Uuid>,
    cpu_family: Option<String>,
    cpu_microarchitecture: Option<String>,
    gpus: Value,
}

async fn all_rows(app: &TestApp) -> Vec<Row> {
    Row::find_by_statement(Statement::from_string(
        sea_orm::DatabaseBackend::Postgres,
        "SELECT c.uuid AS catalog_uuid, p.uuid AS package_uuid, p.name AS package_name, \
           v.uuid AS version_uuid, t.uuid AS target_uuid, t.cpu_family, t.cpu_microarchitecture, \
           coalesce(t.metadata->'gpu_arch', '[]'::jsonb) AS gpus \
         FROM software_catalogs c JOIN software_packages p ON p.catalog_id = c.id \
         LEFT JOIN software_versions v ON v.package_id = p.id \
         LEFT JOIN software_targets t ON t.version_id = v.id",
    ))
    .all(&app.db.conn)
    .await
    .expect("read every row")
}

/// An offering's link to one catalog, as created through the API.
#[derive(Debug, Clone)]
struct Link {
    catalog: uuid::Uuid,
    families: Vec<String>,
    micros: Vec<String>,
}

impl Link {
    fn enables(&self, row: &Row) -> bool {
        let unrestricted = self.families.is_empty() && self.micros.is_empty();
        unrestricted
            || (row.target_uuid.is_some()
                && (self.families.is_empty()
                    || row
                        .cpu_family
                        .as_ref()
                        .is_some_and(|f| self.families.contains(f)))
                && (self.micros.is_empty()
                    || row
                        .cpu_microarchitecture
                        .as_ref()
                        .is_some_and(|m| self.micros.contains(m))))
    }
}

/// One random combination of filters.
#[derive(Debug, Clone, Default)]
struct Combination {
    offering: Option<(String, Vec<Link>)>,
    families: Vec<String>,
    micros: Vec<String>,
    /// The micro-architectures as the request names them (some short).
    micros_asked: Vec<String>,
    has_gpu: Option<bool>,
    name: Option<String>,
    catalog: Option<uuid::Uuid>,
}

impl Combination {
    fn target_conditions(&self) -> bool {
        !self.families.is_empty() || !self.micros.is_empty() || self.has_gpu.is_some()
    }

    fn query(&self, name_parameter: &str) -> String {
        let mut query = vec!["page_size=300".to_owned()];
        if let Some((uuid, _)) = &self.offering {
            query.push(format!("offering_uuid={uuid}"));
        }
        for family in &self.families {
            query.push(format!("cpu_family={family}"));
        }
        if !self.micros_asked.is_empty() {
            query.push(format!(
                "cpu_microarchitecture={}",
                self.micros_asked.join(",")
            ));
        }
        if let Some(gpu) = self.has_gpu {
            query.push(format!("has_gpu={gpu}"));
        }
        if let Some(name) = &self.name {
            query.push(format!("{name_parameter}={name}"));
        }
        if let Some(catalog) = &self.catalog {
            query.push(format!("catalog_uuid={catalog}"));
        }
        query.join("&")
    }

    /// Whether the row's package passes the filters that are not about targets.
    fn package_matches(&self, row: &Row) -> bool {
        self.name.as_ref().is_none_or(|name| {
            row.package_name
                .to_lowercase()
                .contains(&name.to_lowercase())
        }) && self.catalog.is_none_or(|c| c == row.catalog_uuid)
    }

    /// Whether one target row satisfies every target-level condition.
    fn target_matches(&self, row: &Row) -> bool {
        let Some(_) = row.target_uuid else {
            return false;
        };
        let offered = self.offering.as_ref().is_none_or(|(_, links)| {
            links
                .iter()
                .any(|link| link.catalog == row.catalog_uuid && link.enables(row))
        });
        let gpus = row.gpus.as_array().map_or(0, Vec::len);
        offered
            && (self.families.is_empty()
                || row
                    .cpu_family
                    .as_ref()
                    .is_some_and(|f| self.families.contains(f)))
            && (self.micros.is_empty()
                || row
                    .cpu_microarchitecture
                    .as_ref()
                    .is_some_and(|m| self.micros.contains(m)))
            && self.has_gpu.is_none_or(|wanted| wanted == (gpus > 0))
    }

    /// The rows of a package or version (grouped by `key`) that the lists
    /// answer: one of their target rows satisfies every target condition;
    /// with only an offering, an unrestricted link provides everything.
    fn expected<K: Ord + Copy>(
        &self,
        rows: &[Row],
        key: impl Fn(&Row) -> Option<K>,
    ) -> BTreeSet<K> {
        let mut groups: BTreeMap<K, Vec<&Row>> = BTreeMap::new();
        for row in rows.iter().filter(|row| self.package_matches(row)) {
            if let Some(k) = key(row) {
                groups.entry(k).or_default().push(row);
            }
        }
        groups
            .into_iter()
            .filter(|(_, rows)| {
                if self.target_conditions() {
                    return rows.iter().any(|row| self.target_matches(row));
                }
                match &self.offering {
                    None => true,
                    Some((_, links)) => rows.iter().any(|row| {
                        links
                            .iter()
                            .any(|link| link.catalog == row.catalog_uuid && link.enables(row))
                    }),
                }
            })
            .map(|(k, _)| k)
            .collect()
    }
}

/// A small deterministic generator, so that a failing combination can be
/// replayed with `SOFTCAT_TEST_SEED`.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
    fn subset<T: Clone + Ord>(&mut self, items: &[T], at_most: usize) -> Vec<T> {
        let count = self.below(at_most + 1);
        let picked: BTreeSet<T> = (0..count).map(|_| self.pick(items).clone()).collect();
        picked.into_iter().collect()
    }
}

async fn link(app: &TestApp, token: &str, offering: &str, link: &Link) {
    let answer = app
        .send(
            Method::POST,
            &format!("/api/marketplace-provider-offerings/{offering}/add_software_catalog/"),
            Some(token),
            Some(json!({
                "catalog": link.catalog,
                "enabled_cpu_family": link.families,
                "enabled_cpu_microarchitectures": link.micros,
            })),
        )
        .await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.body);
}

async fn offering(app: &TestApp, token: &str, name: &str) -> String {
    let created = app
        .send(
            Method::POST,
            "/api/marketplace-provider-offerings/",
            Some(token),
            Some(json!({"name": name, "type": "hpc"})),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    created.body["uuid"].as_str().expect("uuid").to_owned()
}

async fn catalog_uuid(app: &TestApp, token: &str, query: &str) -> String {
    let answer = app
        .get(
            &format!("/api/marketplace-software-catalogs/?{query}"),
            Some(token),
        )
        .await;
    assert_eq!(answer.body["count"], 1, "{query}: {}", answer.body);
    answer.body["results"][0]["uuid"]
        .as_str()
        .expect("uuid")
        .to_owned()
}

/// The uuids a listing answers, or only its count when there are many.
async fn answered(
    app: &TestApp,
    token: &str,
    path: &str,
    expected: usize,
) -> (u64, BTreeSet<String>) {
    let first = app.get(path, Some(token)).await;
    assert_eq!(first.status, StatusCode::OK, "{path}: {}", first.body);
    let count = first.body["count"].as_u64().expect("count");
    if expected > 900 || count > 900 {
        return (count, BTreeSet::new());
    }
    let uuids = app
        .all(path, token)
        .await
        .iter()
        .map(|object| object["uuid"].as_str().expect("uuid").to_owned())
        .collect();
    (count, uuids)
}

#[tokio::test]
async fn random_filter_combinations_agree_with_plain_sql() {
    let app = TestApp::spawn(false).await;
    let token = app.token("operator", true).await;
    let mut eessi = eessi_source(data_file("eessi"));
    eessi.catalog_version = Some("2025.06".into());
    app.db.load_eessi(&eessi, UPDATE).await.expect("load EESSI");
    let spack = spack_source(data_file("spack/repology.json"));
    app.db.load_spack(&spack, UPDATE).await.expect("load Spack");
    let rows = all_rows(&app).await;

    let eessi_uuid: uuid::Uuid = catalog_uuid(&app, &token, "source=eessi")
        .await
        .parse()
        .expect("uuid");
    let spack_uuid: uuid::Uuid = catalog_uuid(&app, &token, "source=spack")
        .await
        .parse()
        .expect("uuid");
    let families: Vec<String> = rows
        .iter()
        .filter_map(|row| row.cpu_family.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let micros: Vec<String> = rows
        .iter()
        .filter_map(|row| row.cpu_microarchitecture.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    // Short names the API must accept: last segments that name one stored
    // micro-architecture and are not themselves stored.
    let short_of = |micro: &str| -> Option<String> {
        let short = micro.rsplit('/').next()?;
        let owners = micros
            .iter()
            .filter(|m| m.rsplit('/').next() == Some(short))
            .count();
        (short != micro && owners == 1).then(|| short.to_owned())
    };
    let names: Vec<String> = rows
        .iter()
        .map(|row| row.package_name.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();

    let seed = std::env::var("SOFTCAT_TEST_SEED")
        .ok()
        .and_then(|seed| seed.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .expect("clock")
                .as_nanos() as u64
                | 1
        });
    eprintln!("random filter combinations: SOFTCAT_TEST_SEED={seed}");
    let mut random = Random(seed);

    // Three offerings: one with random CPU lists on EESSI, one with EESSI
    // unrestricted and Spack, one with a random micro-architecture list.
    let mut offerings = Vec::new();
    let restricted = Link {
        catalog: eessi_uuid,
        families: random.subset(&families, 2),
        micros: random.subset(&micros, 4),
    };
    let a = offering(&app, &token, "random CPUs").await;
    link(&app, &token, &a, &restricted).await;
    offerings.push((a, vec![restricted]));
    let whole = vec![
        Link {
            catalog: eessi_uuid,
            families: Vec::new(),
            micros: Vec::new(),
        },
        Link {
            catalog: spack_uuid,
            families: Vec::new(),
            micros: Vec::new(),
        },
    ];
    let b = offering(&app, &token, "everything").await;
    for l in &whole {
        link(&app, &token, &b, l).await;
    }
    offerings.push((b, whole));
    let micros_only = Link {
        catalog: eessi_uuid,
        families: Vec::new(),
        micros: random.subset(&micros, 3),
    };
    let c = offering(&app, &token, "random micro-architectures").await;
    link(&app, &token, &c, &micros_only).await;
    offerings.push((c, vec![micros_only]));

    let mut differences = Vec::new();
    for round in 0..100 {
        let mut combination = Combination::default();
        if random.chance(60) {
            combination.offering = Some(random.pick(&offerings).clone());
        }
        if random.chance(40) {
            combination.families = random.subset(&families, 2);
        }
        if random.chance(40) {
            combination.micros = random.subset(&micros, 2);
            combination.micros_asked = combination
                .micros
                .iter()
                .map(|micro| match short_of(micro) {
                    Some(short) if random.chance(50) => short,
                    _ => micro.clone(),
                })
                .collect();
        }
        if random.chance(25) {
            combination.has_gpu = Some(random.chance(50));
        }
        if random.chance(40) {
            let name = random.pick(&names);
            let chars: Vec<char> = name.chars().collect();
            let start = random.below(chars.len());
            let length = 2 + random.below(3);
            let part: String = chars[start..(start + length).min(chars.len())]
                .iter()
                .collect();
            if part.chars().all(|c| c.is_ascii_alphanumeric()) {
                combination.name = Some(part);
            }
        }
        if random.chance(30) {
            combination.catalog = Some(*random.pick(&[eessi_uuid, spack_uuid]));
        }

        let lists: [(&str, &str, BTreeSet<uuid::Uuid>); 3] = [
            (
                "packages",
                "name",
                combination.expected(&rows, |row| Some(row.package_uuid)),
            ),
            (
                "versions",
                "package_name",
                combination.expected(&rows, |row| row.version_uuid),
            ),
            (
                "targets",
                "package_name",
                rows.iter()
                    .filter(|row| combination.package_matches(row))
                    .filter(|row| {
                        if combination.target_conditions() {
                            combination.target_matches(row)
                        } else {
                            combination.offering.as_ref().is_none_or(|(_, links)| {
                                links.iter().any(|link| {
                                    link.catalog == row.catalog_uuid && link.enables(row)
                                })
                            })
                        }
                    })
                    .filter_map(|row| row.target_uuid)
                    .collect(),
            ),
        ];
        for (list, name_parameter, expected) in lists {
            let path = format!(
                "/api/marketplace-software-{list}/?{}",
                combination.query(name_parameter)
            );
            let (count, uuids) = answered(&app, &token, &path, expected.len()).await;
            let expected_uuids: BTreeSet<String> =
                expected.iter().map(ToString::to_string).collect();
            if count != expected.len() as u64 || (!uuids.is_empty() && uuids != expected_uuids) {
                differences.push(format!(
                    "round {round}: {path}: answered {count}, expected {}",
                    expected.len()
                ));
            }
        }
    }
    assert!(
        differences.is_empty(),
        "SOFTCAT_TEST_SEED={seed}:\n{}",
        differences.join("\n")
    );
}

/// The packages that ship each extension in one EESSI stack, read from the
/// source JSON: the parent software of each of its installations there.
fn extension_parents_in_source(stack: &str) -> BTreeMap<String, BTreeSet<String>> {
    let read = |name: &str| -> Value {
        serde_json::from_slice(&std::fs::read(data_file(name)).expect(name)).expect(name)
    };
    let software = read("eessi/eessi_api_metadata_software.json");
    let main_in_stack: BTreeSet<&str> = software["software"]
        .as_object()
        .expect("software")
        .iter()
        .filter(|(_, entry)| {
            entry["versions"].as_array().into_iter().flatten().any(|v| {
                v["required_modules"][0].as_str() == Some(&format!("EESSI/{stack}"))
                    || v["required_modules"][0]["full_module_name"].as_str()
                        == Some(&format!("EESSI/{stack}"))
            })
        })
        .map(|(name, _)| name.as_str())
        .collect();
    let extensions = read("eessi/eessi_api_metadata_ext-python.json");
    let mut parents: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (name, entry) in extensions["software"].as_object().expect("software") {
        for version in entry["versions"].as_array().into_iter().flatten() {
            if version["required_modules"][0].as_str() != Some(&format!("EESSI/{stack}")) {
                continue;
            }
            let parent = version["parent_software"]["name"]
                .as_str()
                .map(str::to_owned)
                .or_else(|| {
                    version["modulename"]
                        .as_str()
                        .and_then(|module| module.split('/').next())
                        .map(str::to_owned)
                });
            if let Some(parent) = parent.filter(|p| main_in_stack.contains(p.as_str())) {
                parents.entry(name.clone()).or_default().insert(parent);
            }
        }
    }
    parents
}

#[tokio::test]
async fn extensions_list_every_parent_that_ships_them() {
    let app = TestApp::spawn(false).await;
    let token = app.token("reader", false).await;
    for stack in ["2025.06", "2023.06"] {
        let mut eessi = eessi_source(data_file("eessi"));
        eessi.catalog_version = Some(stack.into());
        app.db.load_eessi(&eessi, UPDATE).await.expect("load EESSI");
        let catalog = catalog_uuid(&app, &token, &format!("version={stack}")).await;
        let expected = extension_parents_in_source(stack);
        let several = expected.values().filter(|p| p.len() > 1).count();
        assert!(
            several > 0,
            "{stack}: the source has multi-parent extensions"
        );

        let extensions = app
            .all(
                &format!(
                    "/api/marketplace-software-packages/?catalog_uuid={catalog}&is_extension=true&page_size=300"
                ),
                &token,
            )
            .await;
        let answered: BTreeMap<String, BTreeSet<String>> = extensions
            .iter()
            .map(|package| {
                let parents = package["parent_softwares"]
                    .as_array()
                    .expect("parent_softwares")
                    .iter()
                    .map(|parent| parent["name"].as_str().expect("name").to_owned())
                    .collect();
                (package["name"].as_str().expect("name").to_owned(), parents)
            })
            .collect();
        assert_eq!(answered, expected, "EESSI {stack}");
    }

    // blinker ships with Flask (and others): Flask's uuid finds it.
    let flask = app
        .get(
            "/api/marketplace-software-packages/?name_exact=Flask&is_extension=false&catalog_version=2025.06",
            Some(&token),
        )
        .await;
    assert_eq!(flask.body["count"], 1, "{}", flask.body);
    let flask = flask.body["results"][0]["uuid"]
        .as_str()
        .unwrap()
        .to_owned();
    let blinker = app
        .get(
            &format!(
                "/api/marketplace-software-packages/?parent_software_uuid={flask}&name=blinker"
            ),
            Some(&token),
        )
        .await;
    assert_eq!(blinker.body["count"], 1, "{}", blinker.body);
    assert!(
        blinker.body["results"][0]["parent_softwares"]
            .as_array()
            .unwrap()
            .iter()
            .any(|parent| parent["uuid"] == flask.as_str())
    );
}

#[tokio::test]
async fn target_conditions_hold_on_one_target_and_short_names_are_accepted() {
    let app = TestApp::spawn(false).await;
    let staff = app.token("operator", true).await;
    let mut eessi = eessi_source(data_file("eessi"));
    eessi.catalog_version = Some("2025.06".into());
    app.db.load_eessi(&eessi, UPDATE).await.expect("load EESSI");
    let catalog = catalog_uuid(&app, &staff, "version=2025.06").await;
    let targets = app
        .get(
            &format!("/api/marketplace-software-catalogs/{catalog}/cpu_targets/"),
            Some(&staff),
        )
        .await;
    assert_eq!(targets.status, StatusCode::OK, "{}", targets.body);
    let answered: Vec<&str> = targets
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["full_arch"].as_str().unwrap())
        .collect();
    let stored = app
        .db
        .text(
            "SELECT string_agg(DISTINCT cpu_family || '/' || cpu_microarchitecture, ',' \
               ORDER BY cpu_family || '/' || cpu_microarchitecture) FROM software_targets",
        )
        .await;
    assert_eq!(answered.join(","), stored);
    let cluster = offering(&app, &staff, "Cluster").await;
    let linked = app
        .send(
            Method::POST,
            &format!("/api/marketplace-provider-offerings/{cluster}/add_software_catalog/"),
            Some(&staff),
            Some(json!({
                "catalog": catalog,
                "enabled_cpu_family": ["x86_64"],
                "enabled_cpu_microarchitectures": ["generic", "zen4"],
            })),
        )
        .await;
    assert_eq!(linked.status, StatusCode::CREATED, "{}", linked.body);
    assert_eq!(
        linked.body["enabled_cpu_microarchitectures"],
        json!(["generic", "amd/zen4"])
    );
    let link = linked.body["offering_catalog_uuid"]
        .as_str()
        .unwrap()
        .to_owned();

    let count = |path: String| {
        let app = &app;
        let staff = &staff;
        async move {
            let answer = app.get(&path, Some(staff)).await;
            assert_eq!(answer.status, StatusCode::OK, "{path}: {}", answer.body);
            answer.body["count"].as_u64().expect("count")
        }
    };
    let offered = format!("offering_uuid={cluster}");
    for list in [
        "packages/?name_exact=GROMACS",
        "versions/?package_name_exact=GROMACS",
        "targets/?package_name_exact=GROMACS",
    ] {
        let base = format!("/api/marketplace-software-{list}&{offered}");
        assert!(count(base.clone()).await > 0, "{base}");
        for elsewhere in ["cpu_family=aarch64", "cpu_microarchitecture=intel/icelake"] {
            let path = format!("{base}&{elsewhere}");
            assert_eq!(count(path.clone()).await, 0, "{path}");
        }
    }

    // The detail, scoped: only the versions with a zen4 target the
    // offering enables, and only those targets.
    let gromacs = app
        .get(
            "/api/marketplace-software-packages/?name_exact=GROMACS",
            Some(&staff),
        )
        .await;
    let gromacs = gromacs.body["results"][0]["uuid"]
        .as_str()
        .unwrap()
        .to_owned();
    let scope = format!("{offered}&cpu_microarchitecture=zen4");
    let detail = app
        .get(
            &format!("/api/marketplace-software-packages/{gromacs}/?{scope}"),
            Some(&staff),
        )
        .await;
    assert_eq!(detail.status, StatusCode::OK, "{}", detail.body);
    let versions = detail.body["versions"].as_array().unwrap();
    assert!(!versions.is_empty());
    for version in versions {
        let targets = version["targets"].as_array().unwrap();
        assert!(!targets.is_empty());
        assert!(
            targets.iter().all(|t| t["full_arch"] == "x86_64/amd/zen4"),
            "{targets:?}"
        );
    }
    let listed = count(format!(
        "/api/marketplace-software-versions/?package_uuid={gromacs}&{scope}"
    ))
    .await;
    assert_eq!(versions.len() as u64, listed);
    assert_eq!(detail.body["matching_version_count"], listed);

    // The guide's example: a short name is stored in full.
    let updated = app
        .send(
            Method::PATCH,
            &format!("/api/marketplace-provider-offerings/{cluster}/update_software_catalog/"),
            Some(&staff),
            Some(json!({
                "offering_catalog_uuid": link,
                "enabled_cpu_microarchitectures": ["generic", "zen3"],
            })),
        )
        .await;
    assert_eq!(updated.status, StatusCode::OK, "{}", updated.body);
    assert_eq!(
        updated.body["enabled_cpu_microarchitectures"],
        json!(["generic", "amd/zen3"])
    );
    // Filters take short names too, and several values.
    let short =
        count("/api/marketplace-software-versions/?cpu_microarchitecture=zen4".into()).await;
    let full =
        count("/api/marketplace-software-versions/?cpu_microarchitecture=amd/zen4".into()).await;
    assert_eq!(short, full);
    assert!(full > 0);
    let either = count(
        "/api/marketplace-software-targets/?cpu_microarchitecture=zen4&cpu_microarchitecture=neoverse_v1"
            .into(),
    )
    .await;
    let neoverse =
        count("/api/marketplace-software-targets/?cpu_microarchitecture=neoverse_v1".into()).await;
    let zen4 =
        count("/api/marketplace-software-targets/?cpu_microarchitecture=amd/zen4".into()).await;
    assert_eq!(either, neoverse + zen4);
}

#[tokio::test]
async fn offering_rules_that_waldur_gets_wrong_hold_here() {
    let app = TestApp::with_samples().await;
    let staff = app.token("operator", true).await;
    let manager = app.token("manager", false).await;
    let catalog = catalog_uuid(&app, &staff, "source=eessi").await;
    let create = |name: &'static str| {
        let app = &app;
        let staff = &staff;
        async move {
            let created = app
                .send(
                    Method::POST,
                    "/api/marketplace-provider-offerings/",
                    Some(staff),
                    Some(json!({"name": name, "type": "hpc", "managers": ["manager"]})),
                )
                .await;
            assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
            created.body["uuid"].as_str().unwrap().to_owned()
        }
    };
    let mine = create("A").await;
    let theirs = app
        .send(
            Method::POST,
            "/api/marketplace-provider-offerings/",
            Some(&staff),
            Some(json!({"name": "B", "type": "hpc"})),
        )
        .await
        .body["uuid"]
        .as_str()
        .unwrap()
        .to_owned();
    let theirs_link = app
        .send(
            Method::POST,
            &format!("/api/marketplace-provider-offerings/{theirs}/add_software_catalog/"),
            Some(&staff),
            Some(json!({"catalog": catalog})),
        )
        .await;
    assert_eq!(theirs_link.status, StatusCode::CREATED);
    let theirs_link = theirs_link.body["offering_catalog_uuid"]
        .as_str()
        .unwrap()
        .to_owned();

    // A manager of A cannot remove or change B's link through A's URL.
    for (method, action) in [
        (Method::POST, "remove_software_catalog"),
        (Method::PATCH, "update_software_catalog"),
    ] {
        let answer = app
            .send(
                method,
                &format!("/api/marketplace-provider-offerings/{mine}/{action}/"),
                Some(&manager),
                Some(json!({"offering_catalog_uuid": theirs_link, "enabled_cpu_family": []})),
            )
            .await;
        assert!(
            answer.status.is_client_error(),
            "{action}: {}",
            answer.status
        );
        assert_ne!(answer.status, StatusCode::NO_CONTENT);
    }
    let still = app
        .get(
            &format!("/api/marketplace-provider-offerings/{theirs}/"),
            Some(&staff),
        )
        .await;
    assert_eq!(still.body["software_catalogs"].as_array().unwrap().len(), 1);

    // Enabled CPU lists are validated …
    let bad = app
        .send(
            Method::POST,
            &format!("/api/marketplace-provider-offerings/{mine}/add_software_catalog/"),
            Some(&manager),
            Some(json!({"catalog": catalog, "enabled_cpu_family": ["sparc"]})),
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert_eq!(bad.body["field"], "enabled_cpu_family");
    // … and applied to offering_uuid: an aarch64-only link offers no
    // x86_64 target.
    let linked = app
        .send(
            Method::POST,
            &format!("/api/marketplace-provider-offerings/{mine}/add_software_catalog/"),
            Some(&manager),
            Some(json!({"catalog": catalog, "enabled_cpu_family": ["aarch64"]})),
        )
        .await;
    assert_eq!(linked.status, StatusCode::CREATED, "{}", linked.body);
    let x86 = app
        .get(
            &format!("/api/marketplace-software-targets/?offering_uuid={mine}&cpu_family=x86_64"),
            Some(&staff),
        )
        .await;
    assert_eq!(x86.body["count"], 0);
    let arm = app
        .get(
            &format!("/api/marketplace-software-targets/?offering_uuid={mine}"),
            Some(&staff),
        )
        .await;
    let all_arm = arm.body["count"].as_u64().unwrap();
    assert!(all_arm > 0);
    let plain_sql = app
        .db
        .count(
            "SELECT count(*) FROM software_targets t JOIN software_versions v ON v.id = t.version_id \
             JOIN software_packages p ON p.id = v.package_id JOIN software_catalogs c ON c.id = p.catalog_id \
             WHERE c.source = 'eessi' AND t.cpu_family = 'aarch64'",
        )
        .await;
    assert_eq!(all_arm, plain_sql);
}

#[tokio::test]
async fn ordering_by_version_is_the_version_order_of_every_real_version() {
    let app = TestApp::spawn(false).await;
    let token = app.token("reader", false).await;
    let spack = spack_source(data_file("spack/repology.json"));
    app.db.load_spack(&spack, UPDATE).await.expect("load Spack");
    let mut eessi = eessi_source(data_file("eessi"));
    eessi.catalog_version = Some("2025.06".into());
    app.db.load_eessi(&eessi, UPDATE).await.expect("load EESSI");

    #[derive(FromQueryResult)]
    struct Version {
        version: String,
    }
    let in_sql: Vec<String> = Version::find_by_statement(Statement::from_string(
        sea_orm::DatabaseBackend::Postgres,
        "SELECT version FROM (SELECT DISTINCT version FROM software_versions) v \
         ORDER BY softcat_version_key(version)",
    ))
    .all(&app.db.conn)
    .await
    .expect("versions")
    .into_iter()
    .map(|row| row.version)
    .collect();
    assert!(in_sql.len() > 10_000, "{}", in_sql.len());
    let mut in_rust = in_sql.clone();
    in_rust.sort_by(|a, b| softcat_shared::version_order::compare_versions(a, b));
    let first_difference = in_sql.iter().zip(&in_rust).position(|(a, b)| a != b);
    assert_eq!(
        first_difference.map(|i| (&in_sql[i], &in_rust[i])),
        None,
        "SQL and Rust orders differ"
    );

    // The listing orders by it: cmake's versions, oldest first, branches last.
    let listed: Vec<String> = app
        .all(
            "/api/marketplace-software-versions/?package_name_exact=cmake&o=version&page_size=300",
            &token,
        )
        .await
        .iter()
        .map(|v| v["version"].as_str().unwrap().to_owned())
        .collect();
    let mut expected = listed.clone();
    expected.sort_by(|a, b| softcat_shared::version_order::compare_versions(a, b));
    assert!(listed.len() > 10, "{listed:?}");
    assert_eq!(listed, expected);
}

#[tokio::test]
async fn a_package_detail_nests_its_newest_versions_and_links_to_them_all() {
    let app = TestApp::spawn(false).await;
    let token = app.token("reader", false).await;
    let versions: Vec<Value> = (0..150)
        .map(|minor| json!({"version": format!("1.{minor}"), "downloads": []}))
        .collect();
    let document = json!({
        "last_update": "2026-07-01 10:00:00 +0000",
        "num_packages": 1,
        "packages": {"many": {"name": "many", "summary": "many versions", "version": versions}},
    });
    let dir = support::TempDir::new();
    let path = dir.write("repology.json", document.to_string());
    app.db
        .load_spack(&spack_source(path), UPDATE)
        .await
        .expect("load");
    let list = app
        .get(
            "/api/marketplace-software-packages/?name_exact=many",
            Some(&token),
        )
        .await;
    let uuid = list.body["results"][0]["uuid"].as_str().unwrap().to_owned();
    let detail = app
        .get(
            &format!("/api/marketplace-software-packages/{uuid}/"),
            Some(&token),
        )
        .await;
    assert_eq!(detail.status, StatusCode::OK);
    let nested: Vec<&str> = detail.body["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["version"].as_str().unwrap())
        .collect();
    let newest: Vec<String> = (50..150).rev().map(|minor| format!("1.{minor}")).collect();
    assert_eq!(nested, newest);
    assert_eq!(detail.body["matching_version_count"], 150);
    assert_eq!(detail.body["version_count"], 150);
    let all = app
        .all(
            detail.body["versions_url"]
                .as_str()
                .unwrap()
                .trim_start_matches(&app.base),
            &token,
        )
        .await;
    assert_eq!(all.len(), 150);
}

#[tokio::test]
async fn each_filter_agrees_with_plain_sql() {
    let app = TestApp::spawn(false).await;
    let token = app.token("reader", false).await;
    let mut eessi = eessi_source(data_file("eessi"));
    eessi.catalog_version = Some("2025.06".into());
    app.db.load_eessi(&eessi, UPDATE).await.expect("load EESSI");
    let spack = spack_source(data_file("spack/repology.json"));
    app.db.load_spack(&spack, UPDATE).await.expect("load Spack");
    let python = app
        .db
        .text(
            "SELECT v.uuid::text FROM software_versions v JOIN software_packages p ON p.id = v.package_id \
             WHERE p.name = 'Python' AND NOT p.is_extension \
             ORDER BY (SELECT count(*) FROM software_versions e WHERE e.parent_version_id = v.id) DESC LIMIT 1",
        )
        .await;
    const PACKAGES: &str =
        "FROM software_packages p JOIN software_catalogs c ON c.id = p.catalog_id";
    const VERSIONS: &str =
        "FROM software_versions v JOIN software_packages p ON p.id = v.package_id";
    const TARGETS: &str = "FROM software_targets t JOIN software_versions v ON v.id = t.version_id \
        JOIN software_packages p ON p.id = v.package_id";
    let gpus = "coalesce(t.metadata->'gpu_arch', '[]'::jsonb)";
    let cases: Vec<(String, String)> = vec![
        (
            "packages/?category=build-tools".into(),
            format!("{PACKAGES} WHERE p.categories ? 'build-tools'"),
        ),
        (
            "packages/?license=MIT".into(),
            format!(
                "{PACKAGES} WHERE EXISTS (SELECT 1 FROM jsonb_array_elements_text(p.licenses) x WHERE lower(x) = 'mit')"
            ),
        ),
        (
            "packages/?extension_name=numpy".into(),
            format!(
                "{PACKAGES} WHERE EXISTS (SELECT 1 FROM software_versions pv \
                 JOIN software_versions ev ON ev.parent_version_id = pv.id \
                 JOIN software_packages e ON e.id = ev.package_id \
                 WHERE pv.package_id = p.id AND e.name ILIKE '%numpy%')"
            ),
        ),
        (
            "packages/?extension_type=python".into(),
            format!(
                "{PACKAGES} WHERE EXISTS (SELECT 1 FROM software_versions pv \
                 JOIN software_versions ev ON ev.parent_version_id = pv.id \
                 JOIN software_packages e ON e.id = ev.package_id \
                 WHERE pv.package_id = p.id AND e.metadata->>'type' = 'python')"
            ),
        ),
        (
            "packages/?toolchain_name=foss&toolchain_version=2025a".into(),
            format!(
                "{PACKAGES} WHERE EXISTS (SELECT 1 FROM software_versions v WHERE v.package_id = p.id \
                 AND v.toolchain_name = 'foss' AND v.toolchain_version = '2025a')"
            ),
        ),
        (
            "packages/?catalog_type=source_package".into(),
            format!("{PACKAGES} WHERE c.catalog_type = 'source_package'"),
        ),
        (
            "packages/?has_gpu=true".into(),
            format!(
                "{PACKAGES} WHERE EXISTS (SELECT 1 FROM software_versions v JOIN software_targets t \
                 ON t.version_id = v.id WHERE v.package_id = p.id AND jsonb_array_length({gpus}) > 0)"
            ),
        ),
        (
            "packages/?gpu_arch=cc90".into(),
            format!(
                "{PACKAGES} WHERE EXISTS (SELECT 1 FROM software_versions v JOIN software_targets t \
                 ON t.version_id = v.id WHERE v.package_id = p.id AND {gpus} ? 'nvidia/cc90')"
            ),
        ),
        (
            "packages/?search=fftw".into(),
            format!(
                "{PACKAGES} WHERE p.name ILIKE '%fftw%' OR p.description ILIKE '%fftw%' \
                 OR EXISTS (SELECT 1 FROM software_versions v WHERE v.package_id = p.id AND v.version ILIKE '%fftw%')"
            ),
        ),
        (
            "versions/?version=2024".into(),
            format!("{VERSIONS} WHERE v.version ILIKE '%2024%'"),
        ),
        (
            "versions/?version_exact=1.0".into(),
            format!("{VERSIONS} WHERE v.version = '1.0'"),
        ),
        (
            "versions/?toolchain_version=2025a".into(),
            format!("{VERSIONS} WHERE v.toolchain_version = '2025a'"),
        ),
        (
            format!("versions/?parent_version_uuid={python}"),
            format!(
                "{VERSIONS} WHERE v.parent_version_id = (SELECT id FROM software_versions WHERE uuid = '{python}')"
            ),
        ),
        (
            "versions/?has_gpu=false&catalog_type=binary_runtime".into(),
            format!(
                "{VERSIONS} JOIN software_catalogs c ON c.id = p.catalog_id WHERE c.catalog_type = 'binary_runtime' \
                 AND EXISTS (SELECT 1 FROM software_targets t WHERE t.version_id = v.id AND jsonb_array_length({gpus}) = 0)"
            ),
        ),
        (
            "targets/?path=zen4".into(),
            format!("{TARGETS} WHERE t.path ILIKE '%zen4%'"),
        ),
        (
            "targets/?target_type=build_variant".into(),
            format!("{TARGETS} WHERE t.target_type = 'build_variant'"),
        ),
        (
            "targets/?target_name=aarch64/neoverse_v1".into(),
            format!("{TARGETS} WHERE t.target_name = 'aarch64/neoverse_v1'"),
        ),
        (
            "targets/?gpu_arch=nvidia/cc80".into(),
            format!("{TARGETS} WHERE {gpus} ? 'nvidia/cc80'"),
        ),
    ];
    for (path, from) in cases {
        let expected = app.db.count(&format!("SELECT count(*) {from}")).await;
        let answer = app
            .get(&format!("/api/marketplace-software-{path}"), Some(&token))
            .await;
        assert_eq!(answer.status, StatusCode::OK, "{path}: {}", answer.body);
        assert_eq!(answer.body["count"], expected, "{path}");
        assert!(expected > 0, "{path} matches nothing in the real data");
    }
}
