//! Transform tests on small fixtures cut from the real EESSI and Spack files
//! (see `fixtures/README.md`): the snapshot a source produces, value by value.

use std::path::PathBuf;

use softcat_shared::config::FetchConfig;
use softcat_shared::fetch::Fetcher;
use softcat_shared::loader::SourceBounds;
use softcat_shared::snapshot::{
    PackageKey, PackageSnapshot, TargetKey, Transformed, VersionKey, VersionSnapshot,
};
use softcat_shared::sources::eessi::EessiSource;
use softcat_shared::sources::read_catalog;
use softcat_shared::sources::spack::SpackSource;

fn fixture(path: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(path)
        .display()
        .to_string()
}

async fn eessi(dir: &str, version: Option<&str>, include_extensions: bool) -> Transformed {
    let source = EessiSource {
        api_url: fixture(dir),
        catalog_name: "EESSI".into(),
        catalog_version: version.map(str::to_owned),
        include_extensions,
    };
    let fetcher = Fetcher::new(&FetchConfig::default()).unwrap();
    read_catalog(&source, &fetcher, &SourceBounds::DEFAULT)
        .await
        .unwrap()
}

async fn spack(file: &str) -> Transformed {
    let source = SpackSource {
        data_url: fixture(file),
        catalog_name: "Spack".into(),
        catalog_version: None,
    };
    let fetcher = Fetcher::new(&FetchConfig::default()).unwrap();
    read_catalog(&source, &fetcher, &SourceBounds::DEFAULT)
        .await
        .unwrap()
}

fn package<'a>(
    transformed: &'a Transformed,
    name: &str,
    is_extension: bool,
) -> &'a PackageSnapshot {
    let key = PackageKey {
        name: name.into(),
        is_extension,
    };
    transformed
        .snapshot
        .packages
        .get(&key)
        .unwrap_or_else(|| panic!("no package {key:?}"))
}

fn version<'a>(package: &'a PackageSnapshot, version: &str, module: &str) -> &'a VersionSnapshot {
    let key = VersionKey {
        version: version.into(),
        modulename: module.into(),
    };
    package
        .versions
        .get(&key)
        .unwrap_or_else(|| panic!("no version {key:?}"))
}

fn version_keys(package: &PackageSnapshot) -> Vec<(&str, &str)> {
    package
        .versions
        .keys()
        .map(|key| (key.version.as_str(), key.modulename.as_str()))
        .collect()
}

fn target_names(version: &VersionSnapshot) -> Vec<String> {
    version
        .targets
        .keys()
        .map(|key| format!("{}/{}", key.target_type, key.target_name))
        .collect()
}

#[tokio::test]
async fn eessi_loads_the_newest_stack_by_default_with_both_gromacs_2026_2_modules() {
    let transformed = eessi("eessi", None, true).await;
    assert_eq!(transformed.snapshot.key.name, "EESSI");
    assert_eq!(transformed.snapshot.key.version, "2025.06");
    assert!(transformed.skipped.is_empty(), "{:?}", transformed.skipped);

    let gromacs = package(&transformed, "GROMACS", false);
    assert_eq!(
        version_keys(gromacs),
        [
            ("2025.2", "GROMACS/2025.2-foss-2025a"),
            ("2025.4", "GROMACS/2025.4-foss-2025b"),
            ("2025.4", "GROMACS/2025.4-foss-2025b-CUDA-12.9.1"),
            ("2026.2", "GROMACS/2026.2-foss-2025b"),
            ("2026.2", "GROMACS/2026.2-foss-2025b-CUDA-12.9.1"),
        ]
    );
    let cuda = version(gromacs, "2026.2", "GROMACS/2026.2-foss-2025b-CUDA-12.9.1");
    assert_eq!(cuda.row.toolchain_name, "foss");
    assert_eq!(cuda.row.toolchain_version, "2025b");
    assert_eq!(cuda.row.metadata["versionsuffix"], "-CUDA-12.9.1");
    assert_eq!(
        cuda.row.required_modules,
        ["EESSI/2025.06", "GROMACS/2026.2-foss-2025b-CUDA-12.9.1"]
    );
    // The CUDA build has no a64fx target; the plain one has all 15.
    assert_eq!(cuda.targets.len(), 14);
    let plain = version(gromacs, "2026.2", "GROMACS/2026.2-foss-2025b");
    assert_eq!(plain.targets.len(), 15);
}

#[tokio::test]
async fn eessi_targets_split_family_microarchitecture_and_carry_the_cvmfs_path() {
    let transformed = eessi("eessi", None, false).await;
    let gromacs = package(&transformed, "GROMACS", false);
    let cuda = version(gromacs, "2026.2", "GROMACS/2026.2-foss-2025b-CUDA-12.9.1");

    let zen4 = &cuda.targets[&TargetKey {
        target_type: "cpu_arch".into(),
        target_name: "x86_64/amd/zen4".into(),
    }];
    assert_eq!(zen4.cpu_family.as_deref(), Some("x86_64"));
    assert_eq!(zen4.cpu_microarchitecture.as_deref(), Some("amd/zen4"));
    assert_eq!(
        zen4.path,
        "/cvmfs/software.eessi.io/versions/2025.06/software/linux/x86_64/amd/zen4"
    );
    assert_eq!(
        zen4.metadata["gpu_arch"],
        serde_json::json!([
            "nvidia/cc100",
            "nvidia/cc120",
            "nvidia/cc70",
            "nvidia/cc80",
            "nvidia/cc90"
        ])
    );

    let neoverse = &cuda.targets[&TargetKey {
        target_type: "cpu_arch".into(),
        target_name: "aarch64/neoverse_v1".into(),
    }];
    assert_eq!(neoverse.cpu_family.as_deref(), Some("aarch64"));
    assert_eq!(
        neoverse.cpu_microarchitecture.as_deref(),
        Some("neoverse_v1")
    );

    let plain = version(gromacs, "2026.2", "GROMACS/2026.2-foss-2025b");
    let generic = &plain.targets[&TargetKey {
        target_type: "cpu_arch".into(),
        target_name: "x86_64/generic".into(),
    }];
    assert_eq!(generic.cpu_microarchitecture.as_deref(), Some("generic"));
    assert_eq!(generic.metadata.get("gpu_arch"), None);
}

#[tokio::test]
async fn eessi_extensions_hang_off_each_parent_installation_of_the_stack() {
    let transformed = eessi("eessi", Some("2023.06"), true).await;
    assert_eq!(transformed.snapshot.key.version, "2023.06");

    let gmxapi = package(&transformed, "gmxapi", true);
    assert!(
        gmxapi
            .versions
            .values()
            .all(|v| v.row.metadata["parent"]["package"] == "GROMACS")
    );
    assert_eq!(
        version_keys(gmxapi),
        [
            ("0.4.2", "GROMACS/2024.3-foss-2023b"),
            ("0.4.2", "GROMACS/2024.3-foss-2023b-PLUMED-2.9.2"),
            ("0.4.2", "GROMACS/2024.4-foss-2023b"),
            ("0.4.2", "GROMACS/2024.4-foss-2023b-CUDA-12.4.0"),
            ("0.5.0", "GROMACS/2024.1-foss-2023b"),
        ]
    );
    let on_plumed = version(gmxapi, "0.4.2", "GROMACS/2024.3-foss-2023b-PLUMED-2.9.2");
    assert_eq!(
        on_plumed.row.metadata["parent"],
        serde_json::json!({
            "package": "GROMACS",
            "version": "2024.3",
            "modulename": "GROMACS/2024.3-foss-2023b-PLUMED-2.9.2",
        })
    );
    let parent = version(
        package(&transformed, "GROMACS", false),
        "2024.3",
        "GROMACS/2024.3-foss-2023b-PLUMED-2.9.2",
    );
    assert_eq!(target_names(on_plumed), target_names(parent));

    // A name that is both software and extension is two packages.
    let transformed = eessi("eessi", None, true).await;
    assert_eq!(
        version_keys(package(&transformed, "multicharge", false)),
        [
            ("0.3.1", "multicharge/0.3.1-gfbf-2024a"),
            ("0.5.0", "multicharge/0.5.0-gfbf-2025b"),
        ]
    );
    let extension = package(&transformed, "multicharge", true);
    assert_eq!(
        version_keys(extension),
        [("0.5.0", "multicharge/0.5.0-gfbf-2025b")]
    );
}

#[tokio::test]
async fn eessi_without_extensions_has_no_extension_packages() {
    let transformed = eessi("eessi", None, false).await;
    let names: Vec<_> = transformed
        .snapshot
        .packages
        .keys()
        .map(|key| (key.name.as_str(), key.is_extension))
        .collect();
    assert!(
        names.iter().all(|(_, is_extension)| !is_extension),
        "{names:?}"
    );
    assert!(names.contains(&("GROMACS", false)));
}

#[tokio::test]
async fn eessi_seed_shape_reads_modulename_strings_and_parent_software() {
    let transformed = eessi("eessi-seed", Some("2023.06"), true).await;
    let whatshap = package(&transformed, "WhatsHap", false);
    assert_eq!(
        version_keys(whatshap),
        [
            ("2.1", "WhatsHap/2.1-foss-2022b"),
            ("2.2", "WhatsHap/2.2-foss-2023a"),
        ]
    );
    let installation = version(whatshap, "2.2", "WhatsHap/2.2-foss-2023a");
    assert_eq!(installation.row.toolchain_version, "2023a");
    assert_eq!(
        installation.row.required_modules,
        ["EESSI/2023.06", "WhatsHap/2.2-foss-2023a"]
    );

    // xopen is an extension of both WhatsHap installations.
    let xopen = package(&transformed, "xopen", true);
    assert_eq!(
        version_keys(xopen),
        [
            ("1.7.0", "WhatsHap/2.1-foss-2022b"),
            ("1.7.0", "WhatsHap/2.2-foss-2023a"),
        ]
    );
    assert!(
        xopen
            .versions
            .values()
            .all(|v| v.row.metadata["parent"]["package"] == "WhatsHap")
    );

    // Names differing only in case stay apart.
    assert_eq!(
        version_keys(package(&transformed, "pulp", true)),
        [("2.8.0", "WhatsHap/2.1-foss-2022b")]
    );
    assert_eq!(
        version_keys(package(&transformed, "PuLP", true)),
        [("2.8.0", "WhatsHap/2.2-foss-2023a")]
    );
    // PuLP 2.8.0 of 2025.06 is not in the 2023.06 catalog.
    let pulp = package(&transformed, "PuLP", false);
    assert_eq!(
        version_keys(pulp),
        [
            ("2.8.0", "PuLP/2.8.0-foss-2023a"),
            ("2.8.0", "PuLP/2.8.0-foss-2023b"),
        ]
    );
}

#[tokio::test]
async fn spack_targets_follow_categories() {
    let transformed = spack("spack/repology-cut.json").await;
    assert_eq!(transformed.snapshot.key.version, "2026-07-01");

    let expectations: [(&str, &[&str]); 5] = [
        (
            "cmake",
            &[
                "build_system/build-tool",
                "build_variant/default",
                "external/system",
                "platform/windows",
            ],
        ),
        (
            "-7zip",
            &[
                "build_variant/default",
                "external/system",
                "platform/windows",
            ],
        ),
        ("glm", &["build_variant/default", "platform/windows"]),
        ("zip", &["build_variant/default", "external/system"]),
        ("ldc", &["build_variant/default"]),
    ];
    for (name, targets) in expectations {
        let package = package(&transformed, name, false);
        for version in package.versions.values() {
            assert_eq!(target_names(version), targets, "{name}");
        }
    }
}

#[tokio::test]
async fn spack_versions_keep_branches_downloads_and_merge_duplicates() {
    let transformed = spack("spack/repology-cut.json").await;
    let glm = package(&transformed, "glm", false);
    assert_eq!(glm.row.homepage, "https://github.com/g-truc/glm");
    let mut versions: Vec<_> = glm
        .versions
        .keys()
        .map(|key| key.version.as_str())
        .collect();
    versions.sort();
    assert_eq!(
        versions,
        ["0.9.7.1", "0.9.9.3", "0.9.9.8", "1.0.1", "develop"]
    );
    let develop = version(glm, "develop", "");
    assert_eq!(develop.row.metadata["branch"], "master");
    let release = version(glm, "1.0.1", "");
    assert_eq!(
        release.row.metadata["downloads"],
        serde_json::json!(["https://github.com/g-truc/glm/archive/1.0.1.tar.gz"])
    );

    // libgtop lists 2.41.2 and 2.41.1 twice; each is one version.
    let libgtop = package(&transformed, "libgtop", false);
    assert_eq!(libgtop.versions.len(), 3);
    let cmake = package(&transformed, "cmake", false);
    assert!(cmake.versions.contains_key(&VersionKey {
        version: "3.10.3".into(),
        modulename: String::new(),
    }));
}

#[tokio::test]
async fn spack_published_sample_files_alias_keys_under_the_package_name() {
    let transformed = spack("spack/published-sample_repology.json").await;
    assert_eq!(transformed.snapshot.key.version, "2025-03-20");
    assert!(transformed.skipped.is_empty(), "{:?}", transformed.skipped);
    let names: Vec<_> = transformed
        .snapshot
        .packages
        .keys()
        .map(|key| key.name.as_str())
        .collect();
    assert!(
        names.contains(&"ldc") && names.contains(&"3dtk"),
        "{names:?}"
    );
    assert!(!names.contains(&"D"), "{names:?}");
    let ldc = package(&transformed, "ldc", false);
    assert_eq!(ldc.row.metadata["aliases"], serde_json::json!(["D"]));
    assert_eq!(version_keys(ldc), [("1.3.0", "")]);
    let three_dtk = package(&transformed, "3dtk", false);
    assert!(!three_dtk.row.description.ends_with('\n'));
}
