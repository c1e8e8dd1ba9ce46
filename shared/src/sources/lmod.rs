//! A site's Lmod module tree as `spider -o jsonSoftwarePage` publishes it: a
//! JSON array with one object per package (`package`, `defaultVersionName`,
//! `description`, `url`, `categories`, `keywords`, `displayName`,
//! `versions[]`), each version a modulefile (`full`, `versionName`, `path`,
//! `markedDefault`, `help`, `description`, `parent`, `hidden`, `family`,
//! `properties`, `provides`).
//!
//! A package is an Lmod package, named as published (`python2/scipy` keeps
//! its slash; `R` and `r` are two packages). A version is one module `full`
//! name: its version is `full` without the package prefix (`r/4.1.0` → `4.1.0`
//! even where `versionName` says `4.1.0-gcc8`), and a module without a version
//! (`full` is the package name, `wV: "~"`) gets [`UNVERSIONED`]. Lmod lists a
//! module once per parent chain it is reachable through; those copies are one
//! version whose metadata keeps every chain (`parents`) and every modulefile
//! with its chains (`modulefiles`). Its `required_modules` is one chain that
//! loads it: the shortest (ties: the lowest in text order), so a module that
//! also sits at the top of the tree requires nothing; the copy reached by
//! that chain gives the version's modulefile `path` and its texts. A version
//! is the `default` when a copy is `markedDefault` or its version is the
//! package's `defaultVersionName` (which names a display version where no
//! module has it as its version: `impi/4.1.0` shown as `4.1.0.024`).
//!
//! `parent` comes in two forms: chains as arrays (`[["Sali", "gcc/10.2.1"]]`)
//! and, from old Lmod, strings rooted at `default` (`"default:intel/13.0"`;
//! `"default"` alone is the top of the tree). `categories` and `keywords` are
//! lists or comma-separated strings. `versions` is `{}` where Lua wrote an
//! empty table; such packages (their only modules are hidden from spider)
//! are left out and named in the catalog metadata, not counted as skipped.
//! Hidden modules (`hidden: true`, or a name segment starting with `.`) are
//! kept and marked `hidden`.
//!
//! A module tree carries no CPU data: every version gets one `cpu_arch`
//! target per CPU target the load names (the machine's `generic` when it
//! names none), each with the modulefile as its path. Without an explicit
//! catalog version, the catalog is named by the document's date: its
//! `Last-Modified` time (http) or modification time (a file), else the date
//! of the load, in UTC.

use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;

use chrono::{DateTime, NaiveDate, Utc};
use serde::de::{DeserializeOwned, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;
use serde_json::{Value, json};

use super::registry::{
    CatalogNaming, OptionKind, OptionValue, RegisteredSource, SourceDefinition, SourceOption,
    load_registered, versions_registered,
};
use super::{CatalogSource, SourceError, fingerprint_parts, nullable, parse_document};
use crate::catalog::{CatalogKey, CatalogKind, CatalogType, CpuTarget, InvalidCpuTarget};
use crate::fetch::Fetcher;
use crate::loader::{InvalidLoadRequest, LoadRequest, SourceBounds};
use crate::snapshot::{
    CatalogSnapshot, Level, PackageKey, PackageRow, PackageSnapshot, SkippedEntry, TargetKey,
    TargetRow, Transformed, VersionKey, VersionRow, VersionSnapshot,
};

/// Lmod module trees in the registry of sources.
pub static DEFINITION: SourceDefinition = SourceDefinition {
    id: "lmod",
    summary: "Load a site's Lmod module tree (spider -o jsonSoftwarePage)",
    catalog_type: CatalogType::EnvironmentModule,
    url_key: "data_url",
    url_help: "URL or path of the tree's `spider -o jsonSoftwarePage` JSON",
    default_url: "",
    naming: CatalogNaming::Required,
    version_help: "the document's date (a local file's modification time, else the load's \
                   date), YYYY-MM-DD",
    default_update_enabled: false,
    holds_several_versions: false,
    options: &[SourceOption {
        name: "cpu_targets",
        flag: "cpu-target",
        help: "A CPU the tree runs on, FAMILY/MICROARCH (x86_64/amd/zen4); every module gets \
               one target per CPU named; the machine's generic target by default",
        kind: OptionKind::List,
        default: || OptionValue::List(vec![machine_target_name()]),
        check: check_cpu_targets,
    }],
    load: load_registered::<LmodSource>,
    offered_versions: versions_registered::<LmodSource>,
};

/// The kind of module-tree catalogs.
pub const KIND: CatalogKind = CatalogKind::of(&DEFINITION);

/// Every CPU target parsed and written out in full; none at all is the
/// machine's generic one.
fn check_cpu_targets(value: OptionValue) -> Result<OptionValue, String> {
    let targets = value
        .list()
        .iter()
        .map(|name| {
            CpuTarget::parse(name)
                .map(|target| target.to_string())
                .map_err(|error| error.to_string())
        })
        .collect::<Result<Vec<_>, _>>()?;
    if targets.is_empty() {
        return Ok(OptionValue::List(vec![machine_target_name()]));
    }
    Ok(OptionValue::List(targets))
}

impl RegisteredSource for LmodSource {
    fn from_request(request: &LoadRequest) -> Result<Self, InvalidLoadRequest> {
        let cpu_targets = request
            .option("cpu_targets")
            .list()
            .iter()
            .map(|name| CpuTarget::parse(name))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|error| InvalidLoadRequest {
                field: "cpu_targets".into(),
                reason: error.to_string(),
            })?;
        Ok(Self {
            data_url: request.url.clone(),
            catalog_name: request.catalog_name.clone(),
            catalog_version: request.catalog_version.clone(),
            cpu_targets,
        })
    }
}

/// The version of a module that has none (`full` is just the package name,
/// Lmod's `wV: "~"`); its `modulename` still tells it apart from a real
/// version of that name.
pub const UNVERSIONED: &str = "unversioned";

/// Loads a site's Lmod module tree from a `spider -o jsonSoftwarePage` URL
/// or path.
#[derive(Debug, Clone)]
pub struct LmodSource {
    /// URL or path of the spider JSON document.
    pub data_url: String,
    /// Catalog name (the site's or partition's tree, e.g. `Wynton`).
    pub catalog_name: String,
    /// Catalog version; the document's date (`YYYY-MM-DD`) when `None`.
    pub catalog_version: Option<String>,
    /// The CPUs the tree runs on, one target each per version; empty means
    /// the generic target of this machine's family ([`machine_target_name`]).
    pub cpu_targets: Vec<CpuTarget>,
}

/// The fetched document and the date it goes by.
#[derive(Debug)]
pub struct LmodDocuments {
    bytes: Vec<u8>,
    dated: Dated,
}

/// The parsed document. Each package and each module parses on its own, so
/// a malformed one is skipped rather than failing the catalog.
#[derive(Debug)]
pub struct LmodParsed {
    packages: Vec<Entry<LmodPackage>>,
    dated: Dated,
}

/// The date a document goes by, and where it was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Dated {
    date: NaiveDate,
    source: DateSource,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DateSource {
    /// The document's `Last-Modified` time, or a local file's modification
    /// time.
    Modified,
    /// The day of the load: the location tells no date.
    Loaded,
}

impl DateSource {
    fn as_str(self) -> &'static str {
        match self {
            Self::Modified => "last modified",
            Self::Loaded => "load date",
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct LmodPackage {
    package: String,
    /// A version name, or `false` in some Lmod versions.
    #[serde(default)]
    default_version_name: Value,
    #[serde(default, deserialize_with = "nullable")]
    description: String,
    #[serde(default, deserialize_with = "nullable")]
    url: String,
    #[serde(default, deserialize_with = "nullable")]
    display_name: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    categories: Words,
    #[serde(default, deserialize_with = "nullable")]
    keywords: Words,
    #[serde(default, deserialize_with = "nullable")]
    versions: Modules,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct LmodModule {
    full: String,
    #[serde(default, deserialize_with = "nullable")]
    path: String,
    #[serde(default, deserialize_with = "nullable")]
    version_name: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    canonical_version_string: String,
    #[serde(default, deserialize_with = "nullable")]
    marked_default: bool,
    #[serde(default, deserialize_with = "nullable")]
    hidden: bool,
    #[serde(default, deserialize_with = "nullable")]
    description: String,
    #[serde(default, deserialize_with = "nullable")]
    help: String,
    #[serde(default, deserialize_with = "nullable")]
    parent: Parents,
    #[serde(default)]
    family: Value,
    #[serde(default)]
    properties: Value,
    #[serde(default)]
    provides: Value,
}

/// What names an entry in a skip report when the entry does not parse.
trait Keyed {
    const KEY: &'static str;
}

impl Keyed for LmodPackage {
    const KEY: &'static str = "package";
}

impl Keyed for LmodModule {
    const KEY: &'static str = "full";
}

/// An entry parsed on its own; when it does not parse, its name (if it has
/// a string one) is kept for the skip report.
#[derive(Debug)]
struct Entry<T> {
    parsed: Result<T, String>,
    name: Option<String>,
}

impl<'de, T: DeserializeOwned + Keyed> Deserialize<'de> for Entry<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = Box::<RawValue>::deserialize(deserializer)?;
        Ok(match serde_json::from_str(raw.get()) {
            Ok(parsed) => Self {
                parsed: Ok(parsed),
                name: None,
            },
            Err(error) => Self {
                parsed: Err(error.to_string()),
                name: serde_json::from_str::<Value>(raw.get())
                    .ok()
                    .and_then(|value| value.get(T::KEY)?.as_str().map(str::to_owned)),
            },
        })
    }
}

/// `package entry #3 "name"`, for skip reports.
fn describe(what: &str, index: usize, name: Option<&str>) -> String {
    match name {
        Some(name) => format!("{what} #{index} {name:?}"),
        None => format!("{what} #{index}"),
    }
}

/// A package's modules: a JSON array, or an object where Lua wrote a table
/// that is not a sequence (`{}` for an empty one); its values are the
/// modules.
#[derive(Debug, Default)]
struct Modules(Vec<Entry<LmodModule>>);

impl<'de> Deserialize<'de> for Modules {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ModulesVisitor(PhantomData<Modules>);

        impl<'de> Visitor<'de> for ModulesVisitor {
            type Value = Modules;

            fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
                formatter.write_str("a list (or Lua table) of modules")
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Modules, A::Error> {
                let mut modules = Vec::new();
                while let Some(module) = seq.next_element()? {
                    modules.push(module);
                }
                Ok(Modules(modules))
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Modules, A::Error> {
                let mut modules = Vec::new();
                while let Some((_, module)) = map.next_entry::<String, _>()? {
                    modules.push(module);
                }
                Ok(Modules(modules))
            }
        }

        deserializer.deserialize_any(ModulesVisitor(PhantomData))
    }
}

/// Categories or keywords: a list, or one comma-separated string (old Lmod).
#[derive(Debug, Default)]
struct Words(Vec<String>);

impl<'de> Deserialize<'de> for Words {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged, expecting = "a string or a list of strings")]
        enum Form {
            Joined(String),
            List(Vec<String>),
        }
        let words: Vec<String> = match Form::deserialize(deserializer)? {
            Form::Joined(text) => text.split(',').map(str::to_owned).collect(),
            Form::List(words) => words,
        };
        Ok(Self(
            words
                .iter()
                .map(|word| word.trim())
                .filter(|word| !word.is_empty())
                .map(str::to_owned)
                .collect(),
        ))
    }
}

/// A module's parent chains, each the modules to load, in order, before it
/// can be loaded; an empty chain is the top of the tree.
#[derive(Debug, Default)]
struct Parents(Vec<Vec<String>>);

impl<'de> Deserialize<'de> for Parents {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged, expecting = "a parent chain: a list of modules or a string")]
        enum Chain {
            Joined(String),
            List(Vec<String>),
        }
        #[derive(Deserialize)]
        #[serde(
            untagged,
            expecting = "a list of parent chains, or one chain as a string"
        )]
        enum Form {
            One(String),
            Many(Vec<Chain>),
        }
        let chains = match Form::deserialize(deserializer)? {
            Form::One(text) => vec![Chain::Joined(text)],
            Form::Many(chains) => chains,
        };
        Ok(Self(
            chains
                .into_iter()
                .map(|chain| match chain {
                    Chain::Joined(text) => joined_chain(&text),
                    Chain::List(modules) => modules
                        .iter()
                        .map(|module| module.trim())
                        .filter(|module| !module.is_empty())
                        .map(str::to_owned)
                        .collect(),
                })
                .collect(),
        ))
    }
}

/// Old Lmod's chain string, rooted at `default`: `"default:intel/13.0"` →
/// `["intel/13.0"]`, `"default"` → `[]`.
fn joined_chain(text: &str) -> Vec<String> {
    let mut segments: Vec<&str> = text
        .split(':')
        .map(str::trim)
        .filter(|segment| !segment.is_empty())
        .collect();
    if segments.first() == Some(&"default") {
        segments.remove(0);
    }
    segments.into_iter().map(str::to_owned).collect()
}

/// The CPU family softcat (and archspec) calls this machine's architecture:
/// Rust's `std::env::consts::ARCH` names, with the PowerPC ones renamed.
fn family_of(arch: &str, little_endian: bool) -> &str {
    match arch {
        "powerpc64" if little_endian => "ppc64le",
        "powerpc64" => "ppc64",
        "powerpc" => "ppc",
        other => other,
    }
}

/// The CPU target a load that names none uses: the generic target of this
/// machine's family (`x86_64/generic`, `aarch64/generic`, `ppc64le/generic` …).
pub fn machine_target_name() -> String {
    let family = family_of(std::env::consts::ARCH, cfg!(target_endian = "little"));
    format!("{family}/generic")
}

/// [`machine_target_name`] as a [`CpuTarget`].
pub fn machine_cpu_target() -> Result<CpuTarget, InvalidCpuTarget> {
    CpuTarget::parse(&machine_target_name())
}

/// The date a fetched document goes by: when it last changed, where the
/// location says (`Last-Modified`, a file's modification time), else the
/// day of the load (UTC).
fn document_date(last_modified: Option<DateTime<Utc>>) -> Dated {
    match last_modified {
        Some(time) => Dated {
            date: time.date_naive(),
            source: DateSource::Modified,
        },
        None => Dated {
            date: Utc::now().date_naive(),
            source: DateSource::Loaded,
        },
    }
}

impl CatalogSource for LmodSource {
    type Documents = LmodDocuments;
    type Parsed = LmodParsed;

    fn location(&self) -> &str {
        &self.data_url
    }

    fn catalog_name(&self) -> &str {
        &self.catalog_name
    }

    /// Covers the document, the name, the explicit version and the CPU
    /// targets. A version taken from the document's date is left out on
    /// purpose: an unchanged tree read again another day (or touched) is the
    /// catalog already loaded, not a new dated copy of it.
    fn source_fingerprint(&self, documents: &LmodDocuments) -> i64 {
        let (has_version, version) = match &self.catalog_version {
            Some(version) => ("1", version.as_str()),
            None => ("0", ""),
        };
        let targets = self.target_names().join("\n");
        fingerprint_parts([
            self.catalog_name.as_bytes(),
            has_version.as_bytes(),
            version.as_bytes(),
            targets.as_bytes(),
            documents.bytes.as_slice(),
        ])
    }

    async fn fetch(&self, fetcher: &Fetcher) -> Result<LmodDocuments, SourceError> {
        let fetched = fetcher.fetch_dated(&self.data_url).await?;
        Ok(LmodDocuments {
            bytes: fetched.bytes,
            dated: document_date(fetched.last_modified),
        })
    }

    fn parse(&self, documents: &LmodDocuments) -> Result<LmodParsed, SourceError> {
        Ok(LmodParsed {
            packages: parse_document(&self.data_url, &documents.bytes)?,
            dated: documents.dated,
        })
    }

    fn versions(&self, parsed: &LmodParsed) -> Vec<String> {
        vec![self.version(parsed.dated)]
    }

    fn transform(
        &self,
        parsed: LmodParsed,
        bounds: &SourceBounds,
    ) -> Result<Transformed, SourceError> {
        let targets = self.targets()?;
        let Grouped {
            groups,
            mut skipped,
            module_entries,
        } = group_packages(parsed.packages);
        let without_modules: Vec<&String> = groups
            .iter()
            .filter(|(_, group)| group.module_entries == 0)
            .map(|(name, _)| name)
            .collect();
        let target_names: Vec<String> = targets.iter().map(ToString::to_string).collect();
        let metadata = json!({
            "cpu_targets": target_names,
            "date": parsed.dated.date.to_string(),
            "date_source": parsed.dated.source.as_str(),
            "modules": module_entries,
            "packages_without_modules": without_modules,
        });
        let mut snapshot = CatalogSnapshot {
            key: CatalogKey::new(&self.catalog_name, self.version(parsed.dated)),
            kind: KIND,
            catalog_type: CatalogType::EnvironmentModule,
            source_url: self.data_url.clone(),
            description: format!("Lmod module tree for {}", target_names.join(", ")),
            metadata,
            packages: BTreeMap::new(),
            extensions_excluded: false,
        };
        for (name, group) in groups {
            if let Some(package) = build_package(&name, group, &targets, bounds, &mut skipped) {
                snapshot.insert_package(
                    PackageKey {
                        name,
                        is_extension: false,
                    },
                    package,
                );
            }
        }
        Ok(Transformed { snapshot, skipped })
    }
}

impl LmodSource {
    /// The catalog version: the one asked for, or the document's date.
    fn version(&self, dated: Dated) -> String {
        self.catalog_version
            .clone()
            .unwrap_or_else(|| dated.date.to_string())
    }

    /// The CPU targets every version gets, sorted and without repeats.
    fn targets(&self) -> Result<Vec<CpuTarget>, SourceError> {
        let mut targets = if self.cpu_targets.is_empty() {
            vec![machine_cpu_target().map_err(|error| {
                SourceError::Invalid(format!(
                    "this machine has no usable default CPU target ({error}); \
                     name the CPU targets of the tree"
                ))
            })?]
        } else {
            self.cpu_targets.clone()
        };
        targets.sort();
        targets.dedup();
        Ok(targets)
    }

    /// The names of the CPU targets a load uses, sorted and without repeats.
    fn target_names(&self) -> Vec<String> {
        let mut names: Vec<String> = if self.cpu_targets.is_empty() {
            vec![machine_target_name()]
        } else {
            self.cpu_targets.iter().map(ToString::to_string).collect()
        };
        names.sort();
        names.dedup();
        names
    }
}

/// The package entries by name, each with its module copies by `full`, and
/// what could not be read.
struct Grouped {
    groups: BTreeMap<String, PackageGroup>,
    skipped: Vec<SkippedEntry>,
    /// Module entries in the document, readable or not.
    module_entries: usize,
}

/// Groups the document's entries: entries of one package name (compared
/// exactly) are one package, copies of one module name one version.
fn group_packages(entries: Vec<Entry<LmodPackage>>) -> Grouped {
    let mut grouped = Grouped {
        groups: BTreeMap::new(),
        skipped: Vec::new(),
        module_entries: 0,
    };
    for (index, entry) in entries.into_iter().enumerate() {
        let package = match entry.parsed {
            Ok(package) if !package.package.trim().is_empty() => package,
            Ok(_) => {
                grouped.skipped.push(skip(
                    Level::Package,
                    format!("package entry #{index}"),
                    "empty package name",
                ));
                continue;
            }
            Err(reason) => {
                let entry_name = describe("package entry", index, entry.name.as_deref());
                grouped
                    .skipped
                    .push(skip(Level::Package, entry_name, reason));
                continue;
            }
        };
        let LmodPackage {
            package: name,
            default_version_name,
            description,
            url,
            display_name,
            categories,
            keywords,
            versions,
        } = package;
        let group = grouped
            .groups
            .entry(name.clone())
            .or_insert_with(|| PackageGroup {
                info: PackageInfo {
                    default_version_name: default_version_name
                        .as_str()
                        .map(str::trim)
                        .filter(|version| !version.is_empty())
                        .map(str::to_owned),
                    description: description.trim().to_owned(),
                    url: url.trim().to_owned(),
                    display_name,
                    categories: categories.0,
                    keywords: keywords.0,
                },
                module_entries: 0,
                modules: BTreeMap::new(),
            });
        for (module_index, entry) in versions.0.into_iter().enumerate() {
            group.module_entries += 1;
            grouped.module_entries += 1;
            let entry_name = || {
                let module = describe("module entry", module_index, entry.name.as_deref());
                format!("package {name:?} {module}")
            };
            match entry.parsed {
                Ok(module) if !module.full.trim().is_empty() => group
                    .modules
                    .entry(module.full.clone())
                    .or_default()
                    .push(module),
                Ok(_) => grouped.skipped.push(skip(
                    Level::Version,
                    entry_name(),
                    "empty module name (full)",
                )),
                Err(reason) => grouped
                    .skipped
                    .push(skip(Level::Version, entry_name(), reason)),
            }
        }
    }
    grouped
}

fn skip(level: Level, entry: String, reason: impl Into<String>) -> SkippedEntry {
    SkippedEntry {
        level,
        entry,
        reason: reason.into(),
    }
}

/// A package's own fields, from its first entry in the document.
struct PackageInfo {
    default_version_name: Option<String>,
    description: String,
    url: String,
    display_name: Option<String>,
    categories: Vec<String>,
    keywords: Vec<String>,
}

/// Every entry of one package name, with its module copies by `full`.
struct PackageGroup {
    info: PackageInfo,
    /// Module entries listed, loadable or not.
    module_entries: usize,
    modules: BTreeMap<String, Vec<LmodModule>>,
}

/// One package's snapshot, or `None` when none of its modules loads.
fn build_package(
    name: &str,
    group: PackageGroup,
    targets: &[CpuTarget],
    bounds: &SourceBounds,
    skipped: &mut Vec<SkippedEntry>,
) -> Option<PackageSnapshot> {
    if group.modules.is_empty() {
        return None;
    }
    let info = group.info;
    let mut versions: Vec<(String, String, Merged)> = group
        .modules
        .into_iter()
        .map(|(full, copies)| {
            let mut merged = merge_copies(&full, copies);
            let version = match version_of(name, &full) {
                Some(version) => version.to_owned(),
                None => {
                    merged.versioned = false;
                    UNVERSIONED.to_owned()
                }
            };
            (version, full, merged)
        })
        .collect();
    skipped.extend(
        bounds.keep_newest_versions(name, &mut versions, |(version, _, merged)| {
            merged.versioned.then_some(version.as_str())
        }),
    );
    let default_name = info.default_version_name.as_deref();
    // `defaultVersionName` names a version; where none has it as its
    // version, it is the display name (`4.1.0.024` for `impi/4.1.0`).
    let by_version = versions
        .iter()
        .any(|(version, _, _)| Some(version.as_str()) == default_name);
    let mut package = PackageSnapshot {
        row: PackageRow {
            description: String::new(),
            homepage: homepage(&info.url),
            categories: info.categories,
            licenses: Vec::new(),
            maintainers: Vec::new(),
            metadata: json!({
                "display_name": info.display_name,
                "default_version": info.default_version_name,
                "keywords": info.keywords,
                "url": info.url,
            }),
        },
        versions: BTreeMap::new(),
    };
    let mut default_description = None;
    let mut first_description = None;
    for (version, full, merged) in versions {
        let is_default = merged.marked_default
            || if by_version {
                Some(version.as_str()) == default_name
            } else {
                default_name.is_some() && merged.version_name.as_deref() == default_name
            };
        if !merged.description.is_empty() {
            first_description.get_or_insert_with(|| merged.description.clone());
            if is_default {
                default_description.get_or_insert_with(|| merged.description.clone());
            }
        }
        let (key, snapshot) = version_snapshot(version, full, merged, is_default, targets);
        package.insert_version(key, snapshot);
    }
    // Lmod takes the package's description from one of its modules; where
    // it wrote none, the default module's (or the first one's) stands in.
    package.row.description = if info.description.is_empty() {
        default_description
            .or(first_description)
            .unwrap_or_default()
    } else {
        info.description
    };
    Some(package)
}

/// The version a module name stands for: `full` without the package prefix,
/// else its last segment; `None` for a module named like its package.
fn version_of<'a>(package: &str, full: &'a str) -> Option<&'a str> {
    let version = match full
        .strip_prefix(package)
        .and_then(|rest| rest.strip_prefix('/'))
    {
        Some(rest) => Some(rest),
        None if full == package => None,
        None => full.rsplit_once('/').map(|(_, last)| last),
    };
    version.filter(|version| !version.is_empty())
}

/// The first URL in a `url` field that may list several with notes
/// (`https://www.r-project.org/, https://… (changelog)`), or none.
fn homepage(url: &str) -> String {
    url.split(|c: char| c == ',' || c.is_whitespace())
        .find(|token| token.contains("://"))
        .unwrap_or_default()
        .to_owned()
}

/// The copies of one module (one per parent chain or modulefile), as one.
struct Merged {
    /// Every distinct chain, shortest first, then in text order.
    chains: Vec<Vec<String>>,
    /// Every modulefile with its chains; the first is the primary one.
    modulefiles: Vec<(String, Vec<Vec<String>>)>,
    /// Whether the module name holds a version (else it is [`UNVERSIONED`]).
    versioned: bool,
    version_name: Option<String>,
    canonical_version: String,
    marked_default: bool,
    hidden: bool,
    description: String,
    help: String,
    family: Value,
    properties: Value,
    provides: Value,
}

/// Orders chains shortest first, then in text order.
fn chain_order(a: &[String], b: &[String]) -> std::cmp::Ordering {
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

/// The first of sorted chains: the one to load by.
fn best(chains: &[Vec<String>]) -> &[String] {
    chains.first().map(Vec::as_slice).unwrap_or_default()
}

/// Sorts and dedups chains; no chain at all is the top of the tree.
fn normalized(mut chains: Vec<Vec<String>>) -> Vec<Vec<String>> {
    if chains.is_empty() {
        chains.push(Vec::new());
    }
    chains.sort_by(|a, b| chain_order(a, b));
    chains.dedup();
    chains
}

/// Merges the copies of module `full`. Copies are ordered by their best
/// chain, then path; the first gives the path, texts and attributes
/// (another copy's where it has none). The module is the default if any
/// copy is marked so, and hidden only if every copy is.
fn merge_copies(full: &str, copies: Vec<LmodModule>) -> Merged {
    let mut copies: Vec<(Vec<Vec<String>>, LmodModule)> = copies
        .into_iter()
        .map(|mut copy| (normalized(std::mem::take(&mut copy.parent.0)), copy))
        .collect();
    copies.sort_by(|(a, copy_a), (b, copy_b)| {
        chain_order(best(a), best(b)).then_with(|| copy_a.path.cmp(&copy_b.path))
    });
    let hidden_name = full.split('/').any(|segment| segment.starts_with('.'));
    let mut merged = Merged {
        chains: Vec::new(),
        modulefiles: Vec::new(),
        versioned: true,
        version_name: None,
        canonical_version: String::new(),
        marked_default: false,
        hidden: hidden_name || copies.iter().all(|(_, copy)| copy.hidden),
        description: String::new(),
        help: String::new(),
        family: Value::Null,
        properties: Value::Null,
        provides: Value::Null,
    };
    for (chains, copy) in copies {
        merged.marked_default |= copy.marked_default;
        if merged.version_name.is_none() {
            merged.version_name = copy.version_name;
        }
        fill(&mut merged.canonical_version, copy.canonical_version_string);
        fill(&mut merged.description, copy.description);
        fill(&mut merged.help, copy.help);
        for (slot, value) in [
            (&mut merged.family, copy.family),
            (&mut merged.properties, copy.properties),
            (&mut merged.provides, copy.provides),
        ] {
            if slot.is_null() {
                *slot = value;
            }
        }
        merged.chains.extend(chains.iter().cloned());
        match merged
            .modulefiles
            .iter_mut()
            .find(|(path, _)| *path == copy.path)
        {
            Some((_, known)) => known.extend(chains),
            None => merged.modulefiles.push((copy.path, chains)),
        }
    }
    merged.chains = normalized(merged.chains);
    for (_, chains) in &mut merged.modulefiles {
        *chains = normalized(std::mem::take(chains));
    }
    merged
}

/// Sets `slot` to the trimmed `text` if `slot` is still empty.
fn fill(slot: &mut String, text: String) {
    if slot.is_empty() {
        let text = text.trim();
        if !text.is_empty() {
            *slot = text.to_owned();
        }
    }
}

/// One version with a target per CPU target, each at the primary modulefile.
fn version_snapshot(
    version: String,
    full: String,
    merged: Merged,
    is_default: bool,
    targets: &[CpuTarget],
) -> (VersionKey, VersionSnapshot) {
    let path = merged
        .modulefiles
        .first()
        .map(|(path, _)| path.clone())
        .unwrap_or_default();
    let targets = targets
        .iter()
        .map(|target| {
            (
                TargetKey {
                    target_type: "cpu_arch".into(),
                    target_name: target.to_string(),
                },
                TargetRow {
                    cpu_family: Some(target.family().to_owned()),
                    cpu_microarchitecture: Some(target.microarchitecture().to_owned()),
                    path: path.clone(),
                    metadata: json!({}),
                },
            )
        })
        .collect();
    let required_modules = merged.chains.first().cloned().unwrap_or_default();
    let modulefiles: Vec<Value> = merged
        .modulefiles
        .into_iter()
        .map(|(path, parents)| json!({ "path": path, "parents": parents }))
        .collect();
    let metadata = json!({
        "modulename": full,
        "path": path,
        "version_name": merged.version_name,
        "canonical_version": merged.canonical_version,
        "versioned": merged.versioned,
        "default": is_default,
        "marked_default": merged.marked_default,
        "hidden": merged.hidden,
        "description": merged.description,
        "help": merged.help,
        "parents": merged.chains,
        "modulefiles": modulefiles,
        "family": merged.family,
        "properties": merged.properties,
        "provides": merged.provides,
    });
    (
        VersionKey {
            version,
            modulename: full,
        },
        VersionSnapshot {
            row: VersionRow {
                required_modules,
                metadata,
                ..VersionRow::default()
            },
            targets,
        },
    )
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use super::*;
    use crate::config::FetchConfig;

    const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/data/lmod");
    const ZEN4: &str = "x86_64/amd/zen4";
    const NEOVERSE: &str = "aarch64/neoverse_v1";

    fn data(file: &str) -> String {
        format!("{DATA}/{file}")
    }

    fn json_of(file: &str) -> Value {
        serde_json::from_slice(&std::fs::read(data(file)).unwrap()).unwrap()
    }

    fn source(targets: &[&str]) -> LmodSource {
        LmodSource {
            data_url: "tree.json".into(),
            catalog_name: "Site".into(),
            catalog_version: None,
            cpu_targets: targets
                .iter()
                .map(|target| CpuTarget::parse(target).unwrap())
                .collect(),
        }
    }

    fn day() -> Dated {
        Dated {
            date: NaiveDate::from_ymd_opt(2022, 7, 27).unwrap(),
            source: DateSource::Loaded,
        }
    }

    fn documents(bytes: Vec<u8>) -> LmodDocuments {
        LmodDocuments {
            bytes,
            dated: day(),
        }
    }

    fn transform_with(source: &LmodSource, bytes: Vec<u8>) -> Transformed {
        let parsed = source.parse(&documents(bytes)).unwrap();
        source.transform(parsed, &SourceBounds::DEFAULT).unwrap()
    }

    fn load(file: &str) -> Transformed {
        transform_with(&source(&[ZEN4]), std::fs::read(data(file)).unwrap())
    }

    fn load_value(document: &Value) -> Transformed {
        transform_with(&source(&[ZEN4]), serde_json::to_vec(document).unwrap())
    }

    fn package<'a>(transformed: &'a Transformed, name: &str) -> &'a PackageSnapshot {
        let key = PackageKey {
            name: name.into(),
            is_extension: false,
        };
        transformed
            .snapshot
            .packages
            .get(&key)
            .unwrap_or_else(|| panic!("no package {name:?}"))
    }

    fn version<'a>(package: &'a PackageSnapshot, version: &str, full: &str) -> &'a VersionSnapshot {
        let key = VersionKey {
            version: version.into(),
            modulename: full.into(),
        };
        package
            .versions
            .get(&key)
            .unwrap_or_else(|| panic!("no version {key:?}"))
    }

    fn zen4(version: &VersionSnapshot) -> &TargetRow {
        &version.targets[&TargetKey {
            target_type: "cpu_arch".into(),
            target_name: ZEN4.into(),
        }]
    }

    fn entry_index(document: &Value, name: &str) -> usize {
        document
            .as_array()
            .unwrap()
            .iter()
            .position(|entry| entry["package"] == name)
            .unwrap()
    }

    #[test]
    fn a_wynton_package_keeps_each_module_with_its_version_and_modulefile() {
        let transformed = load("wynton-cbi_2022-07-27.json");
        assert_eq!(
            transformed.snapshot.key,
            CatalogKey::new("Site", "2022-07-27")
        );
        assert_eq!(
            transformed.snapshot.catalog_type,
            CatalogType::EnvironmentModule
        );
        let r = package(&transformed, "r");
        assert_eq!(r.versions.len(), 27);
        assert_eq!(r.row.homepage, "https://www.r-project.org/");
        assert_eq!(r.row.metadata["default_version"], "4.2.1-gcc10");
        assert!(r.row.description.starts_with("The R programming language."));
        // `r/4.1.0` displays as `4.1.0-gcc8`; its version comes from `full`.
        let plain = version(r, "4.1.0", "r/4.1.0");
        let gcc8 = version(r, "4.1.0-gcc8", "r/4.1.0-gcc8");
        assert_eq!(plain.row.metadata["version_name"], "4.1.0-gcc8");
        assert_eq!(
            zen4(plain).path,
            "/wynton/home/cbi/shared/modulefiles/CBI/r/4.1.0.lua"
        );
        assert_eq!(
            zen4(gcc8).path,
            "/wynton/home/cbi/shared/modulefiles/CBI/r/4.1.0-gcc8.lua"
        );
        assert_eq!(plain.row.metadata["path"], zen4(plain).path.as_str());
        assert_eq!(zen4(plain).cpu_family.as_deref(), Some("x86_64"));
        assert_eq!(
            zen4(plain).cpu_microarchitecture.as_deref(),
            Some("amd/zen4")
        );
        assert_eq!(plain.row.metadata["help"], "R: The R Programming Language");
        assert_eq!(
            plain.row.metadata["canonical_version"],
            "000000004.000000001.*zfinal"
        );
        assert!(plain.row.required_modules.is_empty());
        // Only the module whose version is `defaultVersionName` is the default,
        // not `r/4.2.1`, which displays the same name.
        let defaults: Vec<&str> = r
            .versions
            .iter()
            .filter(|(_, v)| v.row.metadata["default"] == true)
            .map(|(key, _)| key.modulename.as_str())
            .collect();
        assert_eq!(defaults, ["r/4.2.1-gcc10"]);
        assert_eq!(version(r, "4.2.1", "r/4.2.1").row.metadata["hidden"], false);

        let etc = load("wynton-etc_2022-05-05.json");
        let gatk = version(package(&etc, "gatk"), "4.1.0.0", "gatk/4.1.0.0");
        assert_eq!(gatk.row.required_modules, ["CBI"]);
        assert_eq!(
            zen4(gatk).path,
            "/wynton/home/cbi/shared/modulefiles/CBI/gatk/4.1.0.0.lua"
        );
        let testing = package(&etc, "CBI-testing");
        let testing = version(testing, UNVERSIONED, "CBI-testing");
        assert_eq!(testing.row.required_modules, ["CBI"]);
    }

    #[test]
    fn stallo_string_parents_become_required_modules() {
        let transformed = load("uit-stallo_old-format.json");
        let hdf5 = package(&transformed, "hdf5");
        assert_eq!(hdf5.row.categories, ["Development"]);
        assert_eq!(hdf5.row.metadata["keywords"], json!(["Library"]));
        assert_eq!(hdf5.row.metadata["display_name"], "HDF5");
        assert_eq!(hdf5.row.homepage, "http://www.hdfgroup.org/");
        // "default:intel-compiler/13.0" and "default:intel/13.0": two ways to
        // reach it; the first in order is the one to load by.
        let v = version(hdf5, "1.8.9", "hdf5/1.8.9");
        assert_eq!(v.row.required_modules, ["intel-compiler/13.0"]);
        assert_eq!(
            v.row.metadata["parents"],
            json!([["intel-compiler/13.0"], ["intel/13.0"]])
        );
        assert_eq!(
            zen4(v).path,
            "/opt/modulefiles/Compiler/intel/13.0/hdf5/1.8.9.lua"
        );
        // "default" alone is the top of the tree.
        let python = version(package(&transformed, "python"), "2.7.3", "python/2.7.3");
        assert!(python.row.required_modules.is_empty());
        assert_eq!(python.row.metadata["parents"], json!([[]]));
        assert_eq!(zen4(python).path, "Core/python/2.7.3.lua");
        // Comma-separated keywords; a default named by its display version.
        let impi = package(&transformed, "impi");
        assert_eq!(impi.row.metadata["keywords"], json!(["Library", "MPI"]));
        let impi = version(impi, "4.1.0", "impi/4.1.0");
        assert_eq!(impi.row.metadata["version_name"], "4.1.0.024");
        assert_eq!(impi.row.metadata["default"], true);
        assert_eq!(impi.row.metadata["marked_default"], false);
        // `netcdf/master` displays as 4.1.3, but `netcdf/4.1.3` is the default.
        let netcdf = package(&transformed, "netcdf");
        assert_eq!(
            version(netcdf, "4.1.3", "netcdf/4.1.3").row.metadata["default"],
            true
        );
        assert_eq!(
            version(netcdf, "master", "netcdf/master").row.metadata["default"],
            false
        );
    }

    #[test]
    fn salilab_copies_of_one_module_merge_with_all_their_parents() {
        let transformed = load("salilab-modules-py27_2022-07-27.json");
        // One copy at the top of the tree, one under gcc/10.2.1.
        let boost = package(&transformed, "boost");
        assert_eq!(boost.versions.len(), 2);
        let v = version(boost, "1.73.0", "boost/1.73.0");
        assert!(v.row.required_modules.is_empty());
        assert_eq!(v.row.metadata["parents"], json!([[], ["gcc/10.2.1"]]));
        assert_eq!(
            v.row.metadata["modulefiles"],
            json!([
                {"path": "/salilab/diva1/home/modules-py27/boost/1.73.0", "parents": [[]]},
                {"path": "/salilab/diva1/home/modules-gcc10/boost/1.73.0", "parents": [["gcc/10.2.1"]]},
            ])
        );
        assert_eq!(
            zen4(v).path,
            "/salilab/diva1/home/modules-py27/boost/1.73.0"
        );
        // The document lists the gcc10 copy first; the order does not matter.
        let protobuf = package(&transformed, "python3/protobuf");
        let v = version(protobuf, "3.11.2", "python3/protobuf/3.11.2");
        assert_eq!(v.row.metadata["parents"], json!([[], ["gcc/10.2.1"]]));
        assert_eq!(
            zen4(v).path,
            "/salilab/diva1/home/modules-py27/python3/protobuf/3.11.2"
        );
        // A nested chain of two: Sali, then gcc/10.2.1.
        let etc = load("wynton-etc_2022-05-05.json");
        let v = version(package(&etc, "boost"), "1.73.0", "boost/1.73.0");
        assert_eq!(v.row.required_modules, ["Sali"]);
        assert_eq!(
            v.row.metadata["parents"],
            json!([["Sali"], ["Sali", "gcc/10.2.1"]])
        );
        assert_eq!(zen4(v).path, "/salilab/diva1/home/modules/boost/1.73.0");
        // Two trees' hdf5/1.10.6 (Sali's and CBI's): one version, both files.
        let v = version(package(&etc, "hdf5"), "1.10.6", "hdf5/1.10.6");
        assert_eq!(v.row.metadata["parents"], json!([["CBI"], ["Sali"]]));
        assert_eq!(v.row.metadata["modulefiles"].as_array().unwrap().len(), 2);
        assert_eq!(
            zen4(v).path,
            "/wynton/home/cbi/shared/modulefiles/CBI/hdf5/1.10.6.lua"
        );
    }

    /// What the JSON holds, read without the source: module names by
    /// package, distinct (package, full, path) triples, and the packages
    /// that list no module.
    struct Reading {
        modules: BTreeMap<String, BTreeSet<String>>,
        modulefiles: BTreeSet<(String, String, String)>,
        without_modules: BTreeSet<String>,
        entries: usize,
    }

    fn read_independently(document: &Value) -> Reading {
        let mut reading = Reading {
            modules: BTreeMap::new(),
            modulefiles: BTreeSet::new(),
            without_modules: BTreeSet::new(),
            entries: 0,
        };
        for entry in document.as_array().unwrap() {
            let name = entry["package"].as_str().unwrap().to_owned();
            let modules: Vec<&Value> = match &entry["versions"] {
                Value::Array(modules) => modules.iter().collect(),
                Value::Object(modules) => modules.values().collect(),
                _ => Vec::new(),
            };
            if modules.is_empty() {
                reading.without_modules.insert(name.clone());
            }
            reading.entries += modules.len();
            for module in modules {
                let full = module["full"].as_str().unwrap().to_owned();
                let path = module["path"].as_str().unwrap_or_default().to_owned();
                reading
                    .modulefiles
                    .insert((name.clone(), full.clone(), path));
                reading
                    .modules
                    .entry(name.clone())
                    .or_default()
                    .insert(full);
            }
        }
        // A name listed once without modules and once with them has some.
        let with: BTreeSet<String> = reading.modules.keys().cloned().collect();
        reading.without_modules.retain(|name| !with.contains(name));
        reading
    }

    #[test]
    fn every_real_tree_loads_what_its_json_holds() {
        let known: BTreeMap<&str, (u64, u64)> = [
            ("salilab-modules-py27_2022-07-27.json", (122, 240)),
            ("uit-stallo_old-format.json", (13, 24)),
            ("wynton-cbi_2022-07-27.json", (83, 284)),
            ("wynton-etc_2022-05-05.json", (207, 541)),
            ("wynton-etc_2022-05-16.json", (7, 27)),
        ]
        .into_iter()
        .collect();
        let mut files: Vec<String> = std::fs::read_dir(DATA)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|name| name.ends_with(".json"))
            .collect();
        files.sort();
        assert!(files.len() >= known.len(), "{files:?}");
        let two = source(&[ZEN4, NEOVERSE]);
        for file in &files {
            let bytes = std::fs::read(data(file)).unwrap();
            let reading = read_independently(&serde_json::from_slice(&bytes).unwrap());
            let transformed = transform_with(&two, bytes);
            assert!(
                transformed.skipped.is_empty(),
                "{file}: {:?}",
                transformed.skipped
            );
            let size = transformed.snapshot.size();
            let versions: u64 = reading.modules.values().map(|m| m.len() as u64).sum();
            assert_eq!(size.packages, reading.modules.len() as u64, "{file}");
            assert_eq!(size.versions, versions, "{file}");
            assert_eq!(size.targets, 2 * versions, "{file}");
            if let Some(&(packages, versions)) = known.get(file.as_str()) {
                assert_eq!(
                    (size.packages, size.versions),
                    (packages, versions),
                    "{file}"
                );
            }
            let modulefiles: usize = transformed
                .snapshot
                .packages
                .values()
                .flat_map(|package| package.versions.values())
                .map(|v| v.row.metadata["modulefiles"].as_array().unwrap().len())
                .sum();
            assert_eq!(modulefiles, reading.modulefiles.len(), "{file}");
            assert_eq!(
                transformed.snapshot.metadata["modules"], reading.entries,
                "{file}"
            );
            assert_eq!(
                transformed.snapshot.metadata["packages_without_modules"],
                json!(reading.without_modules),
                "{file}"
            );
            for (name, fulls) in &reading.modules {
                let package = package(&transformed, name);
                let loaded: BTreeSet<&str> = package
                    .versions
                    .keys()
                    .map(|key| key.modulename.as_str())
                    .collect();
                assert_eq!(loaded, fulls.iter().map(String::as_str).collect(), "{file}");
                for v in package.versions.values() {
                    let names: Vec<&str> = v
                        .targets
                        .keys()
                        .map(|key| key.target_name.as_str())
                        .collect();
                    assert_eq!(names, [NEOVERSE, ZEN4], "{file}");
                }
            }
        }
    }

    #[test]
    fn package_names_with_a_slash_keep_it() {
        let file = "salilab-modules-py27_2022-07-27.json";
        let transformed = load(file);
        let in_json = json_of(file)
            .as_array()
            .unwrap()
            .iter()
            .filter(|entry| entry["package"].as_str().unwrap().contains('/'))
            .count();
        let loaded = transformed
            .snapshot
            .packages
            .keys()
            .filter(|key| key.name.contains('/'))
            .count();
        assert_eq!(loaded, in_json);
        assert_eq!(loaded, 71);
        let cycler = package(&transformed, "python2/cycler");
        let v = version(cycler, "0.10.0", "python2/cycler/0.10.0");
        assert_eq!(
            zen4(v).path,
            "/salilab/diva1/home/modules-py27/python2/cycler/0.10.0"
        );
        assert_eq!(v.row.metadata["default"], true);
    }

    #[test]
    fn a_module_without_a_version_is_marked_unversioned() {
        let transformed = load("salilab-modules-py27_2022-07-27.json");
        let mist = package(&transformed, "mist");
        assert_eq!(mist.versions.len(), 1);
        let v = version(mist, UNVERSIONED, "mist");
        assert_eq!(v.row.metadata["versioned"], false);
        assert_eq!(v.row.metadata["version_name"], Value::Null);
        assert_eq!(v.row.metadata["marked_default"], true);
        assert_eq!(v.row.metadata["default"], true);
        assert_eq!(zen4(v).path, "/salilab/diva1/home/modules-py27/mist");
        assert_eq!(mist.row.homepage, "https://github.com/salilab/mist/");
        let boost = version(package(&transformed, "boost"), "1.68.0", "boost/1.68.0");
        assert_eq!(boost.row.metadata["versioned"], true);
    }

    #[test]
    fn an_entry_of_the_wrong_shape_is_skipped_and_named_and_the_rest_loads() {
        let mut document = json_of("uit-stallo_old-format.json");
        let mpiexec = entry_index(&document, "mpiexec");
        let python = entry_index(&document, "python");
        let gcc = entry_index(&document, "gcc");
        document[mpiexec]["versions"] = json!(7);
        document[python]["versions"][0]["full"] = json!(5);
        document[gcc]["versions"][1]["parent"] = json!({"not": "a chain"});
        document.as_array_mut().unwrap().push(json!(42));
        let transformed = load_value(&document);
        let skipped: Vec<(Level, &str)> = transformed
            .skipped
            .iter()
            .map(|entry| (entry.level, entry.entry.as_str()))
            .collect();
        let mpiexec_entry = format!("package entry #{mpiexec} \"mpiexec\"");
        assert_eq!(
            skipped,
            [
                (Level::Package, mpiexec_entry.as_str()),
                (Level::Version, "package \"python\" module entry #0"),
                (
                    Level::Version,
                    "package \"gcc\" module entry #1 \"gcc/4.4.6\""
                ),
                (Level::Package, "package entry #13"),
            ]
        );
        assert!(transformed.skipped[0].reason.contains("invalid type"));
        let size = transformed.snapshot.size();
        assert_eq!(size.packages, 12);
        assert_eq!(size.versions, 24 - 2 - 1 - 1);
        let python = package(&transformed, "python");
        assert_eq!(python.versions.len(), 3);
        assert!(!python.versions.keys().any(|key| key.version == "3.3.0"));
        assert_eq!(package(&transformed, "gcc").versions.len(), 1);

        let source = source(&[ZEN4]);
        assert!(matches!(
            source.parse(&documents(br#"{"package": "gcc"}"#.to_vec())),
            Err(SourceError::Parse { .. })
        ));
    }

    #[test]
    fn hidden_modules_are_kept_and_marked() {
        let mut document = json_of("uit-stallo_old-format.json");
        let python = entry_index(&document, "python");
        let versions = &mut document[python]["versions"];
        versions[1]["hidden"] = json!(true);
        versions[2]["full"] = json!("python/.2.7.2");
        // A copy of 2.6.2 that is hidden: the visible copy keeps it visible.
        let mut copy = versions[3].clone();
        copy["hidden"] = json!(true);
        copy["path"] = json!("Hidden/python/2.6.2.lua");
        versions.as_array_mut().unwrap().push(copy);
        let transformed = load_value(&document);
        let python = package(&transformed, "python");
        assert_eq!(python.versions.len(), 4);
        let hidden = |version: &str, full: &str| {
            self::version(python, version, full).row.metadata["hidden"].clone()
        };
        assert_eq!(hidden("2.7.3", "python/2.7.3"), true);
        assert_eq!(hidden(".2.7.2", "python/.2.7.2"), true);
        assert_eq!(hidden("2.6.2", "python/2.6.2"), false);
        assert_eq!(hidden("3.3.0", "python/3.3.0"), false);
    }

    #[test]
    fn names_compare_case_sensitively_and_a_repeated_name_merges() {
        let mut document = json_of("uit-stallo_old-format.json");
        let gcc = entry_index(&document, "gcc");
        let mut upper = document[gcc].clone();
        upper["package"] = json!("GCC");
        upper["versions"] = json!([{"full": "GCC/4.7.2", "path": "Core/GCC/4.7.2.lua"}]);
        let mut again = document[gcc].clone();
        again["description"] = json!("another description");
        again["versions"] = json!({"1": {"full": "gcc/9.1.0", "path": "Core/gcc/9.1.0.lua"}});
        let entries = document.as_array_mut().unwrap();
        entries.push(upper);
        entries.push(again);
        let transformed = load_value(&document);
        let gcc = package(&transformed, "gcc");
        assert_eq!(gcc.versions.len(), 3);
        assert_eq!(
            zen4(version(gcc, "9.1.0", "gcc/9.1.0")).path,
            "Core/gcc/9.1.0.lua"
        );
        assert_ne!(gcc.row.description, "another description");
        let upper = package(&transformed, "GCC");
        assert_eq!(upper.versions.len(), 1);
        assert_eq!(transformed.snapshot.size().packages, 14);
    }

    #[test]
    fn categories_and_keywords_are_lists_or_comma_separated() {
        let mut document = json_of("uit-stallo_old-format.json");
        let java = entry_index(&document, "java");
        document[java]["categories"] = json!(["Development", " Tools "]);
        document[java]["keywords"] = json!("Library, ,JVM");
        let transformed = load_value(&document);
        let java = package(&transformed, "java");
        assert_eq!(java.row.categories, ["Development", "Tools"]);
        assert_eq!(java.row.metadata["keywords"], json!(["Library", "JVM"]));
    }

    #[test]
    fn versions_urls_and_chain_strings_are_read_as_lmod_writes_them() {
        assert_eq!(version_of("r", "r/4.1.0-gcc8"), Some("4.1.0-gcc8"));
        assert_eq!(
            version_of("python2/scipy", "python2/scipy/0.19.1"),
            Some("0.19.1")
        );
        assert_eq!(version_of("python2/scipy", "python2/scipy"), None);
        // A `full` that does not start with its package: its last segment.
        assert_eq!(version_of("Foo", "foo/1.0"), Some("1.0"));
        assert_eq!(version_of("foo", "foo/"), None);
        assert_eq!(
            homepage("https://cmake.org/, https://x.org/notes (changelog) https://y.org"),
            "https://cmake.org/"
        );
        assert_eq!(
            homepage("https://www.boost.org/ "),
            "https://www.boost.org/"
        );
        assert_eq!(homepage("..."), "");
        assert_eq!(
            joined_chain("default:intel/13.0:openmpi/1.6"),
            ["intel/13.0", "openmpi/1.6"]
        );
        assert!(joined_chain("default").is_empty());
        assert_eq!(joined_chain("gcc/10.2.1"), ["gcc/10.2.1"]);
        let one: Parents = serde_json::from_str(r#""default:gcc/4.7.2""#).unwrap();
        assert_eq!(one.0, [["gcc/4.7.2"]]);
        assert!(serde_json::from_str::<Parents>("[[1]]").is_err());
    }

    #[test]
    fn cpu_targets_default_to_the_generic_target_of_the_machine_family() {
        assert_eq!(family_of("x86_64", true), "x86_64");
        assert_eq!(family_of("aarch64", true), "aarch64");
        assert_eq!(family_of("riscv64", true), "riscv64");
        assert_eq!(family_of("powerpc64", true), "ppc64le");
        assert_eq!(family_of("powerpc64", false), "ppc64");
        let machine = machine_cpu_target().unwrap();
        assert_eq!(machine.microarchitecture(), "generic");
        assert_eq!(machine.to_string(), machine_target_name());

        let bytes = std::fs::read(data("wynton-etc_2022-05-16.json")).unwrap();
        let transformed = transform_with(&source(&[]), bytes.clone());
        let targets: BTreeSet<&str> = transformed
            .snapshot
            .packages
            .values()
            .flat_map(|package| package.versions.values())
            .flat_map(|v| v.targets.keys())
            .map(|key| key.target_name.as_str())
            .collect();
        let machine = machine_target_name();
        assert_eq!(targets, BTreeSet::from([machine.as_str()]));
        assert_eq!(
            transformed.snapshot.metadata["cpu_targets"],
            json!([machine])
        );
        // A target named twice is one target.
        let twice = transform_with(&source(&[ZEN4, ZEN4]), bytes);
        assert_eq!(
            twice.snapshot.size().targets,
            twice.snapshot.size().versions
        );
    }

    #[test]
    fn the_catalog_version_is_the_option_or_the_document_date() {
        let mut explicit = source(&[ZEN4]);
        explicit.catalog_version = Some("2024.1".into());
        let bytes = std::fs::read(data("wynton-etc_2022-05-16.json")).unwrap();
        let parsed = explicit.parse(&documents(bytes.clone())).unwrap();
        assert_eq!(explicit.versions(&parsed), ["2024.1"]);
        let transformed = explicit.transform(parsed, &SourceBounds::DEFAULT).unwrap();
        assert_eq!(transformed.snapshot.key.version, "2024.1");
        assert_eq!(transformed.snapshot.metadata["date"], "2022-07-27");

        let dated = source(&[ZEN4]);
        let parsed = dated.parse(&documents(bytes)).unwrap();
        assert_eq!(dated.versions(&parsed), ["2022-07-27"]);
    }

    #[tokio::test]
    async fn a_local_tree_is_dated_by_its_modification_time() {
        let dir = std::env::temp_dir().join(format!("softcat-lmod-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("tree.json");
        std::fs::copy(data("wynton-etc_2022-05-16.json"), &file).unwrap();
        let modified = NaiveDate::from_ymd_opt(2022, 5, 16)
            .unwrap()
            .and_hms_opt(12, 0, 0)
            .unwrap()
            .and_utc();
        std::fs::File::options()
            .write(true)
            .open(&file)
            .unwrap()
            .set_modified(modified.into())
            .unwrap();
        let mut source = source(&[ZEN4]);
        source.data_url = file.to_string_lossy().into_owned();
        let fetcher = Fetcher::new(&FetchConfig::default()).unwrap();
        let documents = source.fetch(&fetcher).await.unwrap();
        assert_eq!(documents.dated.source, DateSource::Modified);
        let parsed = source.parse(&documents).unwrap();
        assert_eq!(source.versions(&parsed), ["2022-05-16"]);
        let transformed = source.transform(parsed, &SourceBounds::DEFAULT).unwrap();
        assert_eq!(transformed.snapshot.key.version, "2022-05-16");
        assert_eq!(
            transformed.snapshot.metadata["date_source"],
            "last modified"
        );
        std::fs::remove_dir_all(dir).unwrap();

        // A location that tells no date: the load's day stands in.
        let before = Utc::now().date_naive();
        let dated = document_date(None);
        assert_eq!(dated.source, DateSource::Loaded);
        assert!(dated.date >= before && dated.date <= Utc::now().date_naive());
    }

    #[test]
    fn the_fingerprint_follows_the_document_and_every_option() {
        let bytes = std::fs::read(data("wynton-etc_2022-05-16.json")).unwrap();
        let base = source(&[ZEN4, NEOVERSE]);
        let fingerprint = |source: &LmodSource, bytes: &[u8]| {
            source.source_fingerprint(&documents(bytes.to_vec()))
        };
        let reference = fingerprint(&base, &bytes);
        assert_eq!(reference, fingerprint(&base, &bytes));
        // Order and repeats of targets do not shape the snapshot.
        assert_eq!(
            reference,
            fingerprint(&source(&[NEOVERSE, ZEN4, ZEN4]), &bytes)
        );
        // The document date does not either: an unchanged tree is not reloaded.
        let mut later = documents(bytes.clone());
        later.dated.date = NaiveDate::from_ymd_opt(2030, 1, 1).unwrap();
        assert_eq!(reference, base.source_fingerprint(&later));

        let mut changed = bytes.clone();
        changed.push(b'\n');
        assert_ne!(reference, fingerprint(&base, &changed));
        assert_ne!(reference, fingerprint(&source(&[ZEN4]), &bytes));
        let mut named = base.clone();
        named.catalog_name = "Other".into();
        assert_ne!(reference, fingerprint(&named, &bytes));
        let mut versioned = base.clone();
        versioned.catalog_version = Some(String::new());
        assert_ne!(reference, fingerprint(&versioned, &bytes));
        versioned.catalog_version = Some("2022-05-16".into());
        let pinned = fingerprint(&versioned, &bytes);
        assert_ne!(reference, pinned);
        versioned.catalog_version = Some("2022-05-17".into());
        assert_ne!(pinned, fingerprint(&versioned, &bytes));
    }
}
