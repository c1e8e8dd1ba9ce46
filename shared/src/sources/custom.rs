//! Custom catalogs: the software a centre installs by hand (a licensed
//! VASP, MATLAB, a site build of GROMACS with CUDA), written by the centre
//! as a softcat catalog file in JSON or YAML and loaded from a path, a URL or
//! an upload ([`parse_bytes`]). Its JSON Schema is [`SCHEMA`].
//!
//! ```yaml
//! catalog:
//!   name: HPC2N-local            # required
//!   version: "2026.11"           # required; quote it, YAML reads 2026.10 as 2026.1
//!   catalog_type: environment_module   # required: binary_runtime, source_package,
//!                                # package_manager or environment_module
//!   description: Software installed by hand on Kebnekaise
//!   metadata: {}                 # any mapping, kept as the catalog's metadata
//! packages:                      # required (may be empty)
//!   - name: VASP                 # required
//!     description, homepage (http or https URL), categories: [], licenses: [],
//!     maintainers: [], is_extension: false, metadata: {}
//!     versions:
//!       - version: "6.4.2"       # required
//!         modulename, release_date (YYYY-MM-DD), toolchain_name,
//!         toolchain_version, toolchain_families_compatibility: [],
//!         required_modules: [], metadata: {}
//!         targets:
//!           - cpu_target: x86_64/amd/zen4      # or cpu_family + cpu_microarchitecture
//!             path: /sw/vasp/6.4.2/zen4
//!             gpu_arch: [nvidia/cc90]
//!             metadata: {}
//! ```
//!
//! The field names are the API's. A document's top level may also hold a
//! `$schema` string (for editors), which is not read.
//!
//! **JSON or YAML.** Told apart by content: a document whose first character
//! (after a byte-order mark and white space) is `{` or `[` is JSON and is read
//! by serde_json, whose errors give line and column; anything else is YAML
//! 1.2 (serde_norway, which caps nesting and alias expansion). JSON is YAML,
//! so a JSON document read either way means the same; a YAML document that
//! starts with a flow mapping is read as JSON, and one that starts with `---`
//! is always YAML. Documents are UTF-8. Both are read into one tree, then
//! walked with paths, so both forms of a document give the same snapshot.
//!
//! **Errors name their path** (`packages[3].versions[0].targets[1].cpu_family`).
//! A document that is not JSON or YAML, whose top level or `catalog` part is
//! wrong (no name, an unknown `catalog_type`, an unknown key) or whose
//! `packages` is not a list fails as a whole with a [`SourceError`]. Below
//! that, an entry (package, version or target) with a problem is left out and
//! listed as a [`SkippedEntry`] at its level, while the rest loads; its
//! `entry` is the path of the first problem found in it (the entry itself, or
//! one of its keys) and `reason` what is wrong there, so that `entry: reason`
//! reads `packages[3].versions[0].targets[1].cpu_family: "x86-64" is not a
//! CPU family; did you mean x86_64?`. Problems are:
//! - an unknown key, with the closest known one when it looks like a typo
//!   (or the level it belongs to), and a key given twice in one mapping;
//! - a missing required key, a value of the wrong type (a YAML number where
//!   a string belongs is refused, not converted: `2026.10` would have become
//!   `2026.1`), an empty name, text with control characters (names) or NUL
//!   (anything: Postgres cannot store it);
//! - values beyond the bounds (the document is untrusted): names at most
//!   [`MAX_NAME_CHARS`] characters, descriptions [`MAX_TEXT_CHARS`], homepages
//!   [`MAX_URL_CHARS`], paths [`MAX_PATH_CHARS`], lists of names
//!   [`MAX_LIST_ITEMS`] items, each `metadata` [`MAX_METADATA_BYTES`] bytes as
//!   JSON. How many packages, versions and targets a catalog may hold is the
//!   loader's `SourceBounds`, as for every source;
//! - a homepage that is not an http(s) URL, a `release_date` that is not
//!   `YYYY-MM-DD`, a GPU architecture not of the form `nvidia/cc90`;
//! - a CPU family that archspec does not know (`x86-64`), a micro-architecture
//!   that is not plain path segments, or one archspec places in another
//!   family (`aarch64/amd/zen4`); micro-architectures archspec does not know
//!   (newer CPUs, EESSI's `nvidia/grace`) are taken as written;
//! - a package, version or target whose natural key an earlier entry of the
//!   same list has: package name + `is_extension`, version + `modulename`,
//!   `target_type` + `target_name`. The first is loaded, the later named.
//!
//! **Targets.** A CPU target gives `cpu_target` (`x86_64/amd/zen4`) or
//! `cpu_family` and `cpu_microarchitecture` (`x86_64`, `amd/zen4`; `generic`
//! for any CPU of the family); its `target_type` is then `cpu_arch` and its
//! `target_name` the CPU, unless given. A target with no CPU (a container, a
//! platform) gives `target_type` and `target_name`. GPU architectures go in
//! `gpu_arch` and are stored as the target's metadata key `gpu_arch`, where
//! the API's GPU filters read them. A version may have no targets.
//!
//! Names, versions and other single-line values are trimmed; names compare
//! case-sensitively. `null` is the same as an absent optional key. An
//! extension package (`is_extension: true`) names the parent installation of
//! each of its versions in the version's `metadata.parent` as
//! `{package, version, modulename}`, as EESSI's extensions do.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::sync::OnceLock;

use archspec::cpu::Microarchitecture;
use chrono::NaiveDate;
use serde::Deserialize;
use serde::de::{self, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use futures_util::future::BoxFuture;

use super::registry::{
    CatalogNaming, LoadContext, LoadResult, RegisteredSource, SourceDefinition, load_registered,
    versions_registered,
};
use super::{CatalogSource, SourceError, fingerprint_parts};
use crate::catalog::{CatalogKey, CatalogKind, CatalogType, CpuTarget};
use crate::fetch::Fetcher;
use crate::loader::{InvalidLoadRequest, LoadRequest, SourceBounds};
use crate::snapshot::{
    CatalogSnapshot, Level, PackageKey, PackageRow, PackageSnapshot, SkippedEntry, TargetKey,
    TargetRow, Transformed, VersionKey, VersionRow, VersionSnapshot,
};
use crate::suggest::closest;

/// Custom catalogs in the registry of sources.
pub static DEFINITION: SourceDefinition = SourceDefinition {
    id: "custom",
    summary: "Load a softcat catalog file (JSON or YAML): software a centre installs by hand",
    catalog_type: CatalogType::EnvironmentModule,
    url_key: "data_url",
    url_help: "URL or path of the custom catalog file (JSON or YAML; schema at \
               /api/schemas/custom-catalog.json); its name, version and type come from the file",
    default_url: "",
    naming: CatalogNaming::FromDocument,
    version_help: "the file's `catalog.version`",
    default_update_enabled: false,
    holds_several_versions: false,
    options: &[],
    load: load_custom,
    offered_versions: versions_registered::<CustomSource>,
};

/// The kind of custom catalogs.
pub const KIND: CatalogKind = CatalogKind::of(&DEFINITION);

impl RegisteredSource for CustomSource {
    fn from_request(request: &LoadRequest) -> Result<Self, InvalidLoadRequest> {
        Ok(Self {
            data_url: request.url.clone(),
            uploaded: None,
        })
    }
}

/// Loads a custom catalog: from its location, or, for `upload:<uuid>`,
/// from the document the API kept ([`crate::uploads`]).
fn load_custom<'a>(
    request: &'a LoadRequest,
    context: LoadContext<'a>,
) -> BoxFuture<'a, LoadResult> {
    let Some(upload) = crate::uploads::parse_location(&request.url) else {
        return load_registered::<CustomSource>(request, context);
    };
    Box::pin(async move {
        let document = crate::uploads::read(context.db, upload)
            .await?
            .ok_or_else(|| {
                SourceError::Invalid(format!(
                    "{}: the uploaded document is no longer kept; upload it again",
                    request.url
                ))
            })?;
        let source = CustomSource {
            data_url: request.url.clone(),
            uploaded: Some(document),
        };
        context.load(&source).await
    })
}

/// The JSON Schema (draft 2020-12) of a custom catalog document, as the API
/// publishes it at `/api/schemas/custom-catalog.json`.
pub const SCHEMA: &str = include_str!("custom-catalog.schema.json");

/// Longest name, version, module name, toolchain, target type or name, CPU
/// or GPU name, and list item, in characters.
pub const MAX_NAME_CHARS: usize = 256;
/// Longest description, in characters.
pub const MAX_TEXT_CHARS: usize = 16_384;
/// Longest homepage, in characters.
pub const MAX_URL_CHARS: usize = 2_048;
/// Longest install path, in characters.
pub const MAX_PATH_CHARS: usize = 4_096;
/// Most items in one list of names (categories, licences, maintainers,
/// required modules, toolchain families, GPU architectures).
pub const MAX_LIST_ITEMS: usize = 256;
/// Largest `metadata` mapping, in bytes of compact JSON.
pub const MAX_METADATA_BYTES: usize = 65_536;

/// The keys of the document's top level.
const DOCUMENT_KEYS: [&str; 3] = ["$schema", "catalog", "packages"];
/// The keys of `catalog`.
const CATALOG_KEYS: [&str; 5] = ["name", "version", "catalog_type", "description", "metadata"];
/// The keys of a package.
const PACKAGE_KEYS: [&str; 9] = [
    "name",
    "description",
    "homepage",
    "categories",
    "licenses",
    "maintainers",
    "is_extension",
    "metadata",
    "versions",
];
/// The keys of a version.
const VERSION_KEYS: [&str; 9] = [
    "version",
    "modulename",
    "release_date",
    "toolchain_name",
    "toolchain_version",
    "toolchain_families_compatibility",
    "required_modules",
    "metadata",
    "targets",
];
/// The keys of a target.
const TARGET_KEYS: [&str; 8] = [
    "cpu_target",
    "cpu_family",
    "cpu_microarchitecture",
    "target_type",
    "target_name",
    "path",
    "gpu_arch",
    "metadata",
];
/// Each level's keys, to tell where a misplaced key belongs.
const LEVELS: [(&str, &[&str]); 5] = [
    ("the document's top level", &DOCUMENT_KEYS),
    ("the catalog", &CATALOG_KEYS),
    ("a package", &PACKAGE_KEYS),
    ("a version", &VERSION_KEYS),
    ("a target", &TARGET_KEYS),
];
/// The target type of a CPU target that names none.
const CPU_TARGET_TYPE: &str = "cpu_arch";
/// The target metadata key the API's GPU filters read
/// (`browse::target_scope::GPU_ARCHITECTURES_KEY`).
const GPU_ARCH_KEY: &str = "gpu_arch";
/// Stands before a key that a mapping gives again (see [`Tree`]).
const REPEATED_KEY: &str = "\u{0}repeated\u{0}";

/// Loads a custom catalog from a softcat catalog file; the catalog's name,
/// version and type come from the document.
#[derive(Debug, Clone)]
pub struct CustomSource {
    /// URL or path of the catalog file (JSON or YAML), or `upload:<uuid>`
    /// for a document uploaded over the API.
    pub data_url: String,
    /// The document itself when it was uploaded rather than fetched.
    pub uploaded: Option<Vec<u8>>,
}

/// Which syntax a document was read as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DocumentFormat {
    /// JSON: the document starts with `{` or `[`.
    Json,
    /// YAML: anything else.
    Yaml,
}

/// The `catalog` part of a document: which catalog it describes.
#[derive(Debug, Clone, PartialEq)]
pub struct CustomCatalog {
    /// Catalog name (`HPC2N-local`).
    pub name: String,
    /// Catalog version (`2026.11`).
    pub version: String,
    /// What the catalog holds.
    pub catalog_type: CatalogType,
    /// Free text; empty when not given.
    pub description: String,
    /// The catalog's `metadata` mapping (`{}` when not given).
    pub metadata: Value,
}

/// A parsed document: its catalog part checked, its packages still to be
/// walked by [`CustomDocument::transform`].
#[derive(Debug, Clone)]
pub struct CustomDocument {
    catalog: CustomCatalog,
    format: DocumentFormat,
    packages: Vec<Value>,
}

impl CustomDocument {
    /// The catalog the document describes: what an upload answers before
    /// (or without) loading it.
    pub fn catalog(&self) -> &CustomCatalog {
        &self.catalog
    }

    /// The catalog's natural key.
    pub fn key(&self) -> CatalogKey {
        CatalogKey::new(&self.catalog.name, &self.catalog.version)
    }

    /// Which syntax the document was read as.
    pub fn format(&self) -> DocumentFormat {
        self.format
    }

    /// Number of package entries in the document, good or bad.
    pub fn package_entries(&self) -> usize {
        self.packages.len()
    }

    /// The snapshot the document describes, recording `source_url` as where
    /// it came from; entries with a problem are skipped and listed.
    pub fn transform(self, source_url: &str, bounds: &SourceBounds) -> Transformed {
        let mut skipped = Vec::new();
        let mut packages: BTreeMap<PackageKey, PackageSnapshot> = BTreeMap::new();
        let mut first_at: HashMap<PackageKey, String> = HashMap::new();
        for (index, value) in self.packages.iter().enumerate() {
            let path = format!("packages[{index}]");
            match read_package(&path, value, bounds, &mut skipped) {
                Ok((key, package)) => {
                    if let Some(first) = first_at.get(&key) {
                        let what = if key.is_extension {
                            "extension"
                        } else {
                            "package"
                        };
                        skipped.push(SkippedEntry {
                            level: Level::Package,
                            entry: path,
                            reason: repeated(&format!("{what} {:?}", key.name), first),
                        });
                        continue;
                    }
                    first_at.insert(key.clone(), path);
                    packages.insert(key, package);
                }
                Err(problem) => skipped.push(problem.skip(Level::Package)),
            }
        }
        let catalog = self.catalog;
        let snapshot = CatalogSnapshot {
            key: CatalogKey::new(catalog.name, catalog.version),
            kind: KIND,
            catalog_type: catalog.catalog_type,
            source_url: source_url.to_owned(),
            description: catalog.description,
            metadata: catalog.metadata,
            packages,
            extensions_excluded: false,
        };
        Transformed { snapshot, skipped }
    }
}

/// Parses a catalog document from its bytes (a fetched file or an upload),
/// checking its catalog part; `document` names it in errors (its URL, or
/// the uploaded file's name).
pub fn parse_bytes(document: &str, bytes: &[u8]) -> Result<CustomDocument, SourceError> {
    let invalid = |message: String| SourceError::Invalid(format!("{document}: {message}"));
    let text = std::str::from_utf8(bytes).map_err(|error| {
        invalid(format!(
            "not UTF-8 text: invalid byte at offset {}",
            error.valid_up_to()
        ))
    })?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let format = if text.trim_start().starts_with(['{', '[']) {
        DocumentFormat::Json
    } else {
        DocumentFormat::Yaml
    };
    let Tree(mut tree) = match format {
        DocumentFormat::Json => {
            serde_json::from_str(text).map_err(|source| SourceError::Parse {
                document: document.to_owned(),
                source,
            })?
        }
        DocumentFormat::Yaml => serde_norway::from_str(text)
            .map_err(|error| invalid(format!("not a JSON or YAML document: {error}")))?,
    };
    let catalog = read_catalog_part(&tree).map_err(|problem| invalid(problem.to_string()))?;
    let packages = match tree.get_mut("packages").map(Value::take) {
        Some(Value::Array(packages)) => packages,
        _ => Vec::new(),
    };
    Ok(CustomDocument {
        catalog,
        format,
        packages,
    })
}

/// The fingerprint of a document's bytes: equal bytes give equal snapshots.
pub fn fingerprint(bytes: &[u8]) -> i64 {
    fingerprint_parts([b"custom".as_slice(), bytes])
}

impl CatalogSource for CustomSource {
    type Documents = Vec<u8>;
    type Parsed = CustomDocument;

    fn location(&self) -> &str {
        &self.data_url
    }

    /// Empty: the name is in the document, unknown before it is parsed, so
    /// the loader's shortcut for an unchanged source (found by name and
    /// fingerprint) never applies and every load compares the snapshot.
    fn catalog_name(&self) -> &str {
        ""
    }

    fn source_fingerprint(&self, documents: &Vec<u8>) -> i64 {
        fingerprint(documents)
    }

    async fn fetch(&self, fetcher: &Fetcher) -> Result<Vec<u8>, SourceError> {
        match &self.uploaded {
            Some(document) => Ok(document.clone()),
            None => Ok(fetcher.fetch(&self.data_url).await?),
        }
    }

    fn parse(&self, documents: &Vec<u8>) -> Result<CustomDocument, SourceError> {
        parse_bytes(&self.data_url, documents)
    }

    fn versions(&self, document: &CustomDocument) -> Vec<String> {
        vec![document.catalog.version.clone()]
    }

    fn transform(
        &self,
        document: CustomDocument,
        bounds: &SourceBounds,
    ) -> Result<Transformed, SourceError> {
        Ok(document.transform(&self.data_url, bounds))
    }
}

/// What is wrong, and where in the document.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Problem {
    path: String,
    message: String,
}

impl Problem {
    fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            message: message.into(),
        }
    }

    /// The entry this problem leaves out, at `level`.
    fn skip(self, level: Level) -> SkippedEntry {
        SkippedEntry {
            level,
            entry: self.path,
            reason: self.message,
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

/// Checks the top level and the catalog part.
fn read_catalog_part(tree: &Value) -> Result<CustomCatalog, Problem> {
    let top = Entry::new("", tree, "the document's top level", &DOCUMENT_KEYS)?;
    if let Some(schema) = top.get("$schema") {
        string_at(&top.path("$schema"), schema)?;
    }
    let catalog = Entry::new(
        "catalog",
        top.required("catalog")?,
        "the catalog",
        &CATALOG_KEYS,
    )?;
    let name = catalog.required_name("name", MAX_NAME_CHARS)?;
    let version = catalog.required_name("version", MAX_NAME_CHARS)?;
    let type_name = catalog.required_name("catalog_type", MAX_NAME_CHARS)?;
    let catalog_type = CatalogType::parse(&type_name).ok_or_else(|| {
        let types: Vec<&str> = CatalogType::ALL.iter().map(|t| t.as_str()).collect();
        Problem::new(
            catalog.path("catalog_type"),
            format!(
                "{type_name:?} is not a catalog type; {}",
                suggestion(&type_name, &types, "catalog types are")
            ),
        )
    })?;
    let description = catalog.text("description", MAX_TEXT_CHARS)?;
    let metadata = catalog.metadata("metadata")?;
    let packages = top.required("packages")?;
    if !packages.is_array() {
        return Err(Problem::new(
            "packages",
            format!("expected a list, found {}", describe(packages)),
        ));
    }
    Ok(CustomCatalog {
        name,
        version,
        catalog_type,
        description,
        metadata,
    })
}

/// One package entry with its versions; bad versions and targets go to
/// `skipped`.
fn read_package(
    path: &str,
    value: &Value,
    bounds: &SourceBounds,
    skipped: &mut Vec<SkippedEntry>,
) -> Result<(PackageKey, PackageSnapshot), Problem> {
    let entry = Entry::new(path, value, "a package", &PACKAGE_KEYS)?;
    let name = entry.required_name("name", MAX_NAME_CHARS)?;
    let row = PackageRow {
        description: entry.text("description", MAX_TEXT_CHARS)?,
        homepage: entry.homepage("homepage")?,
        categories: entry.names("categories")?,
        licenses: entry.names("licenses")?,
        maintainers: entry.names("maintainers")?,
        metadata: entry.metadata("metadata")?,
    };
    let is_extension = entry.flag("is_extension")?;
    let mut versions: Vec<(usize, &Value)> = entry.list("versions")?.iter().enumerate().collect();
    skipped.extend(
        bounds.keep_newest_versions(&name, &mut versions, |(_, value)| {
            value.get("version").and_then(Value::as_str)
        }),
    );
    let mut package = PackageSnapshot {
        row,
        versions: BTreeMap::new(),
    };
    let mut first_at: HashMap<VersionKey, String> = HashMap::new();
    for (index, value) in versions {
        let path = format!("{path}.versions[{index}]");
        match read_version(&path, value, skipped) {
            Ok((key, version)) => {
                if let Some(first) = first_at.get(&key) {
                    let what = if key.modulename.is_empty() {
                        format!("version {:?} (no module)", key.version)
                    } else {
                        format!("version {:?} of module {:?}", key.version, key.modulename)
                    };
                    skipped.push(SkippedEntry {
                        level: Level::Version,
                        entry: path,
                        reason: repeated(&what, first),
                    });
                    continue;
                }
                first_at.insert(key.clone(), path);
                package.versions.insert(key, version);
            }
            Err(problem) => skipped.push(problem.skip(Level::Version)),
        }
    }
    Ok((PackageKey { name, is_extension }, package))
}

/// One version entry with its targets; bad targets go to `skipped`.
fn read_version(
    path: &str,
    value: &Value,
    skipped: &mut Vec<SkippedEntry>,
) -> Result<(VersionKey, VersionSnapshot), Problem> {
    let entry = Entry::new(path, value, "a version", &VERSION_KEYS)?;
    let key = VersionKey {
        version: entry.required_name("version", MAX_NAME_CHARS)?,
        modulename: entry.name("modulename", MAX_NAME_CHARS)?,
    };
    let row = VersionRow {
        release_date: entry.date("release_date")?,
        toolchain_name: entry.name("toolchain_name", MAX_NAME_CHARS)?,
        toolchain_version: entry.name("toolchain_version", MAX_NAME_CHARS)?,
        toolchain_families_compatibility: entry.names("toolchain_families_compatibility")?,
        required_modules: entry.names("required_modules")?,
        metadata: entry.metadata("metadata")?,
    };
    let targets = entry.list("targets")?;
    let mut version = VersionSnapshot {
        row,
        targets: BTreeMap::new(),
    };
    let mut first_at: HashMap<TargetKey, String> = HashMap::new();
    for (index, value) in targets.iter().enumerate() {
        let path = format!("{path}.targets[{index}]");
        match read_target(&path, value) {
            Ok((key, target)) => {
                if let Some(first) = first_at.get(&key) {
                    let what = format!("target {} {:?}", key.target_type, key.target_name);
                    skipped.push(SkippedEntry {
                        level: Level::Target,
                        entry: path,
                        reason: repeated(&what, first),
                    });
                    continue;
                }
                first_at.insert(key.clone(), path);
                version.targets.insert(key, target);
            }
            Err(problem) => skipped.push(problem.skip(Level::Target)),
        }
    }
    Ok((key, version))
}

/// One target entry.
fn read_target(path: &str, value: &Value) -> Result<(TargetKey, TargetRow), Problem> {
    let entry = Entry::new(path, value, "a target", &TARGET_KEYS)?;
    let cpu = match (
        entry.get("cpu_target"),
        entry.get("cpu_family"),
        entry.get("cpu_microarchitecture"),
    ) {
        (Some(_), Some(_), _) | (Some(_), _, Some(_)) => {
            return Err(Problem::new(
                entry.path("cpu_target"),
                "give cpu_target, or cpu_family with cpu_microarchitecture, not both",
            ));
        }
        (Some(value), None, None) => {
            let path = entry.path("cpu_target");
            let text = name_at(&path, value, MAX_NAME_CHARS)?;
            let target =
                CpuTarget::parse(&text).map_err(|error| Problem::new(&path, error.to_string()))?;
            check_cpu(&target)
                .map_err(|message| Problem::new(&path, format!("{text:?}: {message}")))?;
            Some(target)
        }
        (None, Some(family), Some(micro)) => {
            let family_path = entry.path("cpu_family");
            let family = name_at(&family_path, family, MAX_NAME_CHARS)?;
            check_family(&family).map_err(|message| Problem::new(&family_path, message))?;
            let micro_path = entry.path("cpu_microarchitecture");
            let micro = name_at(&micro_path, micro, MAX_NAME_CHARS)?;
            let target = CpuTarget::parse(&format!("{family}/{micro}")).map_err(|_| {
                Problem::new(
                    &micro_path,
                    format!(
                        "{micro:?} is not a micro-architecture: expected [A-Za-z0-9_.+-] \
                         segments separated by /"
                    ),
                )
            })?;
            check_cpu(&target).map_err(|message| Problem::new(&micro_path, message))?;
            Some(target)
        }
        (None, Some(_), None) => {
            return Err(Problem::new(
                entry.path("cpu_microarchitecture"),
                "required with cpu_family (generic for any CPU of the family)",
            ));
        }
        (None, None, Some(_)) => {
            return Err(Problem::new(
                entry.path("cpu_family"),
                "required with cpu_microarchitecture",
            ));
        }
        (None, None, None) => None,
    };
    let target_type = entry.name("target_type", MAX_NAME_CHARS)?;
    let target_name = entry.name("target_name", MAX_NAME_CHARS)?;
    let key = match &cpu {
        Some(cpu) => TargetKey {
            target_type: non_empty_or(target_type, CPU_TARGET_TYPE),
            target_name: non_empty_or(target_name, &cpu.to_string()),
        },
        None if target_type.is_empty() && target_name.is_empty() => {
            return Err(Problem::new(
                path,
                "names no CPU (cpu_target, or cpu_family and cpu_microarchitecture) \
                 and no target_type and target_name",
            ));
        }
        None if target_type.is_empty() => {
            return Err(Problem::new(
                entry.path("target_type"),
                "required for a target without a CPU",
            ));
        }
        None if target_name.is_empty() => {
            return Err(Problem::new(
                entry.path("target_name"),
                "required for a target without a CPU",
            ));
        }
        None => TargetKey {
            target_type,
            target_name,
        },
    };
    let target_path = entry.name("path", MAX_PATH_CHARS)?;
    let gpus = entry.names("gpu_arch")?;
    for (index, gpu) in gpus.iter().enumerate() {
        if !is_gpu_architecture(gpu) {
            return Err(Problem::new(
                format!("{}[{index}]", entry.path(GPU_ARCH_KEY)),
                format!("{gpu:?} is not a GPU architecture such as nvidia/cc90"),
            ));
        }
    }
    let mut metadata = entry.metadata("metadata")?;
    if let Value::Object(fields) = &mut metadata {
        if fields.contains_key(GPU_ARCH_KEY) {
            return Err(Problem::new(
                format!("{}.{GPU_ARCH_KEY}", entry.path("metadata")),
                "give GPU architectures as the target's own gpu_arch",
            ));
        }
        if !gpus.is_empty() {
            fields.insert(
                GPU_ARCH_KEY.to_owned(),
                Value::Array(gpus.into_iter().map(Value::String).collect()),
            );
        }
    }
    let row = TargetRow {
        cpu_family: cpu.as_ref().map(|cpu| cpu.family().to_owned()),
        cpu_microarchitecture: cpu.as_ref().map(|cpu| cpu.microarchitecture().to_owned()),
        path: target_path,
        metadata,
    };
    Ok((key, row))
}

fn non_empty_or(value: String, default: &str) -> String {
    if value.is_empty() {
        default.to_owned()
    } else {
        value
    }
}

/// Why a later entry with an earlier one's key is left out.
fn repeated(what: &str, first: &str) -> String {
    format!("{what} is given before, at {first}; this later entry is left out")
}

/// The CPU families archspec knows (`x86_64`, `aarch64`, `ppc64le` …).
fn cpu_families() -> &'static BTreeSet<String> {
    static FAMILIES: OnceLock<BTreeSet<String>> = OnceLock::new();
    FAMILIES.get_or_init(|| {
        Microarchitecture::known_targets()
            .values()
            .map(|target| target.family().name().to_owned())
            .collect()
    })
}

fn check_family(family: &str) -> Result<(), String> {
    if cpu_families().contains(family) {
        return Ok(());
    }
    let families: Vec<&str> = cpu_families().iter().map(String::as_str).collect();
    Err(format!(
        "{family:?} is not a CPU family; {}",
        suggestion(family, &families, "CPU families are")
    ))
}

/// Whether a syntactically valid CPU target names a known family and, where
/// archspec knows its micro-architecture, one of that family.
fn check_cpu(target: &CpuTarget) -> Result<(), String> {
    check_family(target.family())?;
    let micro = target.microarchitecture();
    let name = match micro.rsplit('/').next() {
        Some("grace") => "neoverse_v2",
        Some(name) => name,
        None => micro,
    };
    if name == crate::cpu::GENERIC {
        return Ok(());
    }
    match Microarchitecture::known_targets().get(name) {
        Some(known) if known.family().name() != target.family() => Err(format!(
            "{micro:?} is a micro-architecture of {}, not of {}",
            known.family().name(),
            target.family()
        )),
        _ => Ok(()),
    }
}

/// `vendor/name` (`nvidia/cc90`), as partitions write their GPUs.
fn is_gpu_architecture(gpu: &str) -> bool {
    gpu.split('/').count() >= 2
        && gpu.split('/').all(|segment| {
            !segment.is_empty()
                && segment
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.'))
        })
}

/// A mapping of the document, read key by key with paths.
struct Entry<'a> {
    path: &'a str,
    fields: &'a Map<String, Value>,
}

impl<'a> Entry<'a> {
    /// The mapping at `path` (`what` it is, for messages), refusing keys
    /// outside `known` and keys given twice.
    fn new(path: &'a str, value: &'a Value, what: &str, known: &[&str]) -> Result<Self, Problem> {
        let Value::Object(fields) = value else {
            return Err(Problem::new(
                path,
                format!("expected a mapping, found {}", describe(value)),
            ));
        };
        // Sorted, so that the problem named does not depend on the map's order.
        let mut keys: Vec<&String> = fields.keys().collect();
        keys.sort();
        for key in keys {
            if let Some(original) = key.strip_prefix(REPEATED_KEY) {
                return Err(Problem::new(
                    child(path, original),
                    "given more than once in this mapping",
                ));
            }
            if !known.contains(&key.as_str()) {
                return Err(Problem::new(
                    child(path, key),
                    unknown_key(key, what, known),
                ));
            }
        }
        Ok(Self { path, fields })
    }

    fn path(&self, key: &str) -> String {
        child(self.path, key)
    }

    /// The value of `key`; `None` when absent or null.
    fn get(&self, key: &str) -> Option<&'a Value> {
        self.fields.get(key).filter(|value| !value.is_null())
    }

    fn required(&self, key: &str) -> Result<&'a Value, Problem> {
        self.fields
            .get(key)
            .ok_or_else(|| Problem::new(self.path(key), "required key is missing"))
    }

    fn required_name(&self, key: &str, max: usize) -> Result<String, Problem> {
        let path = self.path(key);
        let name = name_at(&path, self.required(key)?, max)?;
        if name.is_empty() {
            return Err(Problem::new(path, "must not be empty"));
        }
        Ok(name)
    }

    /// An optional single-line value, trimmed; empty when absent.
    fn name(&self, key: &str, max: usize) -> Result<String, Problem> {
        match self.get(key) {
            Some(value) => name_at(&self.path(key), value, max),
            None => Ok(String::new()),
        }
    }

    /// Optional free text (line breaks and tabs allowed), trimmed.
    fn text(&self, key: &str, max: usize) -> Result<String, Problem> {
        let Some(value) = self.get(key) else {
            return Ok(String::new());
        };
        let path = self.path(key);
        let text = string_at(&path, value)?.trim();
        check_length(&path, text, max)?;
        if text
            .chars()
            .any(|c| c.is_control() && !matches!(c, '\n' | '\t' | '\r'))
        {
            return Err(Problem::new(
                path,
                "must not contain control characters other than line breaks and tabs",
            ));
        }
        Ok(text.to_owned())
    }

    /// An optional http(s) URL.
    fn homepage(&self, key: &str) -> Result<String, Problem> {
        let url = self.name(key, MAX_URL_CHARS)?;
        let is_web = |url: &str| {
            url::Url::parse(url).is_ok_and(|parsed| matches!(parsed.scheme(), "http" | "https"))
        };
        if url.is_empty() || is_web(&url) {
            Ok(url)
        } else {
            Err(Problem::new(
                self.path(key),
                format!("{url:?} is not an http(s) URL"),
            ))
        }
    }

    /// An optional `YYYY-MM-DD` date.
    fn date(&self, key: &str) -> Result<Option<NaiveDate>, Problem> {
        let text = self.name(key, MAX_NAME_CHARS)?;
        if text.is_empty() {
            return Ok(None);
        }
        let date = (text.len() == 10)
            .then(|| NaiveDate::parse_from_str(&text, "%Y-%m-%d").ok())
            .flatten();
        date.map(Some).ok_or_else(|| {
            Problem::new(
                self.path(key),
                format!("{text:?} is not a date of the form YYYY-MM-DD"),
            )
        })
    }

    /// An optional list of names.
    fn names(&self, key: &str) -> Result<Vec<String>, Problem> {
        let items = self.list(key)?;
        if items.len() > MAX_LIST_ITEMS {
            return Err(Problem::new(
                self.path(key),
                format!(
                    "{} items, more than the {MAX_LIST_ITEMS} allowed",
                    items.len()
                ),
            ));
        }
        let path = self.path(key);
        items
            .iter()
            .enumerate()
            .map(|(index, item)| {
                let item_path = format!("{path}[{index}]");
                let name = name_at(&item_path, item, MAX_NAME_CHARS)?;
                if name.is_empty() {
                    return Err(Problem::new(item_path, "must not be empty"));
                }
                Ok(name)
            })
            .collect()
    }

    /// An optional list; empty when absent.
    fn list(&self, key: &str) -> Result<&'a [Value], Problem> {
        match self.get(key) {
            None => Ok(&[]),
            Some(Value::Array(items)) => Ok(items),
            Some(other) => Err(Problem::new(
                self.path(key),
                format!("expected a list, found {}", describe(other)),
            )),
        }
    }

    /// An optional boolean; false when absent.
    fn flag(&self, key: &str) -> Result<bool, Problem> {
        match self.get(key) {
            None => Ok(false),
            Some(Value::Bool(flag)) => Ok(*flag),
            Some(other) => Err(Problem::new(
                self.path(key),
                format!("expected true or false, found {}", describe(other)),
            )),
        }
    }

    /// An optional free-form mapping; `{}` when absent.
    fn metadata(&self, key: &str) -> Result<Value, Problem> {
        let Some(value) = self.get(key) else {
            return Ok(Value::Object(Map::new()));
        };
        let path = self.path(key);
        if !value.is_object() {
            return Err(Problem::new(
                path,
                format!("expected a mapping, found {}", describe(value)),
            ));
        }
        check_free_form(&path, value)?;
        let size = serde_json::to_vec(value).map_or(usize::MAX, |bytes| bytes.len());
        if size > MAX_METADATA_BYTES {
            return Err(Problem::new(
                path,
                format!("{size} bytes as JSON, more than the {MAX_METADATA_BYTES} allowed"),
            ));
        }
        Ok(value.clone())
    }
}

/// Refuses keys given twice and NUL characters anywhere in a free-form value.
fn check_free_form(path: &str, value: &Value) -> Result<(), Problem> {
    const NUL: &str = "must not contain the NUL character";
    match value {
        Value::String(text) if text.contains('\0') => Err(Problem::new(path, NUL)),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .try_for_each(|(index, item)| check_free_form(&format!("{path}[{index}]"), item)),
        Value::Object(fields) => {
            let mut fields: Vec<(&String, &Value)> = fields.iter().collect();
            fields.sort_by_key(|(key, _)| *key);
            fields.into_iter().try_for_each(|(key, item)| {
                if let Some(original) = key.strip_prefix(REPEATED_KEY) {
                    return Err(Problem::new(
                        child(path, original),
                        "given more than once in this mapping",
                    ));
                }
                if key.contains('\0') {
                    return Err(Problem::new(child(path, key), NUL));
                }
                check_free_form(&child(path, key), item)
            })
        }
        _ => Ok(()),
    }
}

/// The path of `key` under `path`: `.key`, or `["odd key"]`.
fn child(path: &str, key: &str) -> String {
    let plain = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '$' | '-'));
    match (path.is_empty(), plain) {
        (true, true) => key.to_owned(),
        (false, true) => format!("{path}.{key}"),
        (_, false) => format!("{path}[{key:?}]"),
    }
}

/// The string at `path`; a number is refused with a hint to quote it.
fn string_at<'v>(path: &str, value: &'v Value) -> Result<&'v str, Problem> {
    match value {
        Value::String(text) => Ok(text),
        Value::Number(number) => Err(Problem::new(
            path,
            format!("expected a string, found the number {number}; quote it to keep it as written"),
        )),
        other => Err(Problem::new(
            path,
            format!("expected a string, found {}", describe(other)),
        )),
    }
}

/// A single-line value at `path`, trimmed: no control characters, at most
/// `max` characters.
fn name_at(path: &str, value: &Value, max: usize) -> Result<String, Problem> {
    let text = string_at(path, value)?.trim();
    check_length(path, text, max)?;
    if text.chars().any(char::is_control) {
        return Err(Problem::new(
            path,
            "must not contain control characters (line breaks, tabs …)",
        ));
    }
    Ok(text.to_owned())
}

fn check_length(path: &str, text: &str, max: usize) -> Result<(), Problem> {
    // Bytes bound characters from above: most text is checked without counting.
    if text.len() > max && text.chars().count() > max {
        return Err(Problem::new(
            path,
            format!("longer than the {max} characters allowed"),
        ));
    }
    Ok(())
}

/// What a value is, for messages.
fn describe(value: &Value) -> String {
    match value {
        Value::Null => "nothing".into(),
        Value::Bool(flag) => format!("the boolean {flag}"),
        Value::Number(number) => format!("the number {number}"),
        Value::String(_) => "a string".into(),
        Value::Array(_) => "a list".into(),
        Value::Object(_) => "a mapping".into(),
    }
}

/// Why `key` is not one of `known` (the keys of `what`): the likely typo, or
/// the level it belongs to, or the valid keys.
fn unknown_key(key: &str, what: &str, known: &[&str]) -> String {
    if let Some(near) = closest(key, known) {
        return format!("unknown key; did you mean {near}?");
    }
    let elsewhere: Vec<&str> = LEVELS
        .iter()
        .filter(|(level, keys)| *level != what && keys.contains(&key))
        .map(|(level, _)| *level)
        .collect();
    if !elsewhere.is_empty() {
        return format!(
            "unknown key; {key} is a key of {}, not of {what}",
            elsewhere.join(" and ")
        );
    }
    format!("unknown key; the keys of {what} are {}", known.join(", "))
}

/// "did you mean X?" when `word` is a likely typo of a candidate, else the
/// candidates after `intro`.
fn suggestion(word: &str, candidates: &[&str], intro: &str) -> String {
    match closest(word, candidates) {
        Some(near) => format!("did you mean {near}?"),
        None => format!("{intro} {}", candidates.join(", ")),
    }
}

/// A document read into a JSON tree by either parser. Unlike
/// `serde_json::Value` it notices a key given twice in one mapping (a plain
/// map keeps the last copy without a word): the first copy is kept, and the
/// key is also recorded prefixed with [`REPEATED_KEY`], so that the walk
/// names it at its path. A number that is not finite (YAML's `.nan`, `.inf`)
/// has no JSON form and fails the document.
struct Tree(Value);

impl<'de> Deserialize<'de> for Tree {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(TreeVisitor).map(Tree)
    }
}

struct TreeVisitor;

impl<'de> Visitor<'de> for TreeVisitor {
    type Value = Value;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("a JSON or YAML value")
    }

    fn visit_bool<E: de::Error>(self, value: bool) -> Result<Value, E> {
        Ok(Value::Bool(value))
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<Value, E> {
        Ok(Value::from(value))
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<Value, E> {
        Ok(Value::from(value))
    }

    fn visit_f64<E: de::Error>(self, value: f64) -> Result<Value, E> {
        serde_json::Number::from_f64(value)
            .map(Value::Number)
            .ok_or_else(|| E::custom(format!("{value} is not a finite number")))
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<Value, E> {
        Ok(Value::String(value.to_owned()))
    }

    fn visit_string<E: de::Error>(self, value: String) -> Result<Value, E> {
        Ok(Value::String(value))
    }

    fn visit_none<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        Tree::deserialize(deserializer).map(|tree| tree.0)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1024));
        while let Some(Tree(item)) = seq.next_element()? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut fields = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let Tree(value) = map.next_value()?;
            if fields.contains_key(&key) {
                fields.insert(format!("{REPEATED_KEY}{key}"), Value::Null);
            } else {
                fields.insert(key, value);
            }
        }
        Ok(Value::Object(fields))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use serde_json::json;

    use super::*;
    use crate::config::FetchConfig;
    use crate::snapshot::SnapshotSize;
    use crate::sources::read_catalog;

    fn fixture(name: &str) -> String {
        format!(
            "{}/tests/fixtures/custom/{name}",
            env!("CARGO_MANIFEST_DIR")
        )
    }

    fn read(name: &str) -> Vec<u8> {
        std::fs::read(fixture(name)).unwrap()
    }

    /// The fixture as a snapshot, recorded as loaded from `file`.
    fn load(name: &str) -> Transformed {
        parse_bytes(name, &read(name))
            .unwrap()
            .transform("file", &SourceBounds::DEFAULT)
    }

    fn load_json(document: &Value) -> Transformed {
        parse_bytes("test", &serde_json::to_vec(document).unwrap())
            .unwrap()
            .transform("test", &SourceBounds::DEFAULT)
    }

    fn error_of(text: &str) -> String {
        parse_bytes("doc", text.as_bytes()).unwrap_err().to_string()
    }

    fn package<'a>(transformed: &'a Transformed, name: &str) -> &'a PackageSnapshot {
        transformed
            .snapshot
            .packages
            .iter()
            .find(|(key, _)| key.name == name)
            .map(|(_, package)| package)
            .unwrap_or_else(|| panic!("no package {name}"))
    }

    fn version<'a>(
        package: &'a PackageSnapshot,
        version: &str,
        module: &str,
    ) -> &'a VersionSnapshot {
        let key = VersionKey {
            version: version.into(),
            modulename: module.into(),
        };
        package
            .versions
            .get(&key)
            .unwrap_or_else(|| panic!("no version {key:?}"))
    }

    fn target<'a>(version: &'a VersionSnapshot, kind: &str, name: &str) -> &'a TargetRow {
        let key = TargetKey {
            target_type: kind.into(),
            target_name: name.into(),
        };
        version
            .targets
            .get(&key)
            .unwrap_or_else(|| panic!("no target {key:?}"))
    }

    fn skip(level: Level, entry: &str, reason: &str) -> SkippedEntry {
        SkippedEntry {
            level,
            entry: entry.into(),
            reason: reason.into(),
        }
    }

    /// Entries at each level of a document, counted from its JSON.
    fn entries(document: &Value) -> SnapshotSize {
        let packages = document["packages"].as_array().unwrap();
        let versions: Vec<&Value> = packages
            .iter()
            .flat_map(|package| package["versions"].as_array().into_iter().flatten())
            .collect();
        let targets = versions
            .iter()
            .map(|version| version["targets"].as_array().map_or(0, Vec::len))
            .sum::<usize>();
        SnapshotSize {
            packages: packages.len() as u64,
            versions: versions.len() as u64,
            targets: targets as u64,
        }
    }

    #[test]
    fn the_example_loads_whole_with_exact_counts() {
        let transformed = load("example.yaml");
        assert_eq!(transformed.skipped, []);
        let snapshot = &transformed.snapshot;
        assert_eq!(snapshot.key, CatalogKey::new("HPC2N-local", "2026.11"));
        assert_eq!(snapshot.kind, KIND);
        assert_eq!(snapshot.catalog_type, CatalogType::EnvironmentModule);
        assert_eq!(snapshot.source_url, "file");
        assert_eq!(
            snapshot.description,
            "Software that HPC2N installs and licenses itself on Kebnekaise,\nbeside the EESSI stack."
        );
        assert_eq!(
            snapshot.metadata,
            json!({"site": "HPC2N", "contact": "support@hpc2n.umu.se"})
        );
        assert!(!snapshot.extensions_excluded);
        let size = snapshot.size();
        assert_eq!(
            size,
            SnapshotSize {
                packages: 7,
                versions: 10,
                targets: 12
            }
        );
        let json: Value = serde_json::from_slice(&read("example.json")).unwrap();
        assert_eq!(size, entries(&json));
    }

    #[test]
    fn the_example_keeps_what_each_entry_says() {
        let transformed = load("example.yaml");

        let vasp = package(&transformed, "VASP");
        assert_eq!(vasp.row.homepage, "https://www.vasp.at/");
        assert_eq!(vasp.row.categories, ["chemistry", "materials-science"]);
        assert_eq!(vasp.row.licenses, ["VASP Software License Agreement"]);
        assert_eq!(vasp.row.maintainers, ["support@hpc2n.umu.se"]);
        assert_eq!(
            vasp.row.metadata,
            json!({"access": "members of the unix group vasp6 only"})
        );
        assert!(vasp.row.description.starts_with("The Vienna Ab initio"));
        assert!(vasp.row.description.ends_with("from first principles."));
        let cpu = version(vasp, "6.4.2", "VASP/6.4.2-intel-2023a");
        assert_eq!(cpu.row.release_date, NaiveDate::from_ymd_opt(2023, 7, 20));
        assert_eq!(cpu.row.toolchain_name, "intel");
        assert_eq!(cpu.row.toolchain_version, "2023a");
        assert_eq!(cpu.row.toolchain_families_compatibility, ["2023a_intel"]);
        assert_eq!(
            cpu.row.required_modules,
            ["intel/2023a", "HDF5/1.14.0-iimpi-2023a"]
        );
        assert_eq!(cpu.row.metadata, json!({}));
        let skylake = target(cpu, "cpu_arch", "x86_64/intel/skylake_avx512");
        assert_eq!(skylake.cpu_family.as_deref(), Some("x86_64"));
        assert_eq!(
            skylake.cpu_microarchitecture.as_deref(),
            Some("intel/skylake_avx512")
        );
        assert_eq!(
            skylake.path,
            "/hpc2n/eb/software/VASP/6.4.2-intel-2023a/skylake_avx512"
        );
        assert_eq!(skylake.metadata, json!({}));
        // Family and micro-architecture given apart make the same target.
        let gpu = version(vasp, "6.4.3", "VASP/6.4.3-nvofbf-2023.07-CUDA-12.1.1");
        assert_eq!(gpu.row.toolchain_version, "2023.07");
        assert_eq!(gpu.row.metadata, json!({"openacc": true}));
        let zen3 = target(gpu, "cpu_arch", "x86_64/amd/zen3");
        assert_eq!(zen3.cpu_microarchitecture.as_deref(), Some("amd/zen3"));
        assert_eq!(zen3.metadata, json!({"gpu_arch": ["nvidia/cc80"]}));

        let matlab = package(&transformed, "MATLAB");
        assert_eq!(matlab.row.licenses, ["MATLAB Total Academic Headcount"]);
        let keys: Vec<(&str, &str)> = matlab
            .versions
            .keys()
            .map(|key| (key.version.as_str(), key.modulename.as_str()))
            .collect();
        assert_eq!(keys, [("2024b", "MATLAB/2024b"), ("2025a", "MATLAB/2025a")]);

        // The same version string twice, told apart by the module.
        let gromacs = package(&transformed, "GROMACS");
        assert_eq!(gromacs.versions.len(), 2);
        let cuda = version(gromacs, "2024.4", "GROMACS/2024.4-foss-2023b-CUDA-12.4.0");
        assert_eq!(cuda.row.required_modules, ["foss/2023b", "CUDA/12.4.0"]);
        assert_eq!(
            target(cuda, "cpu_arch", "x86_64/amd/zen4").metadata,
            json!({"gpu_arch": ["nvidia/cc90"]})
        );
        let plain = version(gromacs, "2024.4", "GROMACS/2024.4-foss-2023b");
        assert!(
            plain
                .targets
                .values()
                .all(|target| target.metadata == json!({}))
        );

        let extension = PackageKey {
            name: "gmxapi".into(),
            is_extension: true,
        };
        let gmxapi = &transformed.snapshot.packages[&extension];
        let installed = version(gmxapi, "0.4.2", "GROMACS/2024.4-foss-2023b-CUDA-12.4.0");
        assert_eq!(installed.row.metadata["parent"]["package"], "GROMACS");

        let orca = package(&transformed, "ORCA");
        let generic = target(
            version(orca, "6.0.1", "ORCA/6.0.1-gompi-2023b-avx2"),
            "cpu_arch",
            "x86_64/generic",
        );
        assert_eq!(generic.cpu_microarchitecture.as_deref(), Some("generic"));

        // A target without a CPU.
        let alphafold = package(&transformed, "AlphaFold");
        let container = target(
            version(alphafold, "2.3.2", "AlphaFold/2.3.2-apptainer"),
            "container",
            "apptainer",
        );
        assert_eq!(container.cpu_family, None);
        assert_eq!(container.cpu_microarchitecture, None);
        assert_eq!(container.path, "/hpc2n/containers/alphafold-2.3.2.sif");
        assert_eq!(
            container.metadata,
            json!({"gpu_arch": ["nvidia/cc80", "nvidia/cc90"]})
        );

        let projinfo = package(&transformed, "projinfo");
        assert!(version(projinfo, "1.3", "projinfo/1.3").targets.is_empty());
        assert_eq!(projinfo.row.homepage, "");
    }

    #[test]
    fn yaml_and_json_forms_give_equal_snapshots() {
        let yaml = parse_bytes("example.yaml", &read("example.yaml")).unwrap();
        let json = parse_bytes("example.json", &read("example.json")).unwrap();
        assert_eq!(yaml.format(), DocumentFormat::Yaml);
        assert_eq!(json.format(), DocumentFormat::Json);
        assert_eq!(yaml.catalog(), json.catalog());
        assert_eq!(
            yaml.transform("file", &SourceBounds::DEFAULT),
            json.transform("file", &SourceBounds::DEFAULT)
        );
        // JSON after a byte-order mark and white space is still JSON, and a
        // YAML document may start with `---`.
        let mut marked = "\u{feff}\n  ".as_bytes().to_vec();
        marked.extend(read("example.json"));
        let marked = parse_bytes("marked", &marked).unwrap();
        assert_eq!(marked.format(), DocumentFormat::Json);
        assert_eq!(
            marked.transform("file", &SourceBounds::DEFAULT),
            load("example.yaml")
        );
        let dashed = format!("---\n{}", String::from_utf8(read("example.yaml")).unwrap());
        let dashed = parse_bytes("dashed", dashed.as_bytes()).unwrap();
        assert_eq!(dashed.format(), DocumentFormat::Yaml);
        assert_eq!(
            dashed.transform("file", &SourceBounds::DEFAULT),
            load("example.yaml")
        );
    }

    #[test]
    fn the_catalog_is_known_before_the_packages_are_walked() {
        let document = parse_bytes("example.yaml", &read("example.yaml")).unwrap();
        assert_eq!(document.key(), CatalogKey::new("HPC2N-local", "2026.11"));
        assert_eq!(
            document.catalog().catalog_type,
            CatalogType::EnvironmentModule
        );
        assert_eq!(document.package_entries(), 7);
    }

    #[test]
    fn entries_with_errors_are_skipped_and_named_by_path_while_the_rest_loads() {
        let transformed = load("errors.yaml");
        assert_eq!(
            transformed.skipped,
            [
                skip(
                    Level::Version,
                    "packages[1].versions[1].version",
                    "required key is missing"
                ),
                skip(
                    Level::Package,
                    "packages[2].descripton",
                    "unknown key; did you mean description?"
                ),
                skip(
                    Level::Target,
                    "packages[3].versions[0].targets[1].cpu_family",
                    "\"x86-64\" is not a CPU family; did you mean x86_64?"
                ),
            ]
        );
        let line = |entry: &SkippedEntry| format!("{}: {}", entry.entry, entry.reason);
        assert_eq!(
            line(&transformed.skipped[2]),
            "packages[3].versions[0].targets[1].cpu_family: \"x86-64\" is not a CPU family; did you mean x86_64?"
        );
        // Everything else is there: the document's entries less the skipped
        // ones (the typo's package took its one version with it).
        let yaml: Value = serde_norway::from_slice(&read("errors.yaml")).unwrap();
        let all = entries(&yaml);
        assert_eq!(
            transformed.snapshot.size(),
            SnapshotSize {
                packages: all.packages - 1,
                versions: all.versions - 2,
                targets: all.targets - 2,
            }
        );
        let cp2k = version(
            package(&transformed, "CP2K"),
            "2024.1",
            "CP2K/2024.1-foss-2023a",
        );
        let names: Vec<&str> = cp2k
            .targets
            .keys()
            .map(|key| key.target_name.as_str())
            .collect();
        assert_eq!(names, ["aarch64/neoverse_v1", "x86_64/intel/icelake"]);
        assert_eq!(package(&transformed, "LAMMPS").versions.len(), 1);
        assert!(
            !transformed
                .snapshot
                .packages
                .keys()
                .any(|key| key.name == "Quantum ESPRESSO")
        );
    }

    #[test]
    fn a_later_entry_with_an_earlier_key_is_skipped_naming_the_first() {
        let transformed = load_json(&json!({
            "catalog": {"name": "Dups", "version": "1", "catalog_type": "binary_runtime"},
            "packages": [
                {"name": "VASP", "description": "first", "versions": [
                    {"version": "6.4.2", "modulename": "VASP/6.4.2", "targets": [
                        {"cpu_target": "x86_64/amd/zen4", "path": "/a"},
                        {"cpu_family": "x86_64", "cpu_microarchitecture": "amd/zen4", "path": "/b"},
                        {"cpu_target": "x86_64/amd/zen4", "target_name": "zen4-mpi"},
                    ]},
                    {"version": "6.4.2", "modulename": "VASP/6.4.2"},
                    {"version": "6.4.2", "modulename": "VASP/6.4.2-CUDA"},
                    {"version": "6.5.0"},
                    {"version": " 6.5.0 "},
                ]},
                {"name": "VASP", "description": "second"},
                {"name": "VASP", "is_extension": true},
                {"name": "vasp"},
            ],
        }));
        // A key given twice in one mapping, which JSON parsers keep quietly.
        let text = r#"{"catalog": {"name": "D", "version": "1", "catalog_type": "binary_runtime"},
            "packages": [{"name": "a", "name": "b"}, {"name": "c", "metadata": {"k": 1, "k": 2}}, {"name": "d"}]}"#;
        let repeated = parse_bytes("doc", text.as_bytes())
            .unwrap()
            .transform("doc", &SourceBounds::DEFAULT);
        assert_eq!(
            repeated.skipped,
            [
                skip(
                    Level::Package,
                    "packages[0].name",
                    "given more than once in this mapping"
                ),
                skip(
                    Level::Package,
                    "packages[1].metadata.k",
                    "given more than once in this mapping"
                ),
            ]
        );
        assert_eq!(repeated.snapshot.packages.len(), 1);
        assert_eq!(
            transformed.skipped,
            [
                skip(
                    Level::Target,
                    "packages[0].versions[0].targets[1]",
                    "target cpu_arch \"x86_64/amd/zen4\" is given before, at \
                     packages[0].versions[0].targets[0]; this later entry is left out"
                ),
                skip(
                    Level::Version,
                    "packages[0].versions[1]",
                    "version \"6.4.2\" of module \"VASP/6.4.2\" is given before, at \
                     packages[0].versions[0]; this later entry is left out"
                ),
                skip(
                    Level::Version,
                    "packages[0].versions[4]",
                    "version \"6.5.0\" (no module) is given before, at \
                     packages[0].versions[3]; this later entry is left out"
                ),
                skip(
                    Level::Package,
                    "packages[1]",
                    "package \"VASP\" is given before, at packages[0]; this later entry is left out"
                ),
            ]
        );
        let packages = &transformed.snapshot.packages;
        // An extension and a name differing in case are other packages.
        assert_eq!(packages.len(), 3);
        let vasp = package(&transformed, "VASP");
        assert_eq!(vasp.row.description, "first");
        assert_eq!(vasp.versions.len(), 3);
        let first = version(vasp, "6.4.2", "VASP/6.4.2");
        assert_eq!(first.targets.len(), 2);
        assert_eq!(target(first, "cpu_arch", "x86_64/amd/zen4").path, "/a");
        assert_eq!(
            target(first, "cpu_arch", "zen4-mpi")
                .cpu_microarchitecture
                .as_deref(),
            Some("amd/zen4")
        );
    }

    #[test]
    fn a_wrong_catalog_part_fails_the_whole_document_naming_the_path() {
        let catalog = |fields: &str| format!("catalog:\n{fields}\npackages: []\n");
        let cases = [
            (
                catalog("  version: '1'\n  catalog_type: binary_runtime"),
                "doc: catalog.name: required key is missing",
            ),
            (
                catalog("  name: X\n  version: '1'\n  catalog_type: modules"),
                "doc: catalog.catalog_type: \"modules\" is not a catalog type; catalog types are \
                 binary_runtime, source_package, package_manager, environment_module",
            ),
            (
                catalog("  name: X\n  version: '1'\n  catalog_type: environment_modules"),
                "doc: catalog.catalog_type: \"environment_modules\" is not a catalog type; \
                 did you mean environment_module?",
            ),
            (
                catalog("  name: X\n  verison: '1'\n  catalog_type: binary_runtime"),
                "doc: catalog.verison: unknown key; did you mean version?",
            ),
            (
                catalog("  name: X\n  version: 2026.10\n  catalog_type: binary_runtime"),
                "doc: catalog.version: expected a string, found the number 2026.1; \
                 quote it to keep it as written",
            ),
            (
                catalog("  name: '  '\n  version: '1'\n  catalog_type: binary_runtime"),
                "doc: catalog.name: must not be empty",
            ),
            (
                catalog("  name: X\n  name: Y\n  version: '1'\n  catalog_type: binary_runtime"),
                "doc: catalog.name: given more than once in this mapping",
            ),
            (
                catalog(
                    "  name: X\n  version: '1'\n  catalog_type: binary_runtime\n  cpu_target: x86_64/generic",
                ),
                "doc: catalog.cpu_target: unknown key; cpu_target is a key of a target, \
                 not of the catalog",
            ),
            (
                "catalog: {name: X, version: '1', catalog_type: binary_runtime}\npakages: []\n"
                    .to_owned(),
                "doc: pakages: unknown key; did you mean packages?",
            ),
            (
                "catalog: {name: X, version: '1', catalog_type: binary_runtime}\npackages: {}\n"
                    .to_owned(),
                "doc: packages: expected a list, found a mapping",
            ),
            (
                "catalog: {name: X, version: '1', catalog_type: binary_runtime}\n".to_owned(),
                "doc: packages: required key is missing",
            ),
            (
                "packages: []\n".to_owned(),
                "doc: catalog: required key is missing",
            ),
            ("".to_owned(), "doc: expected a mapping, found nothing"),
            (
                "- catalog\n".to_owned(),
                "doc: expected a mapping, found a list",
            ),
            ("[1, 2]".to_owned(), "doc: expected a mapping, found a list"),
        ];
        for (text, expected) in cases {
            assert_eq!(error_of(&text), expected, "{text}");
        }
        let error = parse_bytes("doc", b"{\"catalog\": {\"name\": \"X\",}}").unwrap_err();
        assert!(matches!(error, SourceError::Parse { .. }), "{error:?}");
        assert_eq!(error.to_string(), "doc: trailing comma at line 1 column 26");
        let yaml = error_of("catalog:\n  name: [unclosed\npackages: []\n");
        assert!(
            yaml.starts_with("doc: not a JSON or YAML document: ") && yaml.contains("line 3"),
            "{yaml}"
        );
        assert_eq!(
            error_of("catalog: {name: X, version: '1', catalog_type: binary_runtime}\npackages: []\nx: .nan\n")
                .split(" at line")
                .next(),
            Some("doc: not a JSON or YAML document: x: NaN is not a finite number")
        );
        assert_eq!(
            parse_bytes("doc", b"catalog: \xff\xfe")
                .unwrap_err()
                .to_string(),
            "doc: not UTF-8 text: invalid byte at offset 9"
        );
        assert!(parse_bytes("doc", b"").unwrap_err().is_permanent());
    }

    #[test]
    fn untrusted_values_are_checked_and_bounded() {
        let long = "x".repeat(MAX_NAME_CHARS + 1);
        let cases: Vec<(Value, &str, &str)> = vec![
            (
                json!({"name": long}),
                "packages[1].name",
                "longer than the 256 characters allowed",
            ),
            (
                json!({"name": "a", "categories": vec!["c"; MAX_LIST_ITEMS + 1]}),
                "packages[2].categories",
                "257 items, more than the 256 allowed",
            ),
            (
                json!({"name": "a\nb"}),
                "packages[3].name",
                "must not contain control characters (line breaks, tabs …)",
            ),
            (
                json!({"name": "a", "description": "bell \u{7}"}),
                "packages[4].description",
                "must not contain control characters other than line breaks and tabs",
            ),
            (
                json!({"name": "a", "metadata": {"notes": ["ok", "nul \u{0}"]}}),
                "packages[5].metadata.notes[1]",
                "must not contain the NUL character",
            ),
            (
                json!({"name": "a", "metadata": {"blob": "x".repeat(MAX_METADATA_BYTES)}}),
                "packages[6].metadata",
                "65547 bytes as JSON, more than the 65536 allowed",
            ),
            (
                json!({"name": "a", "homepage": "www.vasp.at"}),
                "packages[7].homepage",
                "\"www.vasp.at\" is not an http(s) URL",
            ),
            (
                json!({"name": "a", "is_extension": "yes"}),
                "packages[8].is_extension",
                "expected true or false, found a string",
            ),
            (
                json!({"name": "a", "versions": {"version": "1"}}),
                "packages[9].versions",
                "expected a list, found a mapping",
            ),
            (
                json!({"name": "a", "licenses": ["MIT", ""]}),
                "packages[10].licenses[1]",
                "must not be empty",
            ),
            (
                json!("VASP"),
                "packages[11]",
                "expected a mapping, found a string",
            ),
            (
                json!({"name": "a", "modulename": "a/1"}),
                "packages[12].modulename",
                "unknown key; modulename is a key of a version, not of a package",
            ),
        ];
        let version_cases: Vec<(Value, &str, &str)> = vec![
            (
                json!({"version": "1", "release_date": "2024-13-01"}),
                "packages[13].versions[0].release_date",
                "\"2024-13-01\" is not a date of the form YYYY-MM-DD",
            ),
            (
                json!({"version": "1", "release_date": "2024-1-5"}),
                "packages[13].versions[1].release_date",
                "\"2024-1-5\" is not a date of the form YYYY-MM-DD",
            ),
            (
                json!({"version": 6.4}),
                "packages[13].versions[2].version",
                "expected a string, found the number 6.4; quote it to keep it as written",
            ),
            (
                json!({"version": "1", "required_modules": "foss/2023b"}),
                "packages[13].versions[3].required_modules",
                "expected a list, found a string",
            ),
            (
                json!({"version": "1", "cpu_target": "x86_64/generic"}),
                "packages[13].versions[4].cpu_target",
                "unknown key; cpu_target is a key of a target, not of a version",
            ),
        ];
        let target_cases: Vec<(Value, &str, &str)> = vec![
            (
                json!({"cpu_target": "aarch64/amd/zen4"}),
                "packages[14].versions[0].targets[0].cpu_target",
                "\"aarch64/amd/zen4\": \"amd/zen4\" is a micro-architecture of x86_64, not of aarch64",
            ),
            (
                json!({"cpu_target": "x86_64"}),
                "packages[14].versions[0].targets[1].cpu_target",
                "invalid CPU target \"x86_64\": expected family/micro-architecture of [A-Za-z0-9_.+-] segments",
            ),
            (
                json!({"cpu_target": "sparc99/generic"}),
                "packages[14].versions[0].targets[2].cpu_target",
                "\"sparc99/generic\": \"sparc99\" is not a CPU family; did you mean sparc?",
            ),
            (
                json!({"cpu_family": "mips", "cpu_microarchitecture": "generic"}),
                "packages[14].versions[0].targets[3].cpu_family",
                "\"mips\" is not a CPU family; CPU families are aarch64, arm, ppc, ppc64, \
                 ppc64le, ppcle, riscv64, sparc, sparc64, x86, x86_64",
            ),
            (
                json!({"cpu_family": "x86_64", "cpu_microarchitecture": "amd/../zen4"}),
                "packages[14].versions[0].targets[4].cpu_microarchitecture",
                "\"amd/../zen4\" is not a micro-architecture: expected [A-Za-z0-9_.+-] \
                 segments separated by /",
            ),
            (
                json!({"cpu_family": "x86_64"}),
                "packages[14].versions[0].targets[5].cpu_microarchitecture",
                "required with cpu_family (generic for any CPU of the family)",
            ),
            (
                json!({"cpu_target": "x86_64/generic", "cpu_family": "x86_64"}),
                "packages[14].versions[0].targets[6].cpu_target",
                "give cpu_target, or cpu_family with cpu_microarchitecture, not both",
            ),
            (
                json!({"path": "/sw/x"}),
                "packages[14].versions[0].targets[7]",
                "names no CPU (cpu_target, or cpu_family and cpu_microarchitecture) \
                 and no target_type and target_name",
            ),
            (
                json!({"target_type": "container"}),
                "packages[14].versions[0].targets[8].target_name",
                "required for a target without a CPU",
            ),
            (
                json!({"cpu_target": "x86_64/generic", "gpu_arch": ["nvidia/cc90", "cc80"]}),
                "packages[14].versions[0].targets[9].gpu_arch[1]",
                "\"cc80\" is not a GPU architecture such as nvidia/cc90",
            ),
            (
                json!({"cpu_target": "x86_64/generic", "metadata": {"gpu_arch": ["nvidia/cc90"]}}),
                "packages[14].versions[0].targets[10].metadata.gpu_arch",
                "give GPU architectures as the target's own gpu_arch",
            ),
            (
                json!({"cpu_target": "x86_64/generic", "path": "x".repeat(MAX_PATH_CHARS + 1)}),
                "packages[14].versions[0].targets[11].path",
                "longer than the 4096 characters allowed",
            ),
            (
                json!({"cpu_target": "x86_64/generic", "odd key": 1}),
                "packages[14].versions[0].targets[12][\"odd key\"]",
                "unknown key; the keys of a target are cpu_target, cpu_family, \
                 cpu_microarchitecture, target_type, target_name, path, gpu_arch, metadata",
            ),
            (
                json!({"cpu_target": "x86_64/generic", "name": "x"}),
                "packages[14].versions[0].targets[13].name",
                "unknown key; name is a key of the catalog and a package, not of a target",
            ),
        ];
        let mut packages = vec![json!({"name": "good", "versions": [{"version": "1"}]})];
        packages.extend(cases.iter().map(|(package, _, _)| package.clone()));
        packages.push(json!({
            "name": "versions",
            "versions": version_cases.iter().map(|(version, _, _)| version.clone()).collect::<Vec<_>>(),
        }));
        packages.push(json!({
            "name": "targets",
            "versions": [{
                "version": "1",
                "targets": target_cases.iter().map(|(target, _, _)| target.clone()).collect::<Vec<_>>(),
            }],
        }));
        let transformed = load_json(&json!({
            "catalog": {"name": "Bounds", "version": "1", "catalog_type": "binary_runtime"},
            "packages": packages,
        }));
        let expected: Vec<SkippedEntry> = [
            (Level::Package, &cases),
            (Level::Version, &version_cases),
            (Level::Target, &target_cases),
        ]
        .into_iter()
        .flat_map(|(level, cases)| {
            cases
                .iter()
                .map(move |(_, entry, reason)| skip(level, entry, reason))
        })
        .collect();
        assert_eq!(transformed.skipped, expected);
        let names: Vec<&str> = transformed
            .snapshot
            .packages
            .keys()
            .map(|key| key.name.as_str())
            .collect();
        assert_eq!(names, ["good", "targets", "versions"]);
        assert!(package(&transformed, "versions").versions.is_empty());
        assert!(
            version(package(&transformed, "targets"), "1", "")
                .targets
                .is_empty()
        );
        // At the bounds, values are accepted.
        let edge = load_json(&json!({
            "catalog": {"name": "Edge", "version": "1", "catalog_type": "binary_runtime"},
            "packages": [{
                "name": "é".repeat(MAX_NAME_CHARS),
                "categories": vec!["c"; MAX_LIST_ITEMS],
                "description": "line\n\tindented",
            }],
        }));
        assert_eq!(edge.skipped, []);
        assert_eq!(edge.snapshot.packages.len(), 1);
    }

    /// The object schemas of the document, by the loader's name for them.
    fn schema_objects(schema: &Value) -> Vec<(&'static str, &Value)> {
        vec![
            ("the document's top level", schema),
            ("the catalog", &schema["$defs"]["catalog"]),
            ("a package", &schema["$defs"]["package"]),
            ("a version", &schema["$defs"]["version"]),
            ("a target", &schema["$defs"]["target"]),
        ]
    }

    fn keys_of(object: &Value) -> BTreeSet<&str> {
        object["properties"]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect()
    }

    /// Where in a document an entry is.
    type Place = fn(&mut Value) -> &mut Value;

    /// A document that gives every key at every level.
    fn full_document() -> Value {
        json!({
            "$schema": "https://example.org/custom-catalog.json",
            "catalog": {
                "name": "Full", "version": "1", "catalog_type": "package_manager",
                "description": "d", "metadata": {"a": 1},
            },
            "packages": [{
                "name": "p", "description": "d", "homepage": "https://example.org",
                "categories": ["c"], "licenses": ["l"], "maintainers": ["m"],
                "is_extension": false, "metadata": {},
                "versions": [{
                    "version": "1", "modulename": "p/1", "release_date": "2026-11-01",
                    "toolchain_name": "foss", "toolchain_version": "2025b",
                    "toolchain_families_compatibility": ["2025b_foss"],
                    "required_modules": ["foss/2025b"], "metadata": {},
                    "targets": [
                        {
                            "cpu_target": "x86_64/amd/zen4", "target_type": "cpu_arch",
                            "target_name": "zen4", "path": "/p", "gpu_arch": ["nvidia/cc90"],
                            "metadata": {},
                        },
                        {"cpu_family": "aarch64", "cpu_microarchitecture": "generic"},
                    ],
                }],
            }],
        })
    }

    /// The problems of a document: the whole document's error, or its
    /// skipped entries.
    fn problems(document: &Value) -> Vec<String> {
        match parse_bytes("t", &serde_json::to_vec(document).unwrap()) {
            Err(error) => vec![error.to_string()],
            Ok(parsed) => parsed
                .transform("t", &SourceBounds::DEFAULT)
                .skipped
                .into_iter()
                .map(|entry| format!("{}: {}", entry.entry, entry.reason))
                .collect(),
        }
    }

    #[test]
    fn the_schema_and_the_loader_agree_on_keys_required_keys_and_names() {
        let schema: Value = serde_json::from_str(SCHEMA).unwrap();
        assert_eq!(
            schema["$schema"],
            "https://json-schema.org/draft/2020-12/schema"
        );
        // Every object the loader reads is closed in the schema, with the
        // loader's keys exactly.
        for ((level, object), (loader_level, loader_keys)) in
            schema_objects(&schema).into_iter().zip(LEVELS)
        {
            assert_eq!(level, loader_level);
            assert_eq!(object["additionalProperties"], false, "{level}");
            let loader: BTreeSet<&str> = loader_keys.iter().copied().collect();
            assert_eq!(keys_of(object), loader, "{level}");
        }
        // Each key at each level: the loader takes it, and wants it exactly
        // when the schema requires it.
        let full = full_document();
        assert_eq!(problems(&full), Vec::<String>::new());
        let places: [(&str, &str, Place); 5] = [
            ("the document's top level", "", |d| d),
            ("the catalog", "catalog", |d| &mut d["catalog"]),
            ("a package", "packages[0]", |d| &mut d["packages"][0]),
            ("a version", "packages[0].versions[0]", |d| {
                &mut d["packages"][0]["versions"][0]
            }),
            ("a target", "packages[0].versions[0].targets[0]", |d| {
                &mut d["packages"][0]["versions"][0]["targets"][0]
            }),
        ];
        for ((level, object), (_, path, place)) in schema_objects(&schema).into_iter().zip(places) {
            let required: BTreeSet<&str> = object["required"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|key| key.as_str().unwrap())
                .collect();
            for key in keys_of(object) {
                let mut document = full.clone();
                let Some(fields) = place(&mut document).as_object_mut() else {
                    panic!("{level}");
                };
                if fields.remove(key).is_none() {
                    // cpu_family and cpu_microarchitecture: the second target.
                    assert_eq!(level, "a target", "{key}");
                    continue;
                }
                let problems = problems(&document);
                if required.contains(key) {
                    let field = if path.is_empty() {
                        key.to_owned()
                    } else {
                        format!("{path}.{key}")
                    };
                    let expected = format!("{field}: required key is missing");
                    assert!(
                        problems.len() == 1 && problems[0].ends_with(&expected),
                        "{level} {key}: {problems:?}"
                    );
                } else {
                    assert_eq!(problems, Vec::<String>::new(), "{level} {key}");
                }
            }
        }
        // The names the loader accepts are the schema's.
        let types: Vec<&str> = CatalogType::ALL.iter().map(|t| t.as_str()).collect();
        assert_eq!(
            schema["$defs"]["catalog"]["properties"]["catalog_type"]["enum"],
            json!(types)
        );
        let families: Vec<&str> = cpu_families().iter().map(String::as_str).collect();
        assert!(families.contains(&"x86_64") && families.contains(&"riscv64"));
        assert_eq!(
            schema["$defs"]["target"]["properties"]["cpu_family"]["enum"],
            json!(families)
        );
        // And the bounds.
        let properties = |level: &str| &schema["$defs"][level]["properties"];
        assert_eq!(properties("package")["name"]["maxLength"], MAX_NAME_CHARS);
        assert_eq!(
            properties("package")["description"]["maxLength"],
            MAX_TEXT_CHARS
        );
        assert_eq!(
            properties("package")["homepage"]["maxLength"],
            MAX_URL_CHARS
        );
        assert_eq!(properties("target")["path"]["maxLength"], MAX_PATH_CHARS);
        assert_eq!(
            properties("package")["categories"]["maxItems"],
            MAX_LIST_ITEMS
        );
        assert_eq!(schema["$defs"]["listItem"]["maxLength"], MAX_NAME_CHARS);
        assert!(
            schema["$defs"]["metadata"]["description"]
                .as_str()
                .unwrap()
                .contains(&MAX_METADATA_BYTES.to_string())
        );
    }

    /// Checks `value` against `schema` for the keywords the catalog schema
    /// uses (`pattern` aside: no regular expressions here), collecting the
    /// paths that fail.
    fn validate(root: &Value, schema: &Value, value: &Value, path: &str, errors: &mut Vec<String>) {
        if let Some(reference) = schema["$ref"].as_str() {
            let name = reference.strip_prefix("#/$defs/").unwrap();
            validate(root, &root["$defs"][name], value, path, errors);
        }
        let mut fail = |keyword: &str| errors.push(format!("{path}: {keyword}"));
        if let Some(types) = schema.get("type") {
            let types: Vec<&str> = match types {
                Value::String(one) => vec![one.as_str()],
                many => many
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|t| t.as_str().unwrap())
                    .collect(),
            };
            let actual = match value {
                Value::Null => "null",
                Value::Bool(_) => "boolean",
                Value::Number(_) => "number",
                Value::String(_) => "string",
                Value::Array(_) => "array",
                Value::Object(_) => "object",
            };
            if !types.contains(&actual) {
                fail("type");
            }
        }
        if let Some(allowed) = schema["enum"].as_array()
            && !allowed.contains(value)
        {
            fail("enum");
        }
        if let Value::String(text) = value {
            let chars = text.chars().count() as u64;
            if schema["maxLength"].as_u64().is_some_and(|max| chars > max) {
                fail("maxLength");
            }
            if schema["minLength"].as_u64().is_some_and(|min| chars < min) {
                fail("minLength");
            }
        }
        if let Value::Array(items) = value {
            if schema["maxItems"]
                .as_u64()
                .is_some_and(|max| items.len() as u64 > max)
            {
                fail("maxItems");
            }
            if let Some(item_schema) = schema.get("items") {
                for (index, item) in items.iter().enumerate() {
                    validate(root, item_schema, item, &format!("{path}[{index}]"), errors);
                }
            }
        }
        let Value::Object(fields) = value else {
            return;
        };
        let has_all = |keys: &Value| {
            keys.as_array()
                .unwrap()
                .iter()
                .all(|key| fields.contains_key(key.as_str().unwrap()))
        };
        if let Some(required) = schema.get("required")
            && !has_all(required)
        {
            errors.push(format!("{path}: required"));
        }
        if let Some(options) = schema["anyOf"].as_array()
            && !options.iter().any(|option| has_all(&option["required"]))
        {
            errors.push(format!("{path}: anyOf"));
        }
        if let Some(options) = schema["not"]["anyOf"].as_array()
            && options.iter().any(|option| has_all(&option["required"]))
        {
            errors.push(format!("{path}: not"));
        }
        if let Some(dependent) = schema["dependentRequired"].as_object() {
            for (key, needs) in dependent {
                if fields.contains_key(key) && !has_all(needs) {
                    errors.push(format!("{path}: dependentRequired"));
                }
            }
        }
        let properties = schema["properties"].as_object();
        for (key, item) in fields {
            match properties.and_then(|properties| properties.get(key)) {
                Some(property) => validate(root, property, item, &child(path, key), errors),
                None if schema["additionalProperties"] == false => {
                    errors.push(format!("{}: additionalProperties", child(path, key)));
                }
                None => {}
            }
        }
    }

    fn schema_errors(document: &Value) -> Vec<String> {
        let schema: Value = serde_json::from_str(SCHEMA).unwrap();
        let mut errors = Vec::new();
        validate(&schema, &schema, document, "", &mut errors);
        errors
    }

    #[test]
    fn the_example_validates_against_the_schema_and_the_mistakes_do_not() {
        let example: Value = serde_json::from_slice(&read("example.json")).unwrap();
        assert_eq!(schema_errors(&example), Vec::<String>::new());
        assert_eq!(schema_errors(&full_document()), Vec::<String>::new());
        let errors: Value = serde_norway::from_slice(&read("errors.yaml")).unwrap();
        assert_eq!(
            schema_errors(&errors),
            [
                "packages[1].versions[1]: required",
                "packages[2].descripton: additionalProperties",
                "packages[3].versions[0].targets[1].cpu_family: enum",
            ]
        );
        let mut wrong = example.clone();
        wrong["catalog"]["catalog_type"] = json!("modules");
        wrong["packages"][0]["versions"][0]["targets"][0]["cpu_family"] = json!("x86_64");
        wrong["packages"][1]["versions"][0]["targets"][0]
            .as_object_mut()
            .unwrap()
            .remove("cpu_target");
        assert_eq!(
            schema_errors(&wrong),
            [
                "catalog.catalog_type: enum",
                "packages[0].versions[0].targets[0]: not",
                "packages[0].versions[0].targets[0]: dependentRequired",
                "packages[1].versions[0].targets[0]: anyOf",
            ]
        );
    }

    /// EESSI's published catalog rewritten by hand into a custom document,
    /// the way a centre would describe its own stack.
    #[test]
    fn an_eessi_catalog_written_as_a_custom_document_loads_all_it_can() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../shared/data/eessi/eessi_api_metadata_software.json"
        );
        let eessi: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
        let strings = |value: &Value| -> Vec<String> {
            value
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|item| {
                    item.as_str()
                        .or_else(|| item["full_module_name"].as_str())
                        .map(str::to_owned)
                })
                .collect()
        };
        let mut packages = Vec::new();
        let mut loaded = SnapshotSize::default();
        let mut bad_homepages = Vec::new();
        let mut repeated_versions = 0;
        for (index, (name, software)) in eessi["software"].as_object().unwrap().iter().enumerate() {
            let homepage = software["homepage"].as_str().unwrap_or_default();
            let good_homepage = homepage.is_empty()
                || homepage.starts_with("http://")
                || homepage.starts_with("https://");
            let mut versions = Vec::new();
            let mut seen = HashSet::new();
            let mut counted = SnapshotSize::default();
            let mut counted_repeats = 0;
            for installation in software["versions"].as_array().unwrap() {
                let module = installation["module"]["full_module_name"]
                    .as_str()
                    .or(installation["modulename"].as_str())
                    .unwrap();
                let version = installation["version"].as_str().unwrap();
                let stack = strings(&installation["required_modules"])
                    .iter()
                    .find_map(|module| module.strip_prefix("EESSI/").map(str::to_owned))
                    .unwrap();
                let arches = strings(&installation["cpu_arch"]);
                let targets: Vec<Value> = arches
                    .iter()
                    .map(|arch| {
                        json!({
                            "cpu_target": arch,
                            "path": format!("/cvmfs/software.eessi.io/versions/{stack}/software/linux/{arch}"),
                            "gpu_arch": installation["gpu_arch"][arch],
                        })
                    })
                    .collect();
                if seen.insert((version, module)) {
                    counted.versions += 1;
                    counted.targets += arches.iter().collect::<HashSet<_>>().len() as u64;
                } else {
                    counted_repeats += 1;
                }
                versions.push(json!({
                    "version": version,
                    "modulename": module,
                    "toolchain_name": installation["toolchain"]["name"],
                    "toolchain_version": installation["toolchain"]["version"],
                    "toolchain_families_compatibility": installation["toolchain_families_compatibility"],
                    "required_modules": strings(&installation["required_modules"]),
                    "metadata": {"versionsuffix": installation["versionsuffix"], "eessi_version": stack},
                    "targets": targets,
                }));
            }
            if good_homepage {
                loaded.packages += 1;
                loaded.versions += counted.versions;
                loaded.targets += counted.targets;
                repeated_versions += counted_repeats;
            } else {
                bad_homepages.push(skip(
                    Level::Package,
                    &format!("packages[{index}].homepage"),
                    &format!("{homepage:?} is not an http(s) URL"),
                ));
            }
            packages.push(json!({
                "name": name,
                "description": software["description"],
                "homepage": homepage,
                "categories": strings(&software["categories"]),
                "versions": versions,
            }));
        }
        let document = json!({
            "catalog": {"name": "EESSI-by-hand", "version": "2026.08", "catalog_type": "binary_runtime"},
            "packages": packages,
        });
        let transformed = load_json(&document);
        assert_eq!(transformed.snapshot.size(), loaded);
        assert!(
            loaded.packages > 700 && loaded.targets > 20_000,
            "{loaded:?}"
        );
        let (packages_skipped, others): (Vec<_>, Vec<_>) = transformed
            .skipped
            .iter()
            .cloned()
            .partition(|entry| entry.level == Level::Package);
        assert_eq!(packages_skipped, bad_homepages);
        assert!(!bad_homepages.is_empty());
        // What else is skipped: the module a software lists once per stack.
        assert_eq!(others.len() as u64, repeated_versions);
        assert!(others.iter().all(|entry| {
            entry.level == Level::Version && entry.reason.contains("is given before, at packages[")
        }));
        let gromacs = package(&transformed, "GROMACS");
        let cuda = version(gromacs, "2026.2", "GROMACS/2026.2-foss-2025b-CUDA-12.9.1");
        let zen4 = target(cuda, "cpu_arch", "x86_64/amd/zen4");
        assert_eq!(
            zen4.path,
            "/cvmfs/software.eessi.io/versions/2025.06/software/linux/x86_64/amd/zen4"
        );
        assert_eq!(
            zen4.metadata[GPU_ARCH_KEY],
            json!([
                "nvidia/cc100",
                "nvidia/cc120",
                "nvidia/cc70",
                "nvidia/cc80",
                "nvidia/cc90"
            ])
        );
        let grace = target(cuda, "cpu_arch", "aarch64/nvidia/grace");
        assert_eq!(grace.cpu_microarchitecture.as_deref(), Some("nvidia/grace"));
        assert_eq!(cuda.row.toolchain_name, "foss");
        assert_eq!(
            version(gromacs, "2026.2", "GROMACS/2026.2-foss-2025b")
                .row
                .required_modules,
            ["EESSI/2025.06", "GROMACS/2026.2-foss-2025b"]
        );
    }

    #[tokio::test]
    async fn the_source_reads_a_file_and_fingerprints_its_bytes() {
        let source = CustomSource {
            data_url: fixture("example.yaml"),
            uploaded: None,
        };
        let fetcher = Fetcher::new(&FetchConfig::default()).unwrap();
        let transformed = read_catalog(&source, &fetcher, &SourceBounds::DEFAULT)
            .await
            .unwrap();
        let mut expected = load("example.yaml");
        expected.snapshot.source_url = source.data_url.clone();
        assert_eq!(transformed, expected);
        assert_eq!(source.location(), source.data_url);
        let bytes = source.fetch(&fetcher).await.unwrap();
        assert_eq!(source.versions(&source.parse(&bytes).unwrap()), ["2026.11"]);
        assert_eq!(
            source.source_fingerprint(&bytes),
            fingerprint(&read("example.yaml"))
        );
        assert_ne!(
            fingerprint(&read("example.yaml")),
            fingerprint(&read("example.json"))
        );
        let missing = CustomSource {
            data_url: fixture("missing.yaml"),
            uploaded: None,
        };
        let error = read_catalog(&missing, &fetcher, &SourceBounds::DEFAULT)
            .await
            .unwrap_err();
        assert!(
            error.to_string().ends_with("missing.yaml: not found"),
            "{error}"
        );
    }
}
