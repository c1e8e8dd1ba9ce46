//! EESSI's API data: a software document and one extensions document per kind
//! (`eessi_api_metadata_ext-python.json` …) under a base URL.
//!
//! Each EESSI stack version (`2023.06`, `2025.06`) is its own catalog; an
//! installation belongs to the stack its `EESSI/<ver>` module names. A version
//! is identified by its version string and its module (GROMACS 2026.2 with and
//! without CUDA are two versions). Each `cpu_arch` becomes a target with its
//! CVMFS path. Extensions are packages marked as such, one version per parent
//! installation that includes them, linked to that installation.
//!
//! Two shapes of the API are read: the newer one (`module: {full_module_name}`,
//! `required_modules: [{full_module_name}]`, extensions listed per version)
//! and the older/seed one (`modulename`, `required_modules: ["Name/ver"]`,
//! extensions only in the extension documents with `parent_software`).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::Deserialize;
use serde_json::{Value, json};

use super::registry::{
    CatalogNaming, OptionKind, OptionValue, RegisteredSource, SourceDefinition, SourceOption,
    any_value, load_registered, versions_registered,
};
use super::{
    CatalogSource, DUPLICATE_KEY, Lenient, SourceError, UniqueMap, fingerprint_parts, nullable,
    parse_document,
};
use crate::catalog::{CatalogKey, CatalogKind, CatalogType, CpuTarget};
use crate::fetch::{Fetcher, join_location};
use crate::loader::{InvalidLoadRequest, LoadRequest, SourceBounds};
use crate::snapshot::{
    CatalogSnapshot, Level, PackageKey, PackageRow, PackageSnapshot, SkippedEntry, TargetKey,
    TargetRow, Transformed, VersionKey, VersionRow, VersionSnapshot, insert_package,
};
use crate::version_order::compare_versions;

/// The software document under the API base URL.
pub const SOFTWARE_DOCUMENT: &str = "eessi_api_metadata_software.json";
/// Extension kinds the API publishes, one document each; a kind whose
/// document is absent has no extensions.
pub const EXTENSION_KINDS: [&str; 6] = ["python", "r", "perl", "ruby", "octave", "component"];
/// Where EESSI stacks live on CVMFS.
const CVMFS_ROOT: &str = "/cvmfs/software.eessi.io/versions";

/// The extensions document of one kind.
pub fn extension_document(kind: &str) -> String {
    format!("eessi_api_metadata_ext-{kind}.json")
}

/// EESSI in the registry of sources.
pub static DEFINITION: SourceDefinition = SourceDefinition {
    id: "eessi",
    summary: "Load one EESSI stack version from the EESSI API data",
    catalog_type: CatalogType::BinaryRuntime,
    url_key: "api_url",
    url_help: "Base URL or directory of the EESSI API documents",
    default_url: "https://www.eessi.io/api_data/data/",
    naming: CatalogNaming::Default("EESSI"),
    version_help: "the EESSI stack version: the newest by default, `all` for every stack the \
                   source has",
    default_update_enabled: true,
    holds_several_versions: true,
    options: &[SourceOption {
        name: "include_extensions",
        flag: "extensions",
        help: "Load Python/R/Perl… extensions as packages",
        kind: OptionKind::Flag,
        default: || OptionValue::Flag(true),
        check: any_value,
    }],
    load: load_registered::<EessiSource>,
    offered_versions: versions_registered::<EessiSource>,
};

/// The kind of EESSI catalogs.
pub const KIND: CatalogKind = CatalogKind::of(&DEFINITION);

/// Loads one EESSI stack version as a catalog.
#[derive(Debug, Clone)]
pub struct EessiSource {
    /// Base URL or directory of the API documents.
    pub api_url: String,
    /// Catalog name (`EESSI`).
    pub catalog_name: String,
    /// Stack version to load; the newest in `architectures_map` when `None`.
    pub catalog_version: Option<String>,
    /// Whether extensions are loaded.
    pub include_extensions: bool,
}

/// The fetched documents: software, and the extension documents that exist.
#[derive(Debug)]
pub struct EessiDocuments {
    software: Vec<u8>,
    extensions: Vec<(String, Vec<u8>)>,
}

/// The parsed documents.
#[derive(Debug)]
pub struct EessiParsed {
    software: EessiDocument,
    extensions: Vec<(String, EessiDocument)>,
}

/// The shape shared by the software and extension documents.
#[derive(Debug, Deserialize)]
pub struct EessiDocument {
    #[serde(default, deserialize_with = "nullable")]
    timestamp: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    architectures_map: BTreeMap<String, Value>,
    software: UniqueMap<Lenient<Software>>,
}

#[derive(Debug, Deserialize)]
struct Software {
    #[serde(default, deserialize_with = "nullable")]
    description: String,
    #[serde(default, deserialize_with = "nullable")]
    homepage: String,
    #[serde(default, deserialize_with = "nullable")]
    license: Value,
    #[serde(default, deserialize_with = "nullable")]
    categories: Value,
    #[serde(default, deserialize_with = "nullable")]
    versions: Vec<Lenient<Installation>>,
}

#[derive(Debug, Clone, Deserialize)]
struct Installation {
    version: String,
    #[serde(default, deserialize_with = "nullable")]
    versionsuffix: String,
    #[serde(default, deserialize_with = "nullable")]
    toolchain: Option<Toolchain>,
    #[serde(default, deserialize_with = "nullable")]
    toolchain_families_compatibility: Vec<String>,
    #[serde(default, deserialize_with = "nullable")]
    module: Option<ModuleRef>,
    #[serde(default, deserialize_with = "nullable")]
    modulename: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    required_modules: Vec<ModuleRef>,
    #[serde(default, deserialize_with = "nullable")]
    cpu_arch: Vec<String>,
    #[serde(default, deserialize_with = "nullable")]
    gpu_arch: BTreeMap<String, Vec<String>>,
    #[serde(default, deserialize_with = "nullable")]
    extensions: Vec<ExtensionRef>,
    #[serde(default, deserialize_with = "nullable")]
    parent_software: Option<ParentSoftware>,
}

#[derive(Debug, Clone, Deserialize)]
struct Toolchain {
    #[serde(default, deserialize_with = "nullable")]
    name: String,
    #[serde(default, deserialize_with = "nullable")]
    version: String,
}

/// A module as either shape writes it: `"Name/ver"` or `{full_module_name}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum ModuleRef {
    Name(String),
    Object { full_module_name: String },
}

impl ModuleRef {
    fn full_name(&self) -> &str {
        match self {
            Self::Name(name)
            | Self::Object {
                full_module_name: name,
            } => name,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
struct ExtensionRef {
    #[serde(default, rename = "type", deserialize_with = "nullable")]
    kind: Option<String>,
    name: String,
    version: String,
}

#[derive(Debug, Clone, Deserialize)]
struct ParentSoftware {
    name: String,
    version: String,
    #[serde(default, deserialize_with = "nullable")]
    versionsuffix: String,
}

impl Installation {
    fn module_name(&self) -> Option<&str> {
        self.module
            .as_ref()
            .map(ModuleRef::full_name)
            .or(self.modulename.as_deref())
            .filter(|name| !name.trim().is_empty())
    }

    /// The stack version named by an `EESSI/<ver>` required module.
    fn stack(&self) -> Option<&str> {
        self.required_modules
            .iter()
            .find_map(|module| module.full_name().strip_prefix("EESSI/"))
    }
}

impl CatalogSource for EessiSource {
    type Documents = EessiDocuments;
    type Parsed = EessiParsed;

    fn location(&self) -> &str {
        &self.api_url
    }

    fn catalog_name(&self) -> &str {
        &self.catalog_name
    }

    fn source_fingerprint(&self, documents: &EessiDocuments) -> i64 {
        let version = self.catalog_version.as_deref().unwrap_or_default();
        let extensions: &[u8] = if self.include_extensions { b"1" } else { b"0" };
        let mut parts = vec![
            version.as_bytes(),
            extensions,
            documents.software.as_slice(),
        ];
        for (kind, bytes) in &documents.extensions {
            parts.push(kind.as_bytes());
            parts.push(bytes.as_slice());
        }
        fingerprint_parts(parts)
    }

    async fn fetch(&self, fetcher: &Fetcher) -> Result<EessiDocuments, SourceError> {
        let software = fetcher
            .fetch(&join_location(&self.api_url, SOFTWARE_DOCUMENT))
            .await?;
        let mut extensions = Vec::new();
        if self.include_extensions {
            for kind in EXTENSION_KINDS {
                let location = join_location(&self.api_url, &extension_document(kind));
                if let Some(bytes) = fetcher.fetch_optional(&location).await? {
                    extensions.push((kind.to_owned(), bytes));
                }
            }
        }
        Ok(EessiDocuments {
            software,
            extensions,
        })
    }

    fn parse(&self, documents: &EessiDocuments) -> Result<EessiParsed, SourceError> {
        let software = parse_document(SOFTWARE_DOCUMENT, &documents.software)?;
        let extensions = documents
            .extensions
            .iter()
            .map(|(kind, bytes)| {
                Ok((
                    kind.clone(),
                    parse_document(&extension_document(kind), bytes)?,
                ))
            })
            .collect::<Result<_, SourceError>>()?;
        Ok(EessiParsed {
            software,
            extensions,
        })
    }

    fn versions(&self, parsed: &EessiParsed) -> Vec<String> {
        let mut stacks: Vec<&str> = stacks(&parsed.software).into_iter().collect();
        stacks.sort_by(|a, b| compare_versions(a, b));
        stacks.into_iter().map(str::to_owned).collect()
    }

    fn transform(
        &self,
        parsed: EessiParsed,
        bounds: &SourceBounds,
    ) -> Result<Transformed, SourceError> {
        let stack = self.select_stack(&parsed.software)?;
        let known_stacks = &parsed.software.architectures_map;
        let default_stack = (known_stacks.len() == 1)
            .then(|| known_stacks.keys().next().cloned())
            .flatten();
        let mut build = Build::new(&stack, default_stack);
        build.add_software(parsed.software.software, bounds);
        if self.include_extensions {
            for (kind, document) in parsed.extensions {
                build.add_extension_document(&kind, document.software, bounds);
            }
            build.add_extensions();
        }
        let architectures: Vec<&String> = parsed
            .software
            .architectures_map
            .get(&stack)
            .and_then(Value::as_object)
            .map(|map| map.keys().collect())
            .unwrap_or_default();
        let snapshot = CatalogSnapshot {
            key: CatalogKey::new(&self.catalog_name, &stack),
            kind: KIND,
            catalog_type: DEFINITION.catalog_type,
            source_url: self.api_url.clone(),
            description: format!("EESSI software stack {stack}"),
            metadata: json!({
                "timestamp": parsed.software.timestamp,
                "cpu_architectures": architectures,
                "extensions_included": self.include_extensions,
            }),
            packages: build.packages,
            extensions_excluded: !self.include_extensions,
        };
        Ok(Transformed {
            snapshot,
            skipped: build.skipped,
        })
    }
}

impl RegisteredSource for EessiSource {
    fn from_request(request: &LoadRequest) -> Result<Self, InvalidLoadRequest> {
        Ok(Self {
            api_url: request.url.clone(),
            catalog_name: request.catalog_name.clone(),
            catalog_version: request.catalog_version.clone(),
            include_extensions: request.option("include_extensions").flag(),
        })
    }

    /// Every stack the software document lists; the extension documents
    /// are not needed for that.
    fn for_listing(self) -> Self {
        Self {
            catalog_version: None,
            include_extensions: false,
            ..self
        }
    }
}

impl EessiSource {
    /// The requested stack, or the newest one the document knows.
    fn select_stack(&self, document: &EessiDocument) -> Result<String, SourceError> {
        let stacks = stacks(document);
        match &self.catalog_version {
            Some(version) if stacks.contains(version.as_str()) => Ok(version.clone()),
            Some(version) => Err(SourceError::Invalid(format!(
                "EESSI version {version} is not in the source (it has: {})",
                stacks.into_iter().collect::<Vec<_>>().join(", ")
            ))),
            None => stacks
                .into_iter()
                .max_by(|a, b| compare_versions(a, b))
                .map(str::to_owned)
                .ok_or_else(|| SourceError::Invalid("the source names no EESSI version".into())),
        }
    }
}

/// The stack versions a software document holds: the keys of its
/// `architectures_map`, or, in documents without one, the stacks its
/// installations require.
fn stacks(document: &EessiDocument) -> BTreeSet<&str> {
    let stacks: BTreeSet<&str> = document
        .architectures_map
        .keys()
        .map(String::as_str)
        .collect();
    if !stacks.is_empty() {
        return stacks;
    }
    document
        .software
        .entries
        .values()
        .filter_map(|software| software.0.as_ref().ok())
        .flat_map(|software| &software.versions)
        .filter_map(|installation| installation.0.as_ref().ok()?.stack())
        .collect()
}

/// A main installation that extensions can hang from.
struct Parent {
    package: String,
    version: VersionKey,
    row: VersionRow,
    targets: BTreeMap<TargetKey, TargetRow>,
}

/// What is known of one extension installation before it is built.
struct ExtensionInstall {
    kind: String,
    description: String,
    homepage: String,
}

/// The catalog being assembled for one stack.
struct Build<'a> {
    stack: &'a str,
    packages: BTreeMap<PackageKey, PackageSnapshot>,
    skipped: Vec<SkippedEntry>,
    /// The stack of installations that name none (seed documents of one stack).
    default_stack: Option<String>,
    /// Main installations of this stack by module name.
    parents: HashMap<String, Parent>,
    /// Module names of this stack's installations by (name, version, suffix).
    parents_by_release: HashMap<(String, String, String), Vec<String>>,
    /// The stack of every main installation of every stack, by module name.
    stack_of_module: HashMap<String, String>,
    /// Extension installations by (name, version, parent module).
    extensions: BTreeMap<(String, String, String), ExtensionInstall>,
    /// Package-level description and homepage of extensions, by name.
    extension_packages: HashMap<String, (String, String)>,
}

impl<'a> Build<'a> {
    fn new(stack: &'a str, default_stack: Option<String>) -> Self {
        Self {
            stack,
            packages: BTreeMap::new(),
            skipped: Vec::new(),
            default_stack,
            parents: HashMap::new(),
            parents_by_release: HashMap::new(),
            stack_of_module: HashMap::new(),
            extensions: BTreeMap::new(),
            extension_packages: HashMap::new(),
        }
    }

    fn skip(&mut self, level: Level, entry: String, reason: impl Into<String>) {
        self.skipped.push(SkippedEntry {
            level,
            entry,
            reason: reason.into(),
        });
    }

    /// The stack an installation belongs to: its `EESSI/<ver>` module, or the
    /// document's only stack for seed documents that name none.
    fn installation_stack(&self, installation: &Installation) -> Option<String> {
        installation
            .stack()
            .map(str::to_owned)
            .or_else(|| self.default_stack.clone())
    }

    fn add_software(&mut self, software: UniqueMap<Lenient<Software>>, bounds: &SourceBounds) {
        for name in software.duplicates {
            self.skip(Level::Package, format!("software {name:?}"), DUPLICATE_KEY);
        }
        for (name, entry) in software.entries {
            let software = match entry.0 {
                Ok(software) => software,
                Err(reason) => {
                    self.skip(Level::Package, format!("software {name:?}"), reason);
                    continue;
                }
            };
            let mut package = PackageSnapshot {
                row: PackageRow {
                    description: software.description.trim().to_owned(),
                    homepage: software.homepage.trim().to_owned(),
                    categories: strings(&software.categories),
                    licenses: strings(&software.license),
                    maintainers: Vec::new(),
                    metadata: json!({}),
                },
                versions: BTreeMap::new(),
            };
            let mut installations = Vec::new();
            for (index, entry) in software.versions.into_iter().enumerate() {
                let entry_name = || format!("software {name:?} installation #{index}");
                let installation = match entry.0 {
                    Ok(installation) => installation,
                    Err(reason) => {
                        self.skip(Level::Version, entry_name(), reason);
                        continue;
                    }
                };
                let Some(module) = installation.module_name().map(str::to_owned) else {
                    self.skip(Level::Version, entry_name(), "no module name");
                    continue;
                };
                let Some(stack) = self.installation_stack(&installation) else {
                    self.skip(
                        Level::Version,
                        entry_name(),
                        "no EESSI/<version> among required_modules",
                    );
                    continue;
                };
                self.stack_of_module.insert(module.clone(), stack.clone());
                if stack == self.stack {
                    installations.push((installation, module));
                }
            }
            self.skipped.extend(bounds.keep_newest_versions(
                &name,
                &mut installations,
                |(installation, _)| Some(&installation.version),
            ));
            for (installation, module) in installations {
                let version = self.installation_version(&name, &module, &installation);
                for extension in &installation.extensions {
                    self.extensions
                        .entry((
                            extension.name.clone(),
                            extension.version.clone(),
                            module.clone(),
                        ))
                        .or_insert_with(|| ExtensionInstall {
                            kind: extension.kind.clone().unwrap_or_else(|| "python".into()),
                            description: String::new(),
                            homepage: String::new(),
                        });
                }
                let key = VersionKey {
                    version: installation.version.clone(),
                    modulename: module.clone(),
                };
                self.parents_by_release
                    .entry((
                        name.clone(),
                        installation.version,
                        installation.versionsuffix,
                    ))
                    .or_default()
                    .push(module.clone());
                self.parents.insert(
                    module,
                    Parent {
                        package: name.clone(),
                        version: key.clone(),
                        row: version.row.clone(),
                        targets: version.targets.clone(),
                    },
                );
                package.insert_version(key, version);
            }
            if !package.versions.is_empty() {
                let key = PackageKey {
                    name,
                    is_extension: false,
                };
                insert_package(&mut self.packages, key, package);
            }
        }
    }

    /// A main installation as a version with one target per CPU architecture.
    fn installation_version(
        &mut self,
        name: &str,
        module: &str,
        installation: &Installation,
    ) -> VersionSnapshot {
        let mut targets = BTreeMap::new();
        for arch in &installation.cpu_arch {
            let target = match CpuTarget::parse(arch) {
                Ok(target) => target,
                Err(error) => {
                    self.skip(
                        Level::Target,
                        format!("software {name:?} module {module:?} cpu_arch {arch:?}"),
                        error.to_string(),
                    );
                    continue;
                }
            };
            let mut metadata = serde_json::Map::new();
            if let Some(gpus) = installation.gpu_arch.get(arch) {
                metadata.insert("gpu_arch".into(), json!(gpus));
            }
            targets.insert(
                TargetKey {
                    target_type: "cpu_arch".into(),
                    target_name: target.to_string(),
                },
                TargetRow {
                    cpu_family: Some(target.family().to_owned()),
                    cpu_microarchitecture: Some(target.microarchitecture().to_owned()),
                    path: format!("{CVMFS_ROOT}/{}/software/linux/{target}", self.stack),
                    metadata: Value::Object(metadata),
                },
            );
        }
        let toolchain = installation.toolchain.clone();
        VersionSnapshot {
            row: VersionRow {
                release_date: None,
                toolchain_name: toolchain
                    .as_ref()
                    .map(|t| t.name.clone())
                    .unwrap_or_default(),
                toolchain_version: toolchain.map(|t| t.version).unwrap_or_default(),
                toolchain_families_compatibility: installation
                    .toolchain_families_compatibility
                    .clone(),
                required_modules: installation
                    .required_modules
                    .iter()
                    .map(|module| module.full_name().to_owned())
                    .collect(),
                metadata: json!({
                    "versionsuffix": installation.versionsuffix,
                    "eessi_version": self.stack,
                }),
            },
            targets,
        }
    }

    /// Records the extension installations of one extension document that
    /// belong to this stack; their parents must be main installations.
    fn add_extension_document(
        &mut self,
        kind: &str,
        software: UniqueMap<Lenient<Software>>,
        bounds: &SourceBounds,
    ) {
        for name in software.duplicates {
            self.skip(
                Level::Package,
                format!("{kind} extension {name:?}"),
                DUPLICATE_KEY,
            );
        }
        for (name, entry) in software.entries {
            let software = match entry.0 {
                Ok(software) => software,
                Err(reason) => {
                    self.skip(Level::Package, format!("{kind} extension {name:?}"), reason);
                    continue;
                }
            };
            let mut installations = Vec::new();
            for (index, entry) in software.versions.into_iter().enumerate() {
                let entry_name = || format!("{kind} extension {name:?} installation #{index}");
                let installation = match entry.0 {
                    Ok(installation) => installation,
                    Err(reason) => {
                        self.skip(Level::Version, entry_name(), reason);
                        continue;
                    }
                };
                let parents = match self.extension_parents(&installation) {
                    Ok(parents) => parents,
                    Err(ParentMissing::ElsewhereStack) => continue,
                    Err(ParentMissing::Unknown(reason)) => {
                        self.skip(Level::Version, entry_name(), reason);
                        continue;
                    }
                };
                installations.push((installation, parents));
            }
            self.skipped.extend(bounds.keep_newest_versions(
                &name,
                &mut installations,
                |(installation, _)| Some(&installation.version),
            ));
            let used = !installations.is_empty();
            for (installation, parents) in installations {
                for parent in parents {
                    let install = self
                        .extensions
                        .entry((name.clone(), installation.version.clone(), parent))
                        .or_insert_with(|| ExtensionInstall {
                            kind: kind.to_owned(),
                            description: String::new(),
                            homepage: String::new(),
                        });
                    install.kind = kind.to_owned();
                    install.description = software.description.trim().to_owned();
                    install.homepage = software.homepage.trim().to_owned();
                }
            }
            if used {
                self.extension_packages.entry(name).or_insert_with(|| {
                    (
                        software.description.trim().to_owned(),
                        software.homepage.trim().to_owned(),
                    )
                });
            }
        }
    }

    /// The module names of the parent installations in this stack.
    fn extension_parents(&self, installation: &Installation) -> Result<Vec<String>, ParentMissing> {
        if let Some(module) = installation.module_name() {
            if self.parents.contains_key(module) {
                return Ok(vec![module.to_owned()]);
            }
            if self
                .stack_of_module
                .get(module)
                .is_some_and(|stack| stack != self.stack)
            {
                return Err(ParentMissing::ElsewhereStack);
            }
        }
        if installation
            .stack()
            .is_some_and(|stack| stack != self.stack)
        {
            return Err(ParentMissing::ElsewhereStack);
        }
        let Some(parent) = &installation.parent_software else {
            return Err(ParentMissing::Unknown(
                "no parent_software and no known parent module".into(),
            ));
        };
        let release = (
            parent.name.clone(),
            parent.version.clone(),
            parent.versionsuffix.clone(),
        );
        match self.parents_by_release.get(&release) {
            Some(modules) => Ok(modules.clone()),
            None => Err(ParentMissing::Unknown(format!(
                "parent software {} {}{} is not in EESSI {}",
                parent.name, parent.version, parent.versionsuffix, self.stack
            ))),
        }
    }

    /// Builds extension packages from the recorded extension installations:
    /// one version per parent installation, with the parent's targets.
    fn add_extensions(&mut self) {
        let extensions = std::mem::take(&mut self.extensions);
        for ((name, version, parent_module), install) in extensions {
            let Some(parent) = self.parents.get(&parent_module) else {
                continue;
            };
            let (description, homepage) = self
                .extension_packages
                .get(&name)
                .cloned()
                .unwrap_or((install.description, install.homepage));
            let mut row = parent.row.clone();
            row.metadata = json!({
                "type": install.kind,
                "parent": {
                    "package": parent.package,
                    "version": parent.version.version,
                    "modulename": parent.version.modulename,
                },
            });
            let key = PackageKey {
                name,
                is_extension: true,
            };
            let package = self.packages.entry(key).or_insert_with(|| PackageSnapshot {
                row: PackageRow {
                    description,
                    homepage,
                    metadata: json!({ "type": install.kind }),
                    ..PackageRow::default()
                },
                versions: BTreeMap::new(),
            });
            package.insert_version(
                VersionKey {
                    version,
                    modulename: parent_module,
                },
                VersionSnapshot {
                    row,
                    targets: parent.targets.clone(),
                },
            );
        }
    }
}

/// Why an extension installation has no parent in this stack.
enum ParentMissing {
    /// It belongs to another stack: not an error, just another catalog.
    ElsewhereStack,
    /// No parent can be found anywhere.
    Unknown(String),
}

/// The strings of a JSON array (licences and categories may be published as
/// strings or as objects with a `name`).
fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|item| {
            item.as_str()
                .or_else(|| item.get("name").and_then(Value::as_str))
                .map(str::to_owned)
        })
        .collect()
}
