//! The catalog loader framework: every kind of catalog is a [`CatalogSource`]
//! that fetches its documents, parses them and transforms them into one
//! [`CatalogSnapshot`](crate::snapshot::CatalogSnapshot). Adding a kind is one
//! new module here, declaring its [`SourceDefinition`], and one line in
//! [`SOURCES`].

pub mod conda;
pub mod custom;
pub mod eessi;
mod lenient;
pub mod lmod;
pub mod registry;
pub mod spack;

use std::future::Future;

pub use lenient::{DUPLICATE_KEY, Lenient, UniqueMap, nullable};
pub use registry::{CatalogKind, SourceDefinition};

/// Every source softcat can load, in the order commands and documents list
/// them.
pub static SOURCES: &[&SourceDefinition] = &[
    &eessi::DEFINITION,
    &spack::DEFINITION,
    &lmod::DEFINITION,
    &conda::DEFINITION,
    &custom::DEFINITION,
];

use crate::fetch::{FetchError, Fetcher};
use crate::loader::SourceBounds;
use crate::snapshot::Transformed;

/// Why a source as a whole could not be turned into a catalog. Nothing is
/// written when this happens.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// A document could not be fetched.
    #[error(transparent)]
    Fetch(#[from] FetchError),
    /// A document is not the JSON shape the source publishes.
    #[error("{document}: {source}")]
    Parse {
        /// Which document.
        document: String,
        /// What serde reported, with line and column.
        #[source]
        source: serde_json::Error,
    },
    /// The documents parse but do not describe the requested catalog.
    #[error("{0}")]
    Invalid(String),
}

impl SourceError {
    /// Whether no repetition can succeed while the source stays as it is:
    /// a fetch that cannot pass later ([`FetchError::is_permanent`]), or
    /// documents that do not parse or do not describe the catalog.
    pub fn is_permanent(&self) -> bool {
        match self {
            Self::Fetch(error) => error.is_permanent(),
            Self::Parse { .. } | Self::Invalid(_) => true,
        }
    }
}

/// One kind of catalog source: fetch → parse → transform.
pub trait CatalogSource: Send + Sync {
    /// The fetched, unparsed documents.
    type Documents: Send;
    /// The documents parsed into the source's own typed structures.
    type Parsed;

    /// Where the data comes from, for the catalog's `source_url`.
    fn location(&self) -> &str;

    /// The name of the catalog this source loads; empty when only the
    /// documents name it (custom catalogs).
    fn catalog_name(&self) -> &str;

    /// A hash of the fetched documents and of every option that shapes the
    /// snapshot: equal fingerprints mean equal snapshots.
    fn source_fingerprint(&self, documents: &Self::Documents) -> i64;

    /// Fetches the source documents.
    fn fetch(
        &self,
        fetcher: &Fetcher,
    ) -> impl Future<Output = Result<Self::Documents, SourceError>> + Send;

    /// Parses fetched documents; fails only if a whole document is unreadable.
    fn parse(&self, documents: &Self::Documents) -> Result<Self::Parsed, SourceError>;

    /// The catalog versions the parsed documents describe (EESSI: every
    /// stack version; Spack: the snapshot's), so that an operator can see
    /// what a source offers beyond what is loaded.
    fn versions(&self, parsed: &Self::Parsed) -> Vec<String>;

    /// Turns parsed documents into a snapshot; entries that cannot be
    /// understood are skipped and listed, not fatal. A package's version
    /// entries are cut to `bounds` before they are built
    /// ([`SourceBounds::keep_newest_versions`]).
    fn transform(
        &self,
        parsed: Self::Parsed,
        bounds: &SourceBounds,
    ) -> Result<Transformed, SourceError>;
}

/// Runs a source from fetch to a snapshot within `bounds`, as a load does
/// before it compares and writes.
pub async fn read_catalog<S: CatalogSource>(
    source: &S,
    fetcher: &Fetcher,
    bounds: &SourceBounds,
) -> Result<Transformed, SourceError> {
    let documents = source.fetch(fetcher).await?;
    let parsed = source.parse(&documents)?;
    drop(documents);
    let mut transformed = source.transform(parsed, bounds)?;
    bounds.apply(&mut transformed);
    Ok(transformed)
}

/// Bumped whenever a transform changes, so that a stored catalog whose
/// source is unchanged is still rebuilt by a new transform.
const TRANSFORM_VERSION: &str = concat!("softcat transform 2 / ", env!("CARGO_PKG_VERSION"));

/// Hashes the parts that determine a snapshot, each length-prefixed so that
/// moving bytes between parts changes the hash.
fn fingerprint_parts<'a>(parts: impl IntoIterator<Item = &'a [u8]>) -> i64 {
    let mut hasher = xxhash_rust::xxh3::Xxh3::new();
    for part in std::iter::once(TRANSFORM_VERSION.as_bytes()).chain(parts) {
        hasher.update(&(part.len() as u64).to_le_bytes());
        hasher.update(part);
    }
    hasher.digest() as i64
}

/// Parses one JSON document, naming it in the error.
fn parse_document<T: serde::de::DeserializeOwned>(
    document: &str,
    bytes: &[u8],
) -> Result<T, SourceError> {
    serde_json::from_slice(bytes).map_err(|source| SourceError::Parse {
        document: document.to_owned(),
        source,
    })
}
