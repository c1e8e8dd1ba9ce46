//! A conda channel: one `<subdir>/repodata.json` per platform subdirectory
//! (`linux-64`, `noarch` …) and, where the channel publishes one, a
//! `channeldata.json` at its root.
//!
//! A `repodata.json` maps package file names to build records in two maps,
//! `packages` (`.tar.bz2` files) and `packages.conda` (`.conda` files); each
//! record has `name`, `version`, `build`, `build_number`, `depends`,
//! `constrains`, `license`, `timestamp` and checksums. `channeldata.json`
//! holds, per package name, what repodata lacks: `summary`, `description`,
//! `home`, `license`, `keywords` and further URLs.
//!
//! The catalog: a package per conda package name, a version per version
//! string, and a target (`conda_build`, `<subdir>/<build string>`) per build
//! of that version in each subdirectory. The same build published in both
//! maps is one target, described by its `.conda` record (the format conda
//! prefers) and listing both files. A target's CPU family comes from its
//! subdirectory ([`cpu_family`]); builds for Linux are `generic` builds of
//! their family, as they run on any CPU of it, while builds for other systems
//! (`osx-64`, `win-64` …) name their family but no micro-architecture, so
//! that no Linux partition is taken to run them. `noarch` builds have no
//! CPU. A build string that names a CUDA toolkit (`py3.9_cuda11.3_cudnn8.2.0_0`,
//! `py39_cu113`, conda-forge's `cuda112py310h…`) or a ROCm one makes a GPU
//! build: its target metadata lists `gpu_arch: ["nvidia/cuda11.3"]` (the
//! key the API's GPU filters read) with `cuda_version` and, where given,
//! `cudnn_version`. `cuda0.0` and `cuNone` are the CPU builds of some channels.
//!
//! A package's summary (or, without one, its description), homepage,
//! licences and keywords (as categories) come from `channeldata.json`;
//! without it, or without an entry for the package, the package has no
//! summary and its licences are those its builds name. A malformed entry
//! there is named as skipped and its package loads without it.
//!
//! Timestamps are seconds or, above 253402300799 (the last second of the
//! year 9999), milliseconds. A version's release date is the day of its
//! earliest build; the catalog version, unless given, is the day of the
//! newest build in the channel, so that the same documents always give the
//! same version.
//!
//! A `repodata.json` of conda-forge is some 200 MB, so it is read as a
//! stream: each record is turned into the compact form the transform needs
//! as the parser reaches it, and fields the catalog does not use (checksums,
//! sizes) are never built. A record that cannot be read is skipped and
//! named. Every subdirectory asked for must be published, except `noarch`,
//! which a channel with no platform-independent packages may leave out;
//! `channeldata.json` is optional.

use std::borrow::Cow;
use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;
use serde_json::{Value, json};

use super::registry::{
    CatalogNaming, OptionKind, OptionValue, RegisteredSource, SourceDefinition, SourceOption,
    load_registered, versions_registered,
};
use super::{
    CatalogSource, DUPLICATE_KEY, Lenient, SourceError, UniqueMap, fingerprint_parts, nullable,
    parse_document,
};
use crate::catalog::{CatalogKey, CatalogKind, CatalogType};
use crate::cpu::GENERIC;
use crate::fetch::{Fetcher, join_location};
use crate::loader::{InvalidLoadRequest, LoadRequest, SourceBounds};
use crate::snapshot::{
    CatalogSnapshot, Level, PackageKey, PackageRow, PackageSnapshot, SkippedEntry, TargetKey,
    TargetRow, Transformed, VersionKey, VersionRow, VersionSnapshot,
};

/// Conda channels in the registry of sources.
pub static DEFINITION: SourceDefinition = SourceDefinition {
    id: "conda",
    summary: "Load a conda channel (<subdir>/repodata.json, channeldata.json)",
    catalog_type: CatalogType::PackageManager,
    url_key: "channel_url",
    url_help: "URL or directory of the conda channel (holding <subdir>/repodata.json)",
    default_url: "",
    naming: CatalogNaming::Required,
    version_help: "the day of the channel's newest build, YYYY-MM-DD",
    default_update_enabled: false,
    holds_several_versions: false,
    options: &[SourceOption {
        name: "subdirs",
        flag: "subdirs",
        help: "The channel's subdirectories to load (linux-64, noarch …); each must be \
               published, except noarch",
        kind: OptionKind::List,
        default: || OptionValue::List(CondaSource::default_subdirs()),
        check: check_subdirs,
    }],
    load: load_registered::<CondaSource>,
    offered_versions: versions_registered::<CondaSource>,
};

/// The kind of conda channel catalogs.
pub const KIND: CatalogKind = CatalogKind::of(&DEFINITION);

/// Subdirectory names checked and each given once; none at all is the
/// default pair.
fn check_subdirs(value: OptionValue) -> Result<OptionValue, String> {
    if value.list().is_empty() {
        return Ok(OptionValue::List(CondaSource::default_subdirs()));
    }
    let subdirs = plain_subdirs(value.list())?;
    Ok(OptionValue::List(
        subdirs.into_iter().map(str::to_owned).collect(),
    ))
}

/// The subdirectory names, each once, in the order given; refuses an empty
/// list and names that are not one plain path segment.
fn plain_subdirs(names: &[String]) -> Result<Vec<&str>, String> {
    let mut subdirs: Vec<&str> = Vec::new();
    for subdir in names.iter().map(|subdir| subdir.trim()) {
        let plain = !subdir.is_empty()
            && subdir
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'));
        if !plain {
            return Err(format!(
                "conda subdir {subdir:?} is not a subdirectory name such as linux-64"
            ));
        }
        if !subdirs.contains(&subdir) {
            subdirs.push(subdir);
        }
    }
    if subdirs.is_empty() {
        return Err("no conda subdir to load".into());
    }
    Ok(subdirs)
}

impl RegisteredSource for CondaSource {
    fn from_request(request: &LoadRequest) -> Result<Self, InvalidLoadRequest> {
        Ok(Self {
            channel_url: request.url.clone(),
            catalog_name: request.catalog_name.clone(),
            catalog_version: request.catalog_version.clone(),
            subdirs: request.option("subdirs").list().to_vec(),
        })
    }
}

/// The channel-wide document at the channel's root; optional.
pub const CHANNELDATA_DOCUMENT: &str = "channeldata.json";
/// The subdirectories loaded when none are named.
pub const DEFAULT_SUBDIRS: [&str; 2] = ["linux-64", NOARCH];
/// The subdirectory of platform-independent packages; the only one that
/// may be absent.
pub const NOARCH: &str = "noarch";
/// The `target_type` of every conda target.
pub const TARGET_TYPE: &str = "conda_build";
/// Timestamps above this (9999-12-31T23:59:59Z in seconds) are milliseconds.
pub const MILLISECONDS_ABOVE: u64 = 253_402_300_799;

/// The repodata document of one subdirectory, relative to the channel.
pub fn repodata_document(subdir: &str) -> String {
    format!("{subdir}/repodata.json")
}

/// Loads a conda channel as a catalog of type `package_manager`.
#[derive(Debug, Clone)]
pub struct CondaSource {
    /// URL or directory of the channel (holding `<subdir>/repodata.json`).
    pub channel_url: String,
    /// Catalog name.
    pub catalog_name: String,
    /// Catalog version; the day of the newest build when `None`.
    pub catalog_version: Option<String>,
    /// Subdirectories to load, e.g. [`DEFAULT_SUBDIRS`].
    pub subdirs: Vec<String>,
}

impl CondaSource {
    /// [`DEFAULT_SUBDIRS`] as the `subdirs` field takes them.
    pub fn default_subdirs() -> Vec<String> {
        DEFAULT_SUBDIRS.map(str::to_owned).to_vec()
    }

    /// The subdirectories asked for, each once, in the order given.
    fn requested_subdirs(&self) -> Result<Vec<&str>, SourceError> {
        plain_subdirs(&self.subdirs).map_err(SourceError::Invalid)
    }
}

/// The fetched documents.
#[derive(Debug)]
pub struct CondaDocuments {
    /// `repodata.json` of each subdirectory found, in the order asked.
    repodata: Vec<(String, Vec<u8>)>,
    /// Subdirectories asked for that the channel does not publish (`noarch`).
    absent: Vec<String>,
    /// `channeldata.json`, if published.
    channeldata: Option<Vec<u8>>,
}

/// The documents read into the compact form the transform needs.
#[derive(Debug)]
pub struct CondaParsed {
    index: Index,
    absent: Vec<String>,
    channeldata: Option<ChannelData>,
}

/// Builds by package name, version and (subdirectory, build string), as
/// the repodata documents are read.
#[derive(Debug, Default)]
struct Index {
    /// What each document's header says, in the order read.
    subdirs: Vec<SubdirHeader>,
    packages: BTreeMap<String, Versions>,
    /// The newest build, in seconds.
    newest: Option<u64>,
    skipped: Vec<SkippedEntry>,
}

/// One package's versions, by version string.
type Versions = BTreeMap<String, Builds>;

/// One version's builds, by (index of the subdirectory, build string).
type Builds = BTreeMap<(usize, String), Build>;

/// One `repodata.json`'s own fields.
#[derive(Debug, Default)]
struct SubdirHeader {
    subdir: String,
    info_subdir: Option<String>,
    repodata_version: Option<u64>,
    records: u64,
}

/// One build of one version in one subdirectory.
#[derive(Debug)]
struct Build {
    build_number: u64,
    depends: Vec<String>,
    constrains: Vec<String>,
    license: Option<String>,
    /// Seconds since the epoch.
    timestamp: Option<u64>,
    features: Option<Value>,
    track_features: Option<Value>,
    /// The package files of this build, sorted.
    files: Vec<String>,
    /// The formats read ([`Format::bit`]), so that a second record in one
    /// format is known for a repetition.
    formats: u8,
}

/// The two maps of a `repodata.json`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    /// `packages`: `.tar.bz2` files.
    TarBz2,
    /// `packages.conda`: `.conda` files.
    Conda,
}

impl Format {
    fn bit(self) -> u8 {
        match self {
            Self::TarBz2 => 1,
            Self::Conda => 2,
        }
    }

    fn map(self) -> &'static str {
        match self {
            Self::TarBz2 => "packages",
            Self::Conda => "packages.conda",
        }
    }
}

/// A record as published; only the fields the catalog uses are read.
#[derive(Debug, Deserialize)]
struct Record<'a> {
    #[serde(borrow)]
    name: Cow<'a, str>,
    #[serde(borrow)]
    version: Cow<'a, str>,
    #[serde(borrow)]
    build: Cow<'a, str>,
    #[serde(default, deserialize_with = "nullable")]
    build_number: u64,
    #[serde(default, deserialize_with = "nullable")]
    depends: Vec<String>,
    #[serde(default, deserialize_with = "nullable")]
    constrains: Vec<String>,
    #[serde(default, deserialize_with = "nullable")]
    license: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    timestamp: Option<serde_json::Number>,
    #[serde(default, deserialize_with = "nullable")]
    features: Option<Value>,
    #[serde(default, deserialize_with = "nullable")]
    track_features: Option<Value>,
}

/// Why a record is left out when its build was already read in its format.
const REPEATED_BUILD: &str = "the same name, version and build string is listed again in \
     this map; its first record is loaded and this one left out";

impl Index {
    /// Adds one record of subdirectory `subdir` read from `format`'s map.
    fn add(&mut self, subdir: usize, format: Format, file: String, raw: &RawValue) {
        self.subdirs[subdir].records += 1;
        let record = serde_json::from_str::<Record<'_>>(raw.get())
            .map_err(|error| error.to_string())
            .and_then(Record::checked);
        let left_out = match record {
            Ok(record) => self.add_record(subdir, format, file, record),
            Err(reason) => Some((file, reason)),
        };
        if let Some((file, reason)) = left_out {
            self.skipped.push(SkippedEntry {
                level: Level::Target,
                entry: format!(
                    "{} {} {file:?}",
                    repodata_document(&self.subdirs[subdir].subdir),
                    format.map()
                ),
                reason,
            });
        }
    }

    /// Adds a record that names its build; returns the file and why when
    /// the record is left out.
    fn add_record(
        &mut self,
        subdir: usize,
        format: Format,
        file: String,
        record: Record<'_>,
    ) -> Option<(String, String)> {
        let versions = match self.packages.get_mut(record.name.as_ref()) {
            Some(versions) => versions,
            None => self.packages.entry(record.name.into_owned()).or_default(),
        };
        let builds = match versions.get_mut(record.version.as_ref()) {
            Some(builds) => builds,
            None => versions.entry(record.version.into_owned()).or_default(),
        };
        let key = (subdir, record.build.into_owned());
        if builds
            .get(&key)
            .is_some_and(|build| build.formats & format.bit() != 0)
        {
            return Some((file, REPEATED_BUILD.into()));
        }
        let timestamp = record.timestamp.as_ref().and_then(seconds_of);
        let mut fields = Build {
            build_number: record.build_number,
            depends: record.depends,
            constrains: record.constrains,
            license: record.license.filter(|license| !license.trim().is_empty()),
            timestamp,
            features: record.features,
            track_features: record.track_features,
            files: vec![file],
            formats: format.bit(),
        };
        match builds.entry(key) {
            Entry::Vacant(slot) => {
                slot.insert(fields);
            }
            Entry::Occupied(mut slot) => {
                let build = slot.get_mut();
                let mut files = std::mem::take(&mut build.files);
                files.append(&mut fields.files);
                files.sort();
                let formats = build.formats | fields.formats;
                // The `.conda` record describes a build published in both.
                if format == Format::Conda {
                    *build = fields;
                }
                build.files = files;
                build.formats = formats;
            }
        }
        if let Some(timestamp) = timestamp {
            self.newest = self.newest.max(Some(timestamp));
        }
        None
    }
}

impl Record<'_> {
    /// The record, if it names its package, version and build.
    fn checked(self) -> Result<Self, String> {
        for (field, value) in [
            ("name", &self.name),
            ("version", &self.version),
            ("build", &self.build),
        ] {
            if value.trim().is_empty() {
                return Err(format!("empty {field}"));
            }
        }
        Ok(self)
    }
}

/// Seconds since the epoch from a published timestamp (seconds, or
/// milliseconds above [`MILLISECONDS_ABOVE`]); `None` for negative values.
fn seconds_of(number: &serde_json::Number) -> Option<u64> {
    let value = match number.as_u64() {
        Some(value) => value,
        None => {
            let value = number.as_f64().filter(|value| *value >= 0.0)?;
            value as u64
        }
    };
    Some(normalise_timestamp(value))
}

/// A timestamp in seconds, whether published in seconds or milliseconds.
pub fn normalise_timestamp(value: u64) -> u64 {
    if value > MILLISECONDS_ABOVE {
        value / 1000
    } else {
        value
    }
}

/// The UTC time of a timestamp in seconds.
fn utc(seconds: u64) -> Option<chrono::DateTime<chrono::Utc>> {
    chrono::DateTime::from_timestamp(i64::try_from(seconds).ok()?, 0)
}

/// Reads one `repodata.json` into the index, record by record.
struct RepodataSeed<'a> {
    subdir: usize,
    index: &'a mut Index,
}

impl<'de> DeserializeSeed<'de> for RepodataSeed<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for RepodataSeed<'_> {
    type Value = ();

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("a repodata.json object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        #[derive(Deserialize)]
        struct Info {
            #[serde(default, deserialize_with = "nullable")]
            subdir: Option<String>,
        }
        while let Some(key) = map.next_key::<Cow<'_, str>>()? {
            match key.as_ref() {
                "info" => {
                    let info = map.next_value::<Lenient<Info>>()?;
                    self.index.subdirs[self.subdir].info_subdir =
                        info.0.ok().and_then(|info| info.subdir);
                }
                "repodata_version" => {
                    let version = map.next_value::<Lenient<u64>>()?;
                    self.index.subdirs[self.subdir].repodata_version = version.0.ok();
                }
                "packages" | "packages.conda" => {
                    let format = if key == "packages" {
                        Format::TarBz2
                    } else {
                        Format::Conda
                    };
                    map.next_value_seed(RecordsSeed {
                        subdir: self.subdir,
                        format,
                        index: &mut *self.index,
                    })?;
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }
}

/// Reads one map of records (`packages` or `packages.conda`); `null` is an
/// empty map.
struct RecordsSeed<'a> {
    subdir: usize,
    format: Format,
    index: &'a mut Index,
}

impl<'de> DeserializeSeed<'de> for RecordsSeed<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for RecordsSeed<'_> {
    type Value = ();

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("an object of package records by file name")
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(file) = map.next_key::<String>()? {
            // The record's text, borrowed from the document: it is read on
            // its own so that one malformed record fails alone.
            let raw = map.next_value::<&'de RawValue>()?;
            self.index.add(self.subdir, self.format, file, raw);
        }
        Ok(())
    }
}

/// `channeldata.json`: per package, what repodata does not say.
#[derive(Debug, Deserialize)]
pub struct ChannelData {
    #[serde(default, deserialize_with = "nullable")]
    packages: UniqueMap<Lenient<ChannelPackage>>,
}

#[derive(Debug, Deserialize)]
struct ChannelPackage {
    #[serde(default, deserialize_with = "nullable")]
    summary: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    description: Option<String>,
    /// A URL, a list of URLs or null, as the other URL fields.
    #[serde(default)]
    home: Value,
    #[serde(default)]
    dev_url: Value,
    #[serde(default)]
    doc_url: Value,
    #[serde(default)]
    source_url: Value,
    /// A licence expression, or a list of them.
    #[serde(default)]
    license: Value,
    /// Keywords as a list or one string.
    #[serde(default)]
    keywords: Value,
}

impl CatalogSource for CondaSource {
    type Documents = CondaDocuments;
    type Parsed = CondaParsed;

    fn location(&self) -> &str {
        &self.channel_url
    }

    fn catalog_name(&self) -> &str {
        &self.catalog_name
    }

    fn source_fingerprint(&self, documents: &CondaDocuments) -> i64 {
        let version = self.catalog_version.as_deref().unwrap_or_default();
        let subdirs = self.subdirs.join(",");
        let mut parts: Vec<&[u8]> = vec![
            self.channel_url.as_bytes(),
            self.catalog_name.as_bytes(),
            version.as_bytes(),
            subdirs.as_bytes(),
        ];
        for (subdir, bytes) in &documents.repodata {
            parts.extend([subdir.as_bytes(), bytes.as_slice()]);
        }
        for subdir in &documents.absent {
            parts.extend([b"absent".as_slice(), subdir.as_bytes()]);
        }
        match &documents.channeldata {
            Some(bytes) => parts.extend([CHANNELDATA_DOCUMENT.as_bytes(), bytes.as_slice()]),
            None => parts.push(b"no channeldata"),
        }
        fingerprint_parts(parts)
    }

    async fn fetch(&self, fetcher: &Fetcher) -> Result<CondaDocuments, SourceError> {
        let mut repodata = Vec::new();
        let mut absent = Vec::new();
        for subdir in self.requested_subdirs()? {
            let location = join_location(&self.channel_url, &repodata_document(subdir));
            if subdir == NOARCH {
                match fetcher.fetch_optional(&location).await? {
                    Some(bytes) => repodata.push((subdir.to_owned(), bytes)),
                    None => absent.push(subdir.to_owned()),
                }
            } else {
                repodata.push((subdir.to_owned(), fetcher.fetch(&location).await?));
            }
        }
        if repodata.is_empty() {
            return Err(SourceError::Invalid(format!(
                "{}: no {} in the channel",
                self.channel_url,
                repodata_document(NOARCH)
            )));
        }
        let channeldata = fetcher
            .fetch_optional(&join_location(&self.channel_url, CHANNELDATA_DOCUMENT))
            .await?;
        Ok(CondaDocuments {
            repodata,
            absent,
            channeldata,
        })
    }

    fn parse(&self, documents: &CondaDocuments) -> Result<CondaParsed, SourceError> {
        let mut index = Index::default();
        for (subdir, bytes) in &documents.repodata {
            index.subdirs.push(SubdirHeader {
                subdir: subdir.clone(),
                ..SubdirHeader::default()
            });
            let seed = RepodataSeed {
                subdir: index.subdirs.len() - 1,
                index: &mut index,
            };
            let mut deserializer = serde_json::Deserializer::from_slice(bytes);
            seed.deserialize(&mut deserializer)
                .and_then(|()| deserializer.end())
                .map_err(|source| SourceError::Parse {
                    document: repodata_document(subdir),
                    source,
                })?;
        }
        let channeldata = documents
            .channeldata
            .as_deref()
            .map(|bytes| parse_document(CHANNELDATA_DOCUMENT, bytes))
            .transpose()?;
        Ok(CondaParsed {
            index,
            absent: documents.absent.clone(),
            channeldata,
        })
    }

    fn versions(&self, parsed: &CondaParsed) -> Vec<String> {
        self.catalog_version
            .clone()
            .or_else(|| newest_day(parsed.index.newest))
            .into_iter()
            .collect()
    }

    fn transform(
        &self,
        parsed: CondaParsed,
        bounds: &SourceBounds,
    ) -> Result<Transformed, SourceError> {
        let version = match &self.catalog_version {
            Some(version) => version.clone(),
            None => newest_day(parsed.index.newest).ok_or_else(|| {
                SourceError::Invalid(format!(
                    "{}: no build has a timestamp; give the catalog version explicitly",
                    self.channel_url
                ))
            })?,
        };
        let Index {
            subdirs,
            packages,
            newest,
            mut skipped,
        } = parsed.index;
        let has_channeldata = parsed.channeldata.is_some();
        let mut channel = BTreeMap::new();
        if let Some(channeldata) = parsed.channeldata {
            let entry = |name: &str| format!("{CHANNELDATA_DOCUMENT} package {name:?}");
            for name in channeldata.packages.duplicates {
                skipped.push(SkippedEntry {
                    level: Level::Package,
                    entry: entry(&name),
                    reason: DUPLICATE_KEY.into(),
                });
            }
            for (name, package) in channeldata.packages.entries {
                match package.0 {
                    Ok(package) => {
                        channel.insert(name, package);
                    }
                    Err(reason) => skipped.push(SkippedEntry {
                        level: Level::Package,
                        entry: entry(&name),
                        reason: format!(
                            "{reason}; the package is loaded without its summary, \
                             homepage and licence"
                        ),
                    }),
                }
            }
        }
        let subdir_names: Vec<&str> = subdirs.iter().map(|s| s.subdir.as_str()).collect();
        let mut snapshot = CatalogSnapshot {
            key: CatalogKey::new(&self.catalog_name, version),
            kind: KIND,
            catalog_type: CatalogType::PackageManager,
            source_url: self.channel_url.clone(),
            description: format!(
                "conda channel {} ({})",
                self.channel_url,
                subdir_names.join(", ")
            ),
            metadata: json!({
                "channel_url": self.channel_url,
                "subdirs": subdirs.iter().map(|header| json!({
                    "subdir": header.subdir,
                    "info_subdir": header.info_subdir,
                    "repodata_version": header.repodata_version,
                    "records": header.records,
                })).collect::<Vec<_>>(),
                "subdirs_absent": parsed.absent,
                "channeldata": has_channeldata,
                "newest_build": newest.and_then(utc).map(|time| time.to_rfc3339()),
            }),
            packages: BTreeMap::new(),
            extensions_excluded: false,
        };
        for (name, versions) in packages {
            let mut versions: Vec<(String, Builds)> = versions.into_iter().collect();
            skipped.extend(
                bounds.keep_newest_versions(&name, &mut versions, |(version, _)| Some(version)),
            );
            let package = transform_package(&subdir_names, versions, channel.remove(&name));
            snapshot.insert_package(
                PackageKey {
                    name,
                    is_extension: false,
                },
                package,
            );
        }
        Ok(Transformed { snapshot, skipped })
    }
}

/// The catalog version a newest build stands for: its day, `2023-10-12`.
fn newest_day(newest: Option<u64>) -> Option<String> {
    Some(utc(newest?)?.date_naive().to_string())
}

/// One package: its versions and their builds, with what channeldata says.
fn transform_package(
    subdirs: &[&str],
    versions: Vec<(String, Builds)>,
    channel: Option<ChannelPackage>,
) -> PackageSnapshot {
    let mut record_licenses = BTreeSet::new();
    let mut package_subdirs = BTreeSet::new();
    let mut snapshot_versions = BTreeMap::new();
    for (version, builds) in versions {
        let release_date = builds
            .values()
            .filter_map(|build| build.timestamp)
            .min()
            .and_then(utc)
            .map(|time| time.date_naive());
        let mut targets = BTreeMap::new();
        for ((subdir, build_string), build) in builds {
            let subdir = subdirs[subdir];
            package_subdirs.insert(subdir);
            if let Some(license) = &build.license {
                record_licenses.insert(license.clone());
            }
            let key = TargetKey {
                target_type: TARGET_TYPE.into(),
                target_name: format!("{subdir}/{build_string}"),
            };
            targets.insert(key, target(subdir, build_string, build));
        }
        snapshot_versions.insert(
            VersionKey {
                version,
                modulename: String::new(),
            },
            VersionSnapshot {
                row: VersionRow {
                    release_date,
                    metadata: json!({}),
                    ..VersionRow::default()
                },
                targets,
            },
        );
    }
    let mut metadata = serde_json::Map::new();
    metadata.insert(
        "subdirs".into(),
        strings(package_subdirs.into_iter().map(str::to_owned)),
    );
    let mut row = PackageRow {
        licenses: record_licenses.into_iter().collect(),
        ..PackageRow::default()
    };
    if let Some(channel) = channel {
        let summary = channel
            .summary
            .as_deref()
            .map(str::trim)
            .unwrap_or_default();
        let description = channel
            .description
            .as_deref()
            .map(str::trim)
            .unwrap_or_default();
        let shown = if summary.is_empty() {
            description
        } else {
            summary
        };
        row.description = shown.to_owned();
        if !description.is_empty() && description != row.description {
            metadata.insert("description".into(), Value::String(description.to_owned()));
        }
        let homepages = text_list(&channel.home);
        row.homepage = homepages.first().cloned().unwrap_or_default();
        for (key, urls) in [
            ("homepages", homepages),
            ("dev_url", text_list(&channel.dev_url)),
            ("doc_url", text_list(&channel.doc_url)),
            ("source_url", text_list(&channel.source_url)),
        ] {
            // The first homepage is the row's; the list only when there are more.
            let listed = if key == "homepages" { 1 } else { 0 };
            if urls.len() > listed {
                metadata.insert(key.into(), strings(urls));
            }
        }
        let licenses = text_list(&channel.license);
        if !licenses.is_empty() {
            row.licenses = licenses;
        }
        row.categories = text_list(&channel.keywords);
    }
    row.metadata = Value::Object(metadata);
    PackageSnapshot {
        row,
        versions: snapshot_versions,
    }
}

/// One build as a target.
fn target(subdir: &str, build_string: String, build: Build) -> TargetRow {
    let (cpu_family, cpu_microarchitecture) = match cpu_family(subdir) {
        Some(family) if subdir.starts_with("linux-") => {
            (Some(family.to_owned()), Some(GENERIC.to_owned()))
        }
        Some(family) => (Some(family.to_owned()), None),
        None => (None, None),
    };
    let gpu = gpu_build(&build_string);
    // Built by moving the parsed values (`json!` would copy each one).
    let mut metadata = serde_json::Map::new();
    metadata.insert("subdir".into(), Value::String(subdir.to_owned()));
    metadata.insert("build".into(), Value::String(build_string));
    metadata.insert("build_number".into(), Value::from(build.build_number));
    metadata.insert("depends".into(), strings(build.depends));
    if !build.constrains.is_empty() {
        metadata.insert("constrains".into(), strings(build.constrains));
    }
    if let Some(license) = build.license {
        metadata.insert("license".into(), Value::String(license));
    }
    if let Some(time) = build.timestamp.and_then(utc) {
        metadata.insert("timestamp".into(), Value::String(time.to_rfc3339()));
    }
    for (key, value) in [
        ("features", build.features),
        ("track_features", build.track_features),
    ] {
        if let Some(value) = value.filter(|value| value.as_str() != Some("")) {
            metadata.insert(key.into(), value);
        }
    }
    metadata.insert("files".into(), strings(build.files));
    if let Some(gpu) = gpu {
        metadata.insert("gpu_arch".into(), json!([gpu.architecture()]));
        metadata.insert(
            format!("{}_version", gpu.toolkit.name()),
            Value::String(gpu.version),
        );
        if let Some(cudnn) = gpu.cudnn {
            metadata.insert("cudnn_version".into(), Value::String(cudnn));
        }
    }
    TargetRow {
        cpu_family,
        cpu_microarchitecture,
        path: String::new(),
        metadata: Value::Object(metadata),
    }
}

/// The CPU family a subdirectory's builds are for: `linux-64`, `osx-64`
/// and `win-64` → `x86_64`; `linux-32`, `win-32` → `x86`; `linux-aarch64`,
/// `osx-arm64`, `win-arm64` → `aarch64`; `zos-z` → `s390x`; any other
/// `<system>-<arch>` → `<arch>` (`linux-ppc64le` → `ppc64le`,
/// `linux-s390x` → `s390x`, `linux-armv7l` → `armv7l`); `noarch` → none.
pub fn cpu_family(subdir: &str) -> Option<&str> {
    let (_, arch) = subdir.split_once('-')?;
    Some(match arch {
        "" => return None,
        "64" => "x86_64",
        "32" => "x86",
        "arm64" | "aarch64" => "aarch64",
        "z" => "s390x",
        arch => arch,
    })
}

/// The GPU toolkit a build string names.
#[derive(Debug, Clone, PartialEq, Eq)]
struct GpuBuild {
    toolkit: Toolkit,
    /// The toolkit version as written (`11.3`, `10.1.243`).
    version: String,
    /// `major.minor`, for the architecture name.
    release: String,
    /// The cuDNN version, where written (`8.2.0`).
    cudnn: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Toolkit {
    Cuda,
    Rocm,
}

impl Toolkit {
    fn name(self) -> &'static str {
        match self {
            Self::Cuda => "cuda",
            Self::Rocm => "rocm",
        }
    }

    fn vendor(self) -> &'static str {
        match self {
            Self::Cuda => "nvidia",
            Self::Rocm => "amd",
        }
    }
}

impl GpuBuild {
    /// The entry of the target's `gpu_arch`: `nvidia/cuda11.3`, `amd/rocm5.4`.
    fn architecture(&self) -> String {
        format!(
            "{}/{}{}",
            self.toolkit.vendor(),
            self.toolkit.name(),
            self.release
        )
    }
}

/// The GPU toolkit named by a build string's `_`-separated parts: `cuda`
/// followed by a version anywhere in a part (`cuda11.3`, `cuda10.1.243`,
/// `cuda8.0.61h0921c33`, `cuda112py310h…`, `cuda126`), `cu` followed by one
/// at the start of a part (`cu113`), or `rocm` likewise (`rocm5.4.2`).
/// Versions without a dot put the minor in their last digit (`112` →
/// `11.2`). A version 0 (`cuda0.0`) is no GPU build.
fn gpu_build(build: &str) -> Option<GpuBuild> {
    let parts = || build.split('_');
    let found = parts().find_map(|part| {
        let after = |marker: &str| part.find(marker).map(|at| &part[at + marker.len()..]);
        let cuda = after("cuda")
            .and_then(toolkit_version)
            .or_else(|| part.strip_prefix("cu").and_then(toolkit_version));
        match cuda {
            Some(version) => Some((Toolkit::Cuda, version)),
            None => Some((Toolkit::Rocm, after("rocm").and_then(toolkit_version)?)),
        }
    });
    let (toolkit, (version, release)) = found?;
    let cudnn = parts().find_map(|part| {
        let at = part.find("cudnn")?;
        let digits = leading_version(&part[at + "cudnn".len()..]);
        (!digits.is_empty()).then(|| digits.to_owned())
    });
    Some(GpuBuild {
        toolkit,
        version,
        release,
        cudnn: cudnn.filter(|_| toolkit == Toolkit::Cuda),
    })
}

/// The digits and dots at the start of `text`, without a trailing dot.
fn leading_version(text: &str) -> &str {
    let end = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    text[..end].trim_end_matches('.')
}

/// A toolkit version at the start of `text`, as written and as
/// `major.minor`; `None` if there is none or it is 0.
fn toolkit_version(text: &str) -> Option<(String, String)> {
    let digits = leading_version(text);
    let (major, minor) = match digits.split_once('.') {
        Some((major, rest)) => (major, rest.split('.').next().unwrap_or_default()),
        None if (2..=3).contains(&digits.len()) => digits.split_at(digits.len() - 1),
        None => return None,
    };
    let major: u32 = major.parse().ok()?;
    let minor: u32 = if minor.is_empty() {
        0
    } else {
        minor.parse().ok()?
    };
    if major == 0 {
        return None;
    }
    let release = format!("{major}.{minor}");
    let version = if digits.contains('.') {
        digits.to_owned()
    } else {
        release.clone()
    };
    Some((version, release))
}

/// The non-empty strings of a value that is a string, a list of strings
/// (nulls and other items left out) or anything else (none).
fn text_list(value: &Value) -> Vec<String> {
    let items: Vec<&Value> = match value {
        Value::Array(items) => items.iter().collect(),
        value => vec![value],
    };
    items
        .into_iter()
        .filter_map(Value::as_str)
        .map(str::trim)
        .filter(|text| !text.is_empty())
        .map(str::to_owned)
        .collect()
}

/// A JSON array of strings.
fn strings(items: impl IntoIterator<Item = String>) -> Value {
    Value::Array(items.into_iter().map(Value::String).collect())
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::config::FetchConfig;
    use crate::fetch::FetchError;

    /// The pytorch channel's real `linux-64/repodata.json`.
    fn real_repodata() -> Vec<u8> {
        let dir = std::env::var_os("SOFTCAT_DATA_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/data"))
            });
        std::fs::read(dir.join("conda/pytorch_linux-64_repodata.json"))
            .expect("the real conda data (set SOFTCAT_DATA_DIR)")
    }

    /// The hand-made channel of `tests/fixtures/conda/channel`.
    fn fixture_channel() -> String {
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../tests/fixtures/conda/channel"
        )
        .to_owned()
    }

    fn source(channel_url: &str) -> CondaSource {
        CondaSource {
            channel_url: channel_url.to_owned(),
            catalog_name: "pytorch".into(),
            catalog_version: None,
            subdirs: CondaSource::default_subdirs(),
        }
    }

    /// The real file as a channel with only `linux-64`, no `channeldata.json`.
    fn real_documents() -> CondaDocuments {
        CondaDocuments {
            repodata: vec![("linux-64".into(), real_repodata())],
            absent: vec![NOARCH.into()],
            channeldata: None,
        }
    }

    fn transform(source: &CondaSource, documents: &CondaDocuments) -> Transformed {
        source
            .transform(source.parse(documents).unwrap(), &SourceBounds::DEFAULT)
            .unwrap()
    }

    async fn fetch(source: &CondaSource) -> Result<CondaDocuments, SourceError> {
        let fetcher = Fetcher::new(&FetchConfig::default()).unwrap();
        source.fetch(&fetcher).await
    }

    fn target_key(name: &str) -> TargetKey {
        TargetKey {
            target_type: TARGET_TYPE.into(),
            target_name: name.into(),
        }
    }

    fn version<'a>(
        snapshot: &'a CatalogSnapshot,
        name: &str,
        version: &str,
    ) -> &'a VersionSnapshot {
        let package = &snapshot.packages[&PackageKey {
            name: name.into(),
            is_extension: false,
        }];
        &package.versions[&VersionKey {
            version: version.into(),
            modulename: String::new(),
        }]
    }

    fn package<'a>(snapshot: &'a CatalogSnapshot, name: &str) -> &'a PackageSnapshot {
        &snapshot.packages[&PackageKey {
            name: name.into(),
            is_extension: false,
        }]
    }

    #[test]
    fn pytorch_builds_of_one_version_are_cpu_and_cuda_targets() {
        let conda = source("https://conda.anaconda.org/pytorch");
        let transformed = transform(&conda, &real_documents());
        let pytorch = version(&transformed.snapshot, "pytorch", "1.10.0");

        // Every build of pytorch 1.10.0 in the file is a target.
        let document: Value = serde_json::from_slice(&real_repodata()).unwrap();
        let builds: BTreeSet<String> = document["packages"]
            .as_object()
            .unwrap()
            .values()
            .filter(|record| record["name"] == "pytorch" && record["version"] == "1.10.0")
            .map(|record| format!("linux-64/{}", record["build"].as_str().unwrap()))
            .collect();
        assert_eq!(builds.len(), 16);
        let targets: BTreeSet<String> = pytorch
            .targets
            .keys()
            .map(|key| key.target_name.clone())
            .collect();
        assert_eq!(targets, builds);
        // The earliest build, py3.7_cpu_0 at 1634273172068 ms.
        assert_eq!(
            pytorch.row.release_date,
            chrono::NaiveDate::from_ymd_opt(2021, 10, 15)
        );

        let cuda = &pytorch.targets[&target_key("linux-64/py3.9_cuda11.3_cudnn8.2.0_0")];
        assert_eq!(cuda.cpu_family.as_deref(), Some("x86_64"));
        assert_eq!(cuda.cpu_microarchitecture.as_deref(), Some("generic"));
        assert_eq!(cuda.metadata["gpu_arch"], json!(["nvidia/cuda11.3"]));
        assert_eq!(cuda.metadata["cuda_version"], "11.3");
        assert_eq!(cuda.metadata["cudnn_version"], "8.2.0");
        assert_eq!(cuda.metadata["build_number"], 0);
        assert_eq!(cuda.metadata["license"], "BSD 3-Clause");
        assert_eq!(cuda.metadata["constrains"], json!(["cpuonly <0"]));
        assert_eq!(cuda.metadata["timestamp"], "2021-10-15T07:40:37+00:00");
        assert_eq!(
            cuda.metadata["files"],
            json!(["pytorch-1.10.0-py3.9_cuda11.3_cudnn8.2.0_0.tar.bz2"])
        );
        assert!(
            cuda.metadata["depends"]
                .as_array()
                .unwrap()
                .contains(&json!("cudatoolkit >=11.3,<11.4"))
        );

        let cpu = &pytorch.targets[&target_key("linux-64/py3.9_cpu_0")];
        assert_eq!(cpu.cpu_family.as_deref(), Some("x86_64"));
        assert_eq!(cpu.cpu_microarchitecture.as_deref(), Some("generic"));
        assert!(cpu.metadata.get("gpu_arch").is_none());
        assert!(cpu.metadata.get("cuda_version").is_none());
        assert_eq!(
            cpu.metadata["depends"],
            json!([
                "blas * mkl",
                "libuv >=1.40.0,<2.0a0",
                "mkl >=2018",
                "python >=3.9,<3.10.0a0",
                "pytorch-mutex 1.0 cpu",
                "typing_extensions"
            ])
        );

        // torchvision writes CUDA as `cu113`.
        let torchvision = version(&transformed.snapshot, "torchvision", "0.11.1");
        let cu113 = &torchvision.targets[&target_key("linux-64/py39_cu113")];
        assert_eq!(cu113.metadata["gpu_arch"], json!(["nvidia/cuda11.3"]));
        assert!(cu113.metadata.get("cudnn_version").is_none());
        assert!(
            torchvision.targets[&target_key("linux-64/py39_cpu")]
                .metadata
                .get("gpu_arch")
                .is_none()
        );
    }

    #[test]
    fn the_whole_file_gives_the_counts_an_independent_reading_gives() {
        let conda = source("https://conda.anaconda.org/pytorch");
        let documents = real_documents();
        let transformed = transform(&conda, &documents);
        assert!(transformed.skipped.is_empty(), "{:?}", transformed.skipped);

        let document: Value = serde_json::from_slice(&real_repodata()).unwrap();
        let mut names = BTreeSet::new();
        let mut versions = BTreeSet::new();
        let mut builds = BTreeSet::new();
        let mut gpu_builds = 0;
        let mut newest = 0;
        for map in ["packages", "packages.conda"] {
            for record in document[map]
                .as_object()
                .into_iter()
                .flat_map(|m| m.values())
            {
                let name = record["name"].as_str().unwrap();
                let version = record["version"].as_str().unwrap();
                let build = record["build"].as_str().unwrap();
                names.insert(name);
                versions.insert((name, version));
                // A CUDA build names `cu` or `cuda` before a version from 1.
                let cuda = build.match_indices("cu").any(|(at, _)| {
                    let rest = &build[at + 2..];
                    let rest = rest.strip_prefix("da").unwrap_or(rest);
                    rest.starts_with(|c: char| ('1'..='9').contains(&c))
                });
                if builds.insert((name, version, build)) && cuda {
                    gpu_builds += 1;
                }
                newest = newest.max(normalise_timestamp(record["timestamp"].as_u64().unwrap()));
            }
        }
        let size = transformed.snapshot.size();
        assert_eq!(size.packages, names.len() as u64);
        assert_eq!(size.versions, versions.len() as u64);
        assert_eq!(size.targets, builds.len() as u64);
        // SOURCES.md: 2,181 builds of 49 packages, 403 name+version pairs.
        assert_eq!(
            (size.packages, size.versions, size.targets),
            (49, 403, 2181)
        );

        let targets = || {
            transformed
                .snapshot
                .packages
                .values()
                .flat_map(|package| package.versions.values())
                .flat_map(|version| version.targets.values())
        };
        let with_gpu = targets()
            .filter(|target| target.metadata.get("gpu_arch").is_some())
            .count();
        assert_eq!(with_gpu, gpu_builds);
        assert_eq!(with_gpu, 796);
        assert!(targets().all(|target| target.cpu_family.as_deref() == Some("x86_64")));

        // The catalog version: the day of the newest build.
        let newest_day = utc(newest).unwrap().date_naive().to_string();
        assert_eq!(newest_day, "2023-10-12");
        assert_eq!(transformed.snapshot.key.version, newest_day);
        assert_eq!(
            conda.versions(&conda.parse(&documents).unwrap()),
            [newest_day]
        );
        assert_eq!(
            transformed.snapshot.catalog_type,
            CatalogType::PackageManager
        );
        assert_eq!(transformed.snapshot.metadata["subdirs"][0]["records"], 2181);
        assert_eq!(
            transformed.snapshot.metadata["subdirs_absent"],
            json!(["noarch"])
        );
        // The same documents give the same snapshot.
        assert_eq!(transform(&conda, &documents), transformed);
    }

    #[test]
    fn timestamps_are_read_in_seconds_and_in_milliseconds() {
        assert_eq!(normalise_timestamp(1_634_273_172_068), 1_634_273_172);
        assert_eq!(normalise_timestamp(1_544_155_153), 1_544_155_153);
        assert_eq!(normalise_timestamp(MILLISECONDS_ABOVE), MILLISECONDS_ABOVE);
        assert_eq!(normalise_timestamp(MILLISECONDS_ABOVE + 1), 253_402_300);
        let number = |text: &str| serde_json::from_str::<serde_json::Number>(text).unwrap();
        assert_eq!(seconds_of(&number("1544155153.5")), Some(1_544_155_153));
        assert_eq!(seconds_of(&number("-5")), None);

        let transformed = transform(
            &source(&fixture_channel()),
            &block_on(fetch(&source(&fixture_channel()))).unwrap(),
        );
        let snapshot = &transformed.snapshot;
        // cuda100 is published in seconds, the others in milliseconds.
        let cuda100 = version(snapshot, "cuda100", "1.0");
        assert_eq!(
            cuda100.row.release_date,
            chrono::NaiveDate::from_ymd_opt(2018, 12, 7)
        );
        assert_eq!(
            cuda100.targets[&target_key("linux-64/0")].metadata["timestamp"],
            "2018-12-07T03:59:13+00:00"
        );
        let torchvision = version(snapshot, "torchvision", "0.11.1");
        assert_eq!(
            torchvision.row.release_date,
            chrono::NaiveDate::from_ymd_opt(2021, 10, 21)
        );
        // The newest build: torchvision py39_cu113 at 1634833608049 ms.
        assert_eq!(snapshot.key.version, "2021-10-21");
        assert_eq!(
            snapshot.metadata["newest_build"],
            "2021-10-21T16:26:48+00:00"
        );
    }

    #[test]
    fn a_build_in_both_maps_is_one_target() {
        let conda = source(&fixture_channel());
        let transformed = transform(&conda, &block_on(fetch(&conda)).unwrap());
        let pytorch = version(&transformed.snapshot, "pytorch", "1.10.0");
        assert_eq!(pytorch.targets.len(), 2);
        let cuda = &pytorch.targets[&target_key("linux-64/py3.9_cuda11.3_cudnn8.2.0_0")];
        assert_eq!(
            cuda.metadata["files"],
            json!([
                "pytorch-1.10.0-py3.9_cuda11.3_cudnn8.2.0_0.conda",
                "pytorch-1.10.0-py3.9_cuda11.3_cudnn8.2.0_0.tar.bz2"
            ])
        );
        // Described by the `.conda` record, a minute later than the other.
        assert_eq!(cuda.metadata["timestamp"], "2021-10-15T07:41:37+00:00");
        assert_eq!(cuda.metadata["gpu_arch"], json!(["nvidia/cuda11.3"]));
        assert_eq!(transformed.snapshot.metadata["subdirs"][0]["records"], 8);

        // The same record listed again in one map is left out and named.
        let mut document: Value = serde_json::from_slice(
            &std::fs::read(format!("{}/linux-64/repodata.json", fixture_channel())).unwrap(),
        )
        .unwrap();
        let record = document["packages"]["pytorch-1.10.0-py3.9_cpu_0.tar.bz2"].clone();
        document["packages"]["pytorch-1.10.0-py3.9_cpu_0.tar.bz2.copy"] = record;
        let documents = CondaDocuments {
            repodata: vec![("linux-64".into(), serde_json::to_vec(&document).unwrap())],
            absent: Vec::new(),
            channeldata: None,
        };
        let again = transform(&conda, &documents);
        // Six builds in linux-64: the copy adds none.
        assert_eq!(again.snapshot.size().targets, 6);
        let repeated: Vec<_> = again
            .skipped
            .iter()
            .filter(|entry| entry.reason == REPEATED_BUILD)
            .collect();
        assert_eq!(repeated.len(), 1);
        assert_eq!(
            repeated[0].entry,
            "linux-64/repodata.json packages \"pytorch-1.10.0-py3.9_cpu_0.tar.bz2.copy\""
        );
    }

    #[test]
    fn channeldata_gives_summaries_homepages_and_licences_when_present() {
        let conda = source(&fixture_channel());
        let documents = block_on(fetch(&conda)).unwrap();
        assert!(documents.channeldata.is_some());
        let present = transform(&conda, &documents);
        let pytorch = &package(&present.snapshot, "pytorch").row;
        assert_eq!(
            pytorch.description,
            "PyTorch is an optimized tensor library for deep learning using GPUs and CPUs."
        );
        assert_eq!(pytorch.homepage, "https://pytorch.org/");
        assert_eq!(pytorch.licenses, ["BSD 3-Clause"]);
        assert_eq!(
            pytorch.metadata["dev_url"],
            json!(["https://github.com/pytorch/pytorch"])
        );
        assert_eq!(
            pytorch.metadata["doc_url"],
            json!(["https://pytorch.org/docs/"])
        );
        assert_eq!(pytorch.metadata["subdirs"], json!(["linux-64"]));
        let torchvision = &package(&present.snapshot, "torchvision").row;
        assert_eq!(
            torchvision.description,
            "image and video datasets and models for torch deep learning"
        );
        assert_eq!(torchvision.homepage, "https://github.com/pytorch/vision");
        assert_eq!(torchvision.categories, ["computer vision", "pytorch"]);
        assert!(
            torchvision.metadata["description"]
                .as_str()
                .unwrap()
                .starts_with("The torchvision package consists of")
        );
        // A malformed entry is named; its package loads without it.
        let cuda100 = &package(&present.snapshot, "cuda100").row;
        assert_eq!(cuda100.description, "");
        assert_eq!(cuda100.homepage, "");
        assert!(present.skipped.iter().any(|entry| {
            entry.level == Level::Package
                && entry.entry == "channeldata.json package \"cuda100\""
                && entry.reason.contains("invalid type")
        }));
        // Channeldata of a package without builds adds no package.
        assert!(
            !present
                .snapshot
                .packages
                .keys()
                .any(|key| key.name == "torchtext")
        );
        assert_eq!(present.snapshot.metadata["channeldata"], true);

        let absent = transform(
            &conda,
            &CondaDocuments {
                channeldata: None,
                ..documents
            },
        );
        assert_eq!(absent.snapshot.size(), present.snapshot.size());
        let pytorch = &package(&absent.snapshot, "pytorch").row;
        assert_eq!(pytorch.description, "");
        assert_eq!(pytorch.homepage, "");
        // Without channeldata, the licences are those of the builds.
        assert_eq!(pytorch.licenses, ["BSD 3-Clause"]);
        assert_eq!(
            package(&absent.snapshot, "torchvision").row.licenses,
            ["BSD"]
        );
        assert!(
            absent
                .skipped
                .iter()
                .all(|entry| entry.level == Level::Target)
        );
        assert_eq!(absent.snapshot.metadata["channeldata"], false);
    }

    #[test]
    fn a_malformed_record_is_skipped_and_named() {
        let conda = source(&fixture_channel());
        let transformed = transform(&conda, &block_on(fetch(&conda)).unwrap());
        let targets: Vec<_> = transformed
            .skipped
            .iter()
            .filter(|entry| entry.level == Level::Target)
            .collect();
        assert_eq!(targets.len(), 1, "{targets:?}");
        assert_eq!(
            targets[0].entry,
            "linux-64/repodata.json packages \"torchaudio-0.10.0-py39_cu113.tar.bz2\""
        );
        assert!(
            targets[0].reason.contains("invalid type"),
            "{}",
            targets[0].reason
        );
        // The package loads with its other build.
        let torchaudio = version(&transformed.snapshot, "torchaudio", "0.10.0");
        let builds: Vec<_> = torchaudio
            .targets
            .keys()
            .map(|k| k.target_name.as_str())
            .collect();
        assert_eq!(builds, ["linux-64/py39_cpu"]);

        // A record that is no object, or lacks its build, fails alone too.
        let document =
            br#"{"packages": {"a-1-0.tar.bz2": [1], "b-1-0.tar.bz2": {"name": "b", "version": "1"},
            "c-1-0.tar.bz2": {"name": "c", "version": "1", "build": "0", "timestamp": 1}}}"#;
        let documents = CondaDocuments {
            repodata: vec![("linux-64".into(), document.to_vec())],
            absent: Vec::new(),
            channeldata: None,
        };
        let transformed = transform(&conda, &documents);
        assert_eq!(transformed.snapshot.size().targets, 1);
        let skipped: Vec<_> = transformed
            .skipped
            .iter()
            .map(|e| e.entry.as_str())
            .collect();
        assert_eq!(
            skipped,
            [
                "linux-64/repodata.json packages \"a-1-0.tar.bz2\"",
                "linux-64/repodata.json packages \"b-1-0.tar.bz2\""
            ]
        );
        assert!(
            transformed.skipped[1]
                .reason
                .contains("missing field `build`")
        );
        // A document that is no JSON object fails as a whole.
        let broken = CondaDocuments {
            repodata: vec![("linux-64".into(), b"{\"packages\": {".to_vec())],
            absent: Vec::new(),
            channeldata: None,
        };
        assert!(matches!(
            conda.parse(&broken),
            Err(SourceError::Parse { document, .. }) if document == "linux-64/repodata.json"
        ));
    }

    #[test]
    fn noarch_builds_have_no_cpu_and_may_be_absent() {
        let conda = source(&fixture_channel());
        let documents = block_on(fetch(&conda)).unwrap();
        assert!(documents.absent.is_empty());
        let transformed = transform(&conda, &documents);
        let mutex = version(&transformed.snapshot, "pytorch-mutex", "1.0");
        let builds: Vec<_> = mutex
            .targets
            .keys()
            .map(|k| k.target_name.as_str())
            .collect();
        assert_eq!(builds, ["noarch/cpu", "noarch/cuda"]);
        for target in mutex.targets.values() {
            assert_eq!(target.cpu_family, None);
            assert_eq!(target.cpu_microarchitecture, None);
            // A build string that is only `cuda` names no toolkit version.
            assert!(target.metadata.get("gpu_arch").is_none());
        }

        // A channel without noarch loads what it has.
        let dir = std::env::temp_dir().join(format!("softcat-conda-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(dir.join("linux-64")).unwrap();
        std::fs::copy(
            format!("{}/linux-64/repodata.json", fixture_channel()),
            dir.join("linux-64/repodata.json"),
        )
        .unwrap();
        let channel = dir.to_string_lossy().into_owned();
        let documents = block_on(fetch(&source(&channel))).unwrap();
        assert_eq!(documents.absent, ["noarch"]);
        assert!(documents.channeldata.is_none());
        let transformed = transform(&source(&channel), &documents);
        assert!(
            !transformed
                .snapshot
                .packages
                .keys()
                .any(|k| k.name == "pytorch-mutex")
        );
        // A platform asked for must be there; noarch alone, absent, is nothing.
        let mut aarch64 = source(&channel);
        aarch64.subdirs = vec!["linux-64".into(), "linux-aarch64".into()];
        assert!(matches!(
            block_on(fetch(&aarch64)),
            Err(SourceError::Fetch(FetchError::NotFound { .. }))
        ));
        let mut noarch = source(&channel);
        noarch.subdirs = vec![NOARCH.into()];
        assert!(matches!(
            block_on(fetch(&noarch)),
            Err(SourceError::Invalid(_))
        ));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn subdir_names_are_checked() {
        for subdirs in [
            vec![],
            vec!["../etc".to_owned()],
            vec!["linux 64".to_owned()],
        ] {
            let mut conda = source(&fixture_channel());
            conda.subdirs = subdirs;
            assert!(matches!(
                block_on(fetch(&conda)),
                Err(SourceError::Invalid(_))
            ));
        }
        let mut conda = source(&fixture_channel());
        conda.subdirs = vec!["noarch".into(), "linux-64".into(), "noarch".into()];
        assert_eq!(conda.requested_subdirs().unwrap(), ["noarch", "linux-64"]);
    }

    #[test]
    fn subdirs_name_the_cpu_family() {
        let cases = [
            ("linux-64", Some("x86_64")),
            ("linux-aarch64", Some("aarch64")),
            ("osx-arm64", Some("aarch64")),
            ("linux-ppc64le", Some("ppc64le")),
            ("linux-s390x", Some("s390x")),
            ("osx-64", Some("x86_64")),
            ("win-64", Some("x86_64")),
            ("win-arm64", Some("aarch64")),
            ("linux-32", Some("x86")),
            ("linux-armv7l", Some("armv7l")),
            ("zos-z", Some("s390x")),
            ("noarch", None),
        ];
        for (subdir, family) in cases {
            assert_eq!(cpu_family(subdir), family, "{subdir}");
        }
        // Only Linux builds run on a family's every CPU.
        let build = || Build {
            build_number: 0,
            depends: Vec::new(),
            constrains: Vec::new(),
            license: None,
            timestamp: None,
            features: None,
            track_features: None,
            files: Vec::new(),
            formats: Format::TarBz2.bit(),
        };
        let linux = target("linux-aarch64", "0".into(), build());
        assert_eq!(linux.cpu_microarchitecture.as_deref(), Some("generic"));
        let mac = target("osx-64", "0".into(), build());
        assert_eq!(mac.cpu_family.as_deref(), Some("x86_64"));
        assert_eq!(mac.cpu_microarchitecture, None);
    }

    #[test]
    fn build_strings_name_their_gpu_toolkit() {
        let cuda =
            |build: &str| gpu_build(build).map(|gpu| (gpu.architecture(), gpu.version, gpu.cudnn));
        let some = |arch: &str, version: &str, cudnn: Option<&str>| {
            Some((
                arch.to_owned(),
                version.to_owned(),
                cudnn.map(str::to_owned),
            ))
        };
        assert_eq!(
            cuda("py3.9_cuda11.3_cudnn8.2.0_0"),
            some("nvidia/cuda11.3", "11.3", Some("8.2.0"))
        );
        assert_eq!(
            cuda("py3.7_cuda10.1.243_cudnn7.6.3_0"),
            some("nvidia/cuda10.1", "10.1.243", Some("7.6.3"))
        );
        assert_eq!(cuda("py39_cu113"), some("nvidia/cuda11.3", "11.3", None));
        assert_eq!(cuda("py2.7_cu92_0"), some("nvidia/cuda9.2", "9.2", None));
        assert_eq!(cuda("py38_cu110"), some("nvidia/cuda11.0", "11.0", None));
        assert_eq!(
            cuda("py3.9_h1234567_0_cuda10.2"),
            some("nvidia/cuda10.2", "10.2", None)
        );
        assert_eq!(
            cuda("py27_cuda8.0.61hc0154d9_1"),
            some("nvidia/cuda8.0", "8.0.61", None)
        );
        assert_eq!(
            cuda("cuda112py310h51fc4d8_200"),
            some("nvidia/cuda11.2", "11.2", None)
        );
        assert_eq!(
            cuda("cuda126_mkl_py312_h30b5a27_300"),
            some("nvidia/cuda12.6", "12.6", None)
        );
        assert_eq!(
            cuda("py3.10_rocm5.4.2_0"),
            some("amd/rocm5.4", "5.4.2", None)
        );
        for cpu in [
            "py3.9_cpu_0",
            "py36_cuda0.0_1",
            "py3.8_cuNone_1",
            "cuda",
            "0",
            "h0_cudatoolkit",
        ] {
            assert_eq!(cuda(cpu), None, "{cpu}");
        }
    }

    #[test]
    fn the_fingerprint_covers_every_document_and_option() {
        let conda = source(&fixture_channel());
        let documents = block_on(fetch(&conda)).unwrap();
        let base = conda.source_fingerprint(&documents);
        assert_eq!(
            base,
            conda.source_fingerprint(&block_on(fetch(&conda)).unwrap())
        );
        let mut version = conda.clone();
        version.catalog_version = Some("2021-10-21".into());
        let mut subdirs = conda.clone();
        subdirs.subdirs = vec!["linux-64".into()];
        let mut url = conda.clone();
        url.channel_url.push('/');
        for other in [version, subdirs, url] {
            assert_ne!(other.source_fingerprint(&documents), base);
        }
        let without_channeldata = CondaDocuments {
            repodata: documents.repodata.clone(),
            absent: documents.absent.clone(),
            channeldata: None,
        };
        assert_ne!(conda.source_fingerprint(&without_channeldata), base);
        let mut changed = CondaDocuments {
            repodata: documents.repodata.clone(),
            absent: documents.absent.clone(),
            channeldata: documents.channeldata.clone(),
        };
        changed.repodata[1].1.push(b'\n');
        assert_ne!(conda.source_fingerprint(&changed), base);
    }

    #[test]
    fn a_given_catalog_version_is_used_and_none_without_timestamps_is_refused() {
        let mut conda = source(&fixture_channel());
        conda.catalog_version = Some("v1".into());
        let documents = block_on(fetch(&conda)).unwrap();
        assert_eq!(conda.versions(&conda.parse(&documents).unwrap()), ["v1"]);
        assert_eq!(transform(&conda, &documents).snapshot.key.version, "v1");

        let untimed = CondaDocuments {
            repodata: vec![(
                "linux-64".into(),
                br#"{"packages": {"a-1-0.tar.bz2": {"name": "a", "version": "1", "build": "0"}}}"#
                    .to_vec(),
            )],
            absent: Vec::new(),
            channeldata: None,
        };
        let conda = source(&fixture_channel());
        let parsed = conda.parse(&untimed).unwrap();
        assert!(conda.versions(&parsed).is_empty());
        assert!(matches!(
            conda.transform(parsed, &SourceBounds::DEFAULT),
            Err(SourceError::Invalid(_))
        ));
    }

    fn block_on<F: std::future::Future>(future: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(future)
    }
}
