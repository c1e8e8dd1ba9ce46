//! Spack's `repology.json`: one document with every package of the builtin
//! repository, its versions, download URLs and categories.
//!
//! A package's identity is its `name` field (key `D` holds `ldc`); entries
//! that share a name are merged. Targets are build variants derived from the
//! categories: every version builds in the `default` variant, and `windows`,
//! `detectable` and `build-tools` add a platform, an external (system) install
//! and a build-tool role.

use std::collections::BTreeMap;

use rayon::prelude::*;
use serde::Deserialize;
use serde_json::{Value, json};

use super::registry::{
    CatalogNaming, RegisteredSource, SourceDefinition, load_registered, versions_registered,
};
use super::{
    CatalogSource, DUPLICATE_KEY, Lenient, SourceError, UniqueMap, fingerprint_parts, nullable,
    parse_document,
};
use crate::catalog::{CatalogKey, CatalogKind, CatalogType};
use crate::fetch::Fetcher;
use crate::loader::{InvalidLoadRequest, LoadRequest, SourceBounds};
use crate::snapshot::{
    CatalogSnapshot, Level, PackageKey, PackageRow, PackageSnapshot, SkippedEntry, TargetKey,
    TargetRow, Transformed, VersionKey, VersionRow, VersionSnapshot,
};

/// Spack in the registry of sources.
pub static DEFINITION: SourceDefinition = SourceDefinition {
    id: "spack",
    summary: "Load the Spack package repository from repology.json",
    catalog_type: CatalogType::SourcePackage,
    url_key: "data_url",
    url_help: "URL or path of Spack's repology.json",
    default_url: "https://packages.spack.io/data/repology.json",
    naming: CatalogNaming::Default("Spack"),
    version_help: "the catalog version: the source's last_update by default",
    default_update_enabled: true,
    holds_several_versions: false,
    options: &[],
    load: load_registered::<SpackSource>,
    offered_versions: versions_registered::<SpackSource>,
};

/// The kind of Spack catalogs.
pub const KIND: CatalogKind = CatalogKind::of(&DEFINITION);

/// Loads a Spack catalog from a `repology.json` URL or path.
#[derive(Debug, Clone)]
pub struct SpackSource {
    /// URL or path of `repology.json`.
    pub data_url: String,
    /// Catalog name (`Spack`).
    pub catalog_name: String,
    /// Catalog version; taken from the document's `last_update` when `None`.
    pub catalog_version: Option<String>,
}

/// The parsed document. Each package parses on its own, so one malformed
/// package is skipped rather than failing the catalog.
#[derive(Debug, Deserialize)]
pub struct SpackDocument {
    #[serde(default, deserialize_with = "nullable")]
    last_update: Option<String>,
    #[serde(default)]
    num_packages: Option<Value>,
    packages: UniqueMap<Lenient<SpackPackage>>,
}

#[derive(Debug, Deserialize)]
struct SpackPackage {
    #[serde(default, deserialize_with = "nullable")]
    name: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    summary: String,
    #[serde(default, deserialize_with = "nullable")]
    homepages: Vec<String>,
    #[serde(default, deserialize_with = "nullable")]
    categories: Vec<String>,
    #[serde(default, deserialize_with = "nullable")]
    licenses: Vec<String>,
    #[serde(default, deserialize_with = "nullable")]
    maintainers: Vec<String>,
    #[serde(default, deserialize_with = "nullable")]
    dependencies: Vec<String>,
    #[serde(default, deserialize_with = "nullable")]
    patches: Vec<Value>,
    #[serde(default, deserialize_with = "nullable")]
    alias: Vec<Value>,
    #[serde(default, deserialize_with = "nullable")]
    version: Vec<Lenient<SpackVersion>>,
}

/// One version entry. A package may list a great many (each is held until
/// the newest are chosen), so the fields most entries lack are boxed.
#[derive(Debug, Deserialize)]
struct SpackVersion {
    version: String,
    #[serde(default)]
    downloads: Value,
    #[serde(default, deserialize_with = "nullable")]
    branch: Option<Box<str>>,
    #[serde(default)]
    repositories: Option<Box<Value>>,
}

impl RegisteredSource for SpackSource {
    fn from_request(request: &LoadRequest) -> Result<Self, InvalidLoadRequest> {
        Ok(Self {
            data_url: request.url.clone(),
            catalog_name: request.catalog_name.clone(),
            catalog_version: request.catalog_version.clone(),
        })
    }
}

impl CatalogSource for SpackSource {
    type Documents = Vec<u8>;
    type Parsed = SpackDocument;

    fn location(&self) -> &str {
        &self.data_url
    }

    fn catalog_name(&self) -> &str {
        &self.catalog_name
    }

    fn source_fingerprint(&self, documents: &Vec<u8>) -> i64 {
        let version = self.catalog_version.as_deref().unwrap_or_default();
        fingerprint_parts([version.as_bytes(), documents.as_slice()])
    }

    async fn fetch(&self, fetcher: &Fetcher) -> Result<Vec<u8>, SourceError> {
        Ok(fetcher.fetch(&self.data_url).await?)
    }

    fn parse(&self, documents: &Vec<u8>) -> Result<SpackDocument, SourceError> {
        parse_document(&self.data_url, documents)
    }

    fn versions(&self, document: &SpackDocument) -> Vec<String> {
        self.catalog_version
            .clone()
            .or_else(|| catalog_version_from(document.last_update.as_deref()))
            .into_iter()
            .collect()
    }

    fn transform(
        &self,
        document: SpackDocument,
        bounds: &SourceBounds,
    ) -> Result<Transformed, SourceError> {
        let version = match &self.catalog_version {
            Some(version) => version.clone(),
            None => catalog_version_from(document.last_update.as_deref()).ok_or_else(|| {
                SourceError::Invalid(format!(
                    "{}: no usable last_update; give the catalog version explicitly",
                    self.data_url
                ))
            })?,
        };
        let mut snapshot = CatalogSnapshot {
            key: CatalogKey::new(&self.catalog_name, version),
            kind: KIND,
            catalog_type: DEFINITION.catalog_type,
            source_url: self.data_url.clone(),
            description: "Spack package repository".into(),
            metadata: json!({
                "last_update": document.last_update,
                "num_packages": document.num_packages,
            }),
            packages: BTreeMap::new(),
            extensions_excluded: false,
        };
        let mut skipped: Vec<SkippedEntry> = document
            .packages
            .duplicates
            .into_iter()
            .map(|key| SkippedEntry {
                level: Level::Package,
                entry: format!("package {key:?}"),
                reason: DUPLICATE_KEY.into(),
            })
            .collect();
        // Entries filed under their own name come first, so that an alias
        // entry (key `D`, name `ldc`) merges into the real one, not the reverse.
        let (own, aliased): (Vec<_>, Vec<_>) =
            document
                .packages
                .entries
                .into_iter()
                .partition(|(key, entry)| {
                    entry.0.as_ref().map_or(true, |package| {
                        package.name.as_deref().is_none_or(|name| name == key)
                    })
                });
        // Packages transform independently, on every core; they are merged
        // in source order, so the result does not depend on the split.
        let transformed: Vec<_> = own
            .into_par_iter()
            .chain(aliased)
            .map(|(key, entry)| match entry.0 {
                Ok(package) => Ok(transform_package(&key, package, bounds)),
                Err(reason) => Err(SkippedEntry {
                    level: Level::Package,
                    entry: format!("package {key:?}"),
                    reason,
                }),
            })
            .collect();
        for entry in transformed {
            match entry {
                Ok((package_key, package, skipped_versions)) => {
                    snapshot.insert_package(package_key, package);
                    skipped.extend(skipped_versions);
                }
                Err(entry) => skipped.push(entry),
            }
        }
        Ok(Transformed { snapshot, skipped })
    }
}

/// The catalog version a `last_update` stands for: its date
/// (`2026-07-01 10:13:51 -0700` → `2026-07-01`), or the text itself.
fn catalog_version_from(last_update: Option<&str>) -> Option<String> {
    let text = last_update?.trim();
    let first = text.split_whitespace().next()?;
    match chrono::NaiveDate::parse_from_str(first, "%Y-%m-%d") {
        Ok(date) => Some(date.to_string()),
        Err(_) => Some(text.to_owned()),
    }
}

/// One package entry, with the version entries it had to leave out.
fn transform_package(
    key: &str,
    mut package: SpackPackage,
    bounds: &SourceBounds,
) -> (PackageKey, PackageSnapshot, Vec<SkippedEntry>) {
    let name = package
        .name
        .take()
        .filter(|name| !name.trim().is_empty())
        .unwrap_or_else(|| key.to_owned());
    let mut skipped: Vec<SkippedEntry> = bounds
        .keep_newest_versions(&name, &mut package.version, |entry| {
            let version = entry.0.as_ref().ok()?.version.as_str();
            (!version.trim().is_empty()).then_some(version)
        })
        .into_iter()
        .collect();
    let mut aliases: Vec<String> = package
        .alias
        .iter()
        .filter_map(|alias| alias.get("name").and_then(Value::as_str).map(str::to_owned))
        .collect();
    if key != name && !aliases.iter().any(|alias| alias == key) {
        aliases.push(key.to_owned());
    }
    let targets = build_variants(&package.categories);
    let row = PackageRow {
        description: package.summary.trim().to_owned(),
        homepage: package.homepages.first().cloned().unwrap_or_default(),
        categories: package.categories,
        licenses: package.licenses,
        maintainers: package.maintainers,
        // Built by moving the parsed values (`json!` would copy each one).
        metadata: Value::Object(serde_json::Map::from_iter([
            ("homepages".to_owned(), strings(package.homepages)),
            ("dependencies".to_owned(), strings(package.dependencies)),
            ("aliases".to_owned(), strings(aliases)),
            ("patches".to_owned(), Value::Array(package.patches)),
        ])),
    };
    let mut snapshot = PackageSnapshot {
        row,
        versions: BTreeMap::new(),
    };
    for (index, entry) in package.version.into_iter().enumerate() {
        let version = match entry.0 {
            Ok(version) if !version.version.trim().is_empty() => version,
            Ok(_) => {
                skipped.push(version_skip(&name, index, "empty version string".into()));
                continue;
            }
            Err(reason) => {
                skipped.push(version_skip(&name, index, reason));
                continue;
            }
        };
        let mut metadata = serde_json::Map::new();
        metadata.insert(
            "downloads".into(),
            strings(download_urls(version.downloads)),
        );
        if let Some(branch) = version.branch {
            metadata.insert("branch".into(), Value::String(branch.into()));
        }
        if let Some(repositories) = version.repositories {
            metadata.insert("repositories".into(), *repositories);
        }
        snapshot.insert_version(
            VersionKey {
                version: version.version,
                modulename: String::new(),
            },
            VersionSnapshot {
                row: VersionRow {
                    metadata: Value::Object(metadata),
                    ..VersionRow::default()
                },
                targets: targets.clone(),
            },
        );
    }
    (
        PackageKey {
            name,
            is_extension: false,
        },
        snapshot,
        skipped,
    )
}

fn version_skip(package: &str, index: usize, reason: String) -> SkippedEntry {
    SkippedEntry {
        level: Level::Version,
        entry: format!("package {package:?} version entry #{index}"),
        reason,
    }
}

/// The build variants a package's categories imply.
fn build_variants(categories: &[String]) -> BTreeMap<TargetKey, TargetRow> {
    let has = |category: &str| categories.iter().any(|c| c == category);
    let mut variants = vec![("build_variant", "default")];
    if has("windows") {
        variants.push(("platform", "windows"));
    }
    if has("detectable") {
        variants.push(("external", "system"));
    }
    if has("build-tools") {
        variants.push(("build_system", "build-tool"));
    }
    variants
        .into_iter()
        .map(|(target_type, target_name)| {
            (
                TargetKey {
                    target_type: target_type.into(),
                    target_name: target_name.into(),
                },
                TargetRow {
                    metadata: json!({}),
                    ..TargetRow::default()
                },
            )
        })
        .collect()
}

/// A JSON array of strings.
fn strings(items: Vec<String>) -> Value {
    Value::Array(items.into_iter().map(Value::String).collect())
}

/// Download URLs from `downloads`, which real data writes as a list of
/// strings, a list holding an empty list (`[[]]`), or leaves out.
fn download_urls(downloads: Value) -> Vec<String> {
    fn collect(value: Value, urls: &mut Vec<String>) {
        match value {
            Value::String(url) if !url.is_empty() && !urls.contains(&url) => urls.push(url),
            Value::Array(items) => items.into_iter().for_each(|item| collect(item, urls)),
            _ => {}
        }
    }
    let mut urls = Vec::new();
    collect(downloads, &mut urls);
    urls
}
