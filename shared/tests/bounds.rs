//! Every source cuts a package's versions to `max_versions_per_package` in
//! its own transform, before rows are built: a package with a million
//! versions must not cost a million snapshot rows on the way to the cut.
//! Each test writes one document with a package of 30 versions, runs the
//! source's fetch, parse and transform (without the loader's final cut) at
//! a bound of 20, and checks that exactly the 20 newest came out, with the
//! 10 others named in one skipped entry.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use softcat_shared::catalog::CpuTarget;
use softcat_shared::config::FetchConfig;
use softcat_shared::fetch::Fetcher;
use softcat_shared::loader::SourceBounds;
use softcat_shared::snapshot::{Level, Transformed};
use softcat_shared::sources::CatalogSource;
use softcat_shared::sources::conda::CondaSource;
use softcat_shared::sources::custom::CustomSource;
use softcat_shared::sources::eessi::EessiSource;
use softcat_shared::sources::lmod::LmodSource;
use softcat_shared::sources::spack::SpackSource;

const VERSIONS: usize = 30;
const BOUND: usize = 20;

/// `1.0` … `1.29`, given oldest first except that the newest comes first,
/// so that neither the document's order nor text order matches version
/// order (`1.9` < `1.10`).
fn versions() -> Vec<String> {
    let mut versions: Vec<String> = (0..VERSIONS).map(|v| format!("1.{v}")).collect();
    versions.rotate_right(1);
    versions
}

fn bounds() -> SourceBounds {
    SourceBounds {
        max_versions_per_package: BOUND,
        ..SourceBounds::DEFAULT
    }
}

struct Dir(PathBuf);

impl Dir {
    fn new() -> Self {
        let path = std::env::temp_dir().join(format!("softcat-bounds-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&path).unwrap();
        Self(path)
    }

    fn write(&self, name: &str, document: &Value) -> String {
        let path = self.0.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, serde_json::to_vec(document).unwrap()).unwrap();
        path.display().to_string()
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

async fn transform<S: CatalogSource>(source: &S) -> Transformed {
    let fetcher = Fetcher::new(&FetchConfig::default()).unwrap();
    let documents = source.fetch(&fetcher).await.unwrap();
    let parsed = source.parse(&documents).unwrap();
    source.transform(parsed, &bounds()).unwrap()
}

/// The 20 newest versions of `package` came out, and one entry names the
/// 10 left out.
fn assert_cut(transformed: &Transformed, package: &str) {
    let (_, kept) = transformed
        .snapshot
        .packages
        .iter()
        .find(|(key, _)| key.name == package)
        .unwrap_or_else(|| panic!("no package {package}"));
    let mut kept: Vec<usize> = kept
        .versions
        .keys()
        .map(|key| key.version["1.".len()..].parse().unwrap())
        .collect();
    kept.sort_unstable();
    let newest: Vec<usize> = (VERSIONS - BOUND..VERSIONS).collect();
    assert_eq!(kept, newest);
    let skipped: Vec<_> = transformed
        .skipped
        .iter()
        .filter(|entry| entry.level == Level::Version)
        .collect();
    assert_eq!(skipped.len(), 1, "{skipped:?}");
    assert_eq!(skipped[0].entry, format!("package {package:?}"));
    assert!(
        skipped[0]
            .reason
            .starts_with(&format!("its {} oldest versions", VERSIONS - BOUND)),
        "{}",
        skipped[0].reason
    );
}

#[tokio::test]
async fn spack_cuts_a_packages_versions_in_its_transform() {
    let dir = Dir::new();
    let entries: Vec<Value> = versions()
        .iter()
        .map(|version| json!({"version": version, "downloads": [format!("https://example.org/big-{version}.tar.gz")]}))
        .collect();
    let data_url = dir.write(
        "repology.json",
        &json!({
            "last_update": "2026-07-01 10:00:00 +0000",
            "packages": {"big": {"name": "big", "version": entries}},
        }),
    );
    let source = SpackSource {
        data_url,
        catalog_name: "Spack".into(),
        catalog_version: None,
    };
    assert_cut(&transform(&source).await, "big");
}

#[tokio::test]
async fn eessi_cuts_a_packages_versions_in_its_transform() {
    let dir = Dir::new();
    let entries: Vec<Value> = versions()
        .iter()
        .map(|version| {
            let module = format!("Big/{version}");
            json!({
                "version": version,
                "modulename": module,
                "required_modules": ["EESSI/2023.06", module],
                "cpu_arch": ["x86_64/generic"],
            })
        })
        .collect();
    dir.write(
        "eessi_api_metadata_software.json",
        &json!({
            "timestamp": "2026-08-21T12:54:26Z",
            "architectures_map": {"2023.06": {"x86_64/generic": "x86_64/generic"}},
            "software": {"Big": {"versions": entries}},
        }),
    );
    let source = EessiSource {
        api_url: dir.path().display().to_string(),
        catalog_name: "EESSI".into(),
        catalog_version: Some("2023.06".into()),
        include_extensions: false,
    };
    assert_cut(&transform(&source).await, "Big");
}

#[tokio::test]
async fn lmod_cuts_a_packages_versions_in_its_transform() {
    let dir = Dir::new();
    let modules: Vec<Value> = versions()
        .iter()
        .map(|version| {
            json!({
                "full": format!("big/{version}"),
                "path": format!("/modules/big/{version}.lua"),
                "versionName": version,
            })
        })
        .collect();
    let data_url = dir.write(
        "spider.json",
        &json!([{"package": "big", "versions": modules}]),
    );
    let source = LmodSource {
        data_url,
        catalog_name: "Site".into(),
        catalog_version: Some("1".into()),
        cpu_targets: vec![CpuTarget::parse("x86_64/generic").unwrap()],
    };
    assert_cut(&transform(&source).await, "big");
}

#[tokio::test]
async fn conda_cuts_a_packages_versions_in_its_transform() {
    let dir = Dir::new();
    let records: serde_json::Map<String, Value> = versions()
        .iter()
        .map(|version| {
            let record = json!({
                "name": "big",
                "version": version,
                "build": "0",
                "timestamp": 1_700_000_000,
            });
            (format!("big-{version}-0.tar.bz2"), record)
        })
        .collect();
    dir.write(
        "linux-64/repodata.json",
        &json!({"info": {"subdir": "linux-64"}, "packages": records}),
    );
    let source = CondaSource {
        channel_url: dir.path().display().to_string(),
        catalog_name: "channel".into(),
        catalog_version: None,
        subdirs: vec!["linux-64".into()],
    };
    assert_cut(&transform(&source).await, "big");
}

#[tokio::test]
async fn a_custom_catalog_is_cut_in_its_transform() {
    let dir = Dir::new();
    let entries: Vec<Value> = versions()
        .iter()
        .map(|version| json!({"version": version}))
        .collect();
    let data_url = dir.write(
        "catalog.json",
        &json!({
            "catalog": {"name": "Local", "version": "1", "catalog_type": "binary_runtime"},
            "packages": [{"name": "big", "versions": entries}],
        }),
    );
    let source = CustomSource {
        data_url,
        uploaded: None,
    };
    assert_cut(&transform(&source).await, "big");
}
