//! Reading source documents: over http(s) with reqwest, or from `file://`
//! URLs and plain paths. Fetched data is untrusted, so every read is bounded
//! in size and time, and transient failures are retried with backoff.

use std::path::PathBuf;
use std::time::Duration;

use tokio::sync::mpsc::UnboundedSender;
use tokio::time::Instant;

use futures_util::StreamExt;
use reqwest::StatusCode;
use tokio::io::AsyncReadExt;

use crate::config::FetchConfig;

/// Why a document could not be read.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The location is neither an http(s) URL, a `file://` URL nor a path.
    #[error("{location}: not an http(s) URL, file:// URL or path")]
    InvalidLocation {
        /// The location as given.
        location: String,
    },
    /// The server answered 404, or the file does not exist.
    #[error("{location}: not found")]
    NotFound {
        /// The location as given.
        location: String,
    },
    /// The document is larger than the configured cap.
    #[error("{location}: larger than the limit of {limit} bytes")]
    TooLarge {
        /// The location as given.
        location: String,
        /// The cap, in bytes.
        limit: u64,
    },
    /// The server answered with an error status.
    #[error("{location}: HTTP {status}")]
    Status {
        /// The location as given.
        location: String,
        /// The status received.
        status: StatusCode,
    },
    /// No attempt read the whole document within the fetch's one deadline
    /// (`fetch.total_timeout_secs`, retries included).
    #[error("{location}: not read within {secs} s ({attempts} attempts)")]
    Deadline {
        /// The location as given.
        location: String,
        /// The deadline, in seconds from the first attempt.
        secs: u64,
        /// Attempts started.
        attempts: u32,
    },
    /// Connecting, sending or receiving failed (after the retries).
    #[error("{location}: {}", with_causes(source))]
    Transport {
        /// The location as given.
        location: String,
        /// What reqwest reported.
        #[source]
        source: reqwest::Error,
    },
    /// Reading a local file failed.
    #[error("{location}: {source}")]
    Io {
        /// The location as given.
        location: String,
        /// What the OS reported.
        #[source]
        source: std::io::Error,
    },
    /// The HTTP client could not be built (TLS initialisation).
    #[error("HTTP client: {0}")]
    Client(#[source] reqwest::Error),
}

impl FetchError {
    /// Whether repeating the fetch cannot succeed while the source stays as
    /// it is: not found, a location that is no URL or path, a document over
    /// the cap, or an HTTP status that is neither a server error nor 429. A
    /// job fails at once on these; timeouts, 5xx and refused connections
    /// are retried.
    pub fn is_permanent(&self) -> bool {
        match self {
            Self::InvalidLocation { .. } | Self::NotFound { .. } | Self::TooLarge { .. } => true,
            Self::Status { status, .. } => {
                status.is_client_error() && *status != StatusCode::TOO_MANY_REQUESTS
            }
            Self::Transport { source, .. } => source.is_builder() || source.is_redirect(),
            Self::Deadline { .. } | Self::Io { .. } | Self::Client(_) => false,
        }
    }

    fn is_transient(&self) -> bool {
        match self {
            Self::Status { status, .. } => {
                status.is_server_error() || *status == StatusCode::TOO_MANY_REQUESTS
            }
            Self::Transport { source, .. } => !source.is_builder() && !source.is_redirect(),
            _ => false,
        }
    }
}

/// A fetched document and when it last changed, where the location says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    /// The document.
    pub bytes: Vec<u8>,
    /// Its `Last-Modified` time (http) or modification time (a file).
    pub last_modified: Option<chrono::DateTime<chrono::Utc>>,
}

/// A retry a fetch is about to make, as [`Fetcher::reporting_retries`]
/// reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FetchRetry {
    /// Which retry (1 for the first).
    pub retry: u32,
    /// Retries allowed (`fetch.retries`).
    pub of: u32,
}

/// Reads documents within the limits of a [`FetchConfig`]: each document has
/// one deadline, `fetch.total_timeout_secs` from its first attempt, that
/// bounds all its attempts and the waits between them.
#[derive(Debug, Clone)]
pub struct Fetcher {
    client: reqwest::Client,
    config: FetchConfig,
    retries: Option<UnboundedSender<FetchRetry>>,
}

impl Fetcher {
    /// Builds a fetcher; the HTTP client is shared by all its requests.
    pub fn new(config: &FetchConfig) -> Result<Self, FetchError> {
        let client = reqwest::Client::builder()
            .user_agent(concat!("softcat/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(config.connect_timeout())
            .read_timeout(config.read_timeout())
            .build()
            .map_err(FetchError::Client)?;
        Ok(Self {
            client,
            config: config.clone(),
            retries: None,
        })
    }

    /// The same fetcher, sending each retry it is about to make to `retries`
    /// (a load shows them as its phase).
    pub fn reporting_retries(&self, retries: UnboundedSender<FetchRetry>) -> Self {
        Self {
            retries: Some(retries),
            ..self.clone()
        }
    }

    /// The same fetcher with another cap on a document's size (a source
    /// whose documents are larger than most, such as a conda channel).
    pub fn with_max_bytes(&self, max_bytes: u64) -> Self {
        let mut fetcher = self.clone();
        fetcher.config.max_bytes = max_bytes;
        fetcher
    }

    /// Reads a whole document.
    pub async fn fetch(&self, location: &str) -> Result<Vec<u8>, FetchError> {
        Ok(self.fetch_dated(location).await?.bytes)
    }

    /// Reads a whole document with the time it was last changed, where the
    /// location says: the `Last-Modified` header, a file's modification
    /// time.
    pub async fn fetch_dated(&self, location: &str) -> Result<Fetched, FetchError> {
        match Location::parse(location)? {
            Location::Http(url) => self.fetch_http_with_retries(location, url).await,
            Location::File(path) => self.read_file(location, path).await,
        }
    }

    /// Reads a document that may legitimately be absent: `None` when the
    /// server answers 404 or the file does not exist.
    pub async fn fetch_optional(&self, location: &str) -> Result<Option<Vec<u8>>, FetchError> {
        match self.fetch(location).await {
            Ok(bytes) => Ok(Some(bytes)),
            Err(FetchError::NotFound { .. }) => Ok(None),
            Err(error) => Err(error),
        }
    }

    async fn fetch_http_with_retries(
        &self,
        location: &str,
        url: reqwest::Url,
    ) -> Result<Fetched, FetchError> {
        let total = self.config.total_timeout();
        let deadline = Instant::now() + total;
        let past_deadline = |attempts| FetchError::Deadline {
            location: location.to_owned(),
            secs: total.as_secs(),
            attempts,
        };
        let mut backoff = Duration::from_millis(self.config.retry_backoff_ms);
        let mut retry = 0;
        loop {
            let attempt = tokio::time::timeout_at(deadline, self.fetch_http(location, url.clone()));
            let Ok(result) = attempt.await else {
                return Err(past_deadline(retry + 1));
            };
            match result {
                Err(error) if error.is_transient() && retry < self.config.retries => {
                    if Instant::now() + backoff >= deadline {
                        tracing::warn!(%location, error = %error, "fetch failed; no time left to retry");
                        return Err(past_deadline(retry + 1));
                    }
                    retry += 1;
                    tracing::warn!(%location, retry, of = self.config.retries, error = %error, "fetch failed; retrying");
                    if let Some(retries) = &self.retries {
                        let _ = retries.send(FetchRetry {
                            retry,
                            of: self.config.retries,
                        });
                    }
                    tokio::time::sleep(backoff).await;
                    backoff = backoff.saturating_mul(2);
                }
                result => return result,
            }
        }
    }

    async fn fetch_http(&self, location: &str, url: reqwest::Url) -> Result<Fetched, FetchError> {
        let transport = |source| FetchError::Transport {
            location: location.to_owned(),
            source,
        };
        let response = self.client.get(url).send().await.map_err(transport)?;
        let status = response.status();
        if status == StatusCode::NOT_FOUND {
            return Err(FetchError::NotFound {
                location: location.to_owned(),
            });
        }
        if !status.is_success() {
            return Err(FetchError::Status {
                location: location.to_owned(),
                status,
            });
        }
        let limit = self.config.max_bytes;
        let too_large = || FetchError::TooLarge {
            location: location.to_owned(),
            limit,
        };
        if response
            .content_length()
            .is_some_and(|length| length > limit)
        {
            return Err(too_large());
        }
        let last_modified = response
            .headers()
            .get(reqwest::header::LAST_MODIFIED)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| chrono::DateTime::parse_from_rfc2822(value).ok())
            .map(|time| time.with_timezone(&chrono::Utc));
        let mut body = Vec::with_capacity(response.content_length().unwrap_or(0) as usize);
        let mut chunks = response.bytes_stream();
        while let Some(chunk) = chunks.next().await {
            let chunk = chunk.map_err(transport)?;
            if body.len() as u64 + chunk.len() as u64 > limit {
                return Err(too_large());
            }
            reserve_within(&mut body, chunk.len(), limit);
            body.extend_from_slice(&chunk);
        }
        Ok(Fetched {
            bytes: body,
            last_modified,
        })
    }

    async fn read_file(&self, location: &str, path: PathBuf) -> Result<Fetched, FetchError> {
        let io = |source: std::io::Error| {
            if source.kind() == std::io::ErrorKind::NotFound {
                FetchError::NotFound {
                    location: location.to_owned(),
                }
            } else {
                FetchError::Io {
                    location: location.to_owned(),
                    source,
                }
            }
        };
        let limit = self.config.max_bytes;
        let file = tokio::fs::File::open(&path).await.map_err(io)?;
        let last_modified = file
            .metadata()
            .await
            .and_then(|metadata| metadata.modified())
            .ok()
            .map(chrono::DateTime::<chrono::Utc>::from);
        let mut body = Vec::new();
        // Read one byte past the cap to tell "exactly at the cap" from "over it".
        file.take(limit + 1)
            .read_to_end(&mut body)
            .await
            .map_err(io)?;
        if body.len() as u64 > limit {
            return Err(FetchError::TooLarge {
                location: location.to_owned(),
                limit,
            });
        }
        Ok(Fetched {
            bytes: body,
            last_modified,
        })
    }
}

/// Makes room for `more` bytes in a body that may grow to `limit`, so that
/// a body without a declared length (or a decompressed one) peaks near the
/// cap rather than near one and a half times it: the capacity doubles as a
/// `Vec`'s would up to [`GROWTH_STEP_LIMIT`], and past that goes to the
/// cap at once. The room past what is written is address space only (the
/// system gives a large allocation's pages when they are first written),
/// so a document smaller than the cap still costs only its size.
fn reserve_within(body: &mut Vec<u8>, more: usize, limit: u64) {
    let needed = body.len() + more;
    if needed <= body.capacity() {
        return;
    }
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    let doubled = body.capacity().saturating_mul(2).max(64 * 1024);
    let target = if doubled > GROWTH_STEP_LIMIT {
        limit
    } else {
        doubled.min(limit)
    };
    body.reserve_exact(target.max(needed) - body.len());
}

/// The size up to which a body of unknown length grows by doubling.
const GROWTH_STEP_LIMIT: usize = 16 * 1024 * 1024;

/// An error and its causes in one line (`error sending request for url
/// (…): operation timed out`): reqwest's own message leaves out why.
fn with_causes(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(error) = cause {
        let message = error.to_string();
        if !text.contains(&message) {
            text.push_str(": ");
            text.push_str(&message);
        }
        cause = error.source();
    }
    text
}

/// Joins a document name onto a base location (URL or directory).
pub fn join_location(base: &str, name: &str) -> String {
    if base.contains("://") {
        format!("{}/{}", base.trim_end_matches('/'), name)
    } else {
        PathBuf::from(base)
            .join(name)
            .to_string_lossy()
            .into_owned()
    }
}

/// The local file a location names (a plain path or a `file://` URL), or
/// `None` for an http(s) URL or something that is no location.
pub fn local_path(location: &str) -> Option<PathBuf> {
    match Location::parse(location) {
        Ok(Location::File(path)) => Some(path),
        _ => None,
    }
}

enum Location {
    Http(reqwest::Url),
    File(PathBuf),
}

impl Location {
    fn parse(location: &str) -> Result<Self, FetchError> {
        let invalid = || FetchError::InvalidLocation {
            location: location.to_owned(),
        };
        if !location.contains("://") {
            return if location.is_empty() {
                Err(invalid())
            } else {
                Ok(Self::File(PathBuf::from(location)))
            };
        }
        let url = reqwest::Url::parse(location).map_err(|_| invalid())?;
        match url.scheme() {
            "http" | "https" => Ok(Self::Http(url)),
            "file" => url.to_file_path().map(Self::File).map_err(|()| invalid()),
            _ => Err(invalid()),
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_growing_body_never_holds_more_room_than_the_cap() {
        let limit = 1_000_000u64;
        let mut body = Vec::new();
        let chunk = vec![7u8; 8192];
        while body.len() + chunk.len() <= limit as usize {
            super::reserve_within(&mut body, chunk.len(), limit);
            body.extend_from_slice(&chunk);
            assert!(body.capacity() as u64 <= limit, "{}", body.capacity());
        }
        // Doubling alone would have reached 1,048,576 bytes of room.
        assert!(body.len() > 900_000);

        // Past the doubling range the room goes to the cap in one step:
        // no copy of a large body into a larger one.
        let limit = 64 * 1024 * 1024u64;
        let mut body = vec![0u8; super::GROWTH_STEP_LIMIT];
        super::reserve_within(&mut body, 1, limit);
        assert_eq!(body.capacity() as u64, limit);
    }

    use super::*;

    #[test]
    fn joins_urls_and_paths() {
        assert_eq!(
            join_location("https://www.eessi.io/api_data/data/", "a.json"),
            "https://www.eessi.io/api_data/data/a.json"
        );
        assert_eq!(
            join_location("file:///srv/data", "a.json"),
            "file:///srv/data/a.json"
        );
        assert_eq!(join_location("/srv/data", "a.json"), "/srv/data/a.json");
    }

    #[tokio::test]
    async fn local_files_are_capped_and_missing_ones_are_not_found() {
        let dir = std::env::temp_dir().join(format!("softcat-fetch-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("doc.json");
        std::fs::write(&file, b"0123456789").unwrap();
        let config = FetchConfig {
            max_bytes: 10,
            ..FetchConfig::default()
        };
        let fetcher = Fetcher::new(&config).unwrap();
        let location = file.to_string_lossy().into_owned();
        assert_eq!(fetcher.fetch(&location).await.unwrap(), b"0123456789");
        let url = format!("file://{location}");
        assert_eq!(fetcher.fetch(&url).await.unwrap().len(), 10);

        let small = Fetcher::new(&FetchConfig {
            max_bytes: 9,
            ..config
        })
        .unwrap();
        assert!(matches!(
            small.fetch(&location).await,
            Err(FetchError::TooLarge { limit: 9, .. })
        ));
        let missing = dir.join("absent.json").to_string_lossy().into_owned();
        assert!(small.fetch_optional(&missing).await.unwrap().is_none());
        assert!(matches!(
            fetcher.fetch("ftp://example.org/x").await,
            Err(FetchError::InvalidLocation { .. })
        ));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn what_cannot_pass_later_is_permanent() {
        let location = || "x".to_owned();
        let status = |code: u16| FetchError::Status {
            location: location(),
            status: StatusCode::from_u16(code).unwrap(),
        };
        assert!(
            FetchError::NotFound {
                location: location()
            }
            .is_permanent()
        );
        assert!(
            FetchError::InvalidLocation {
                location: location()
            }
            .is_permanent()
        );
        assert!(status(403).is_permanent());
        assert!(status(410).is_permanent());
        assert!(!status(500).is_permanent());
        assert!(!status(503).is_permanent());
        assert!(!status(429).is_permanent());
        let deadline = FetchError::Deadline {
            location: location(),
            secs: 1,
            attempts: 1,
        };
        assert!(!deadline.is_permanent());
    }

    #[test]
    fn local_paths_are_told_from_urls() {
        assert_eq!(
            local_path("/srv/a.json"),
            Some(PathBuf::from("/srv/a.json"))
        );
        assert_eq!(
            local_path("file:///srv/a.json"),
            Some(PathBuf::from("/srv/a.json"))
        );
        assert_eq!(local_path("https://example.org/a.json"), None);
        assert_eq!(local_path(""), None);
    }
}
