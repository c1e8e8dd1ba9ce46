//! Who is calling: `Authorization: Token <key>`, resolved once per request,
//! and the three rules every endpoint applies (read, staff, manager).

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use poem::http::HeaderMap;
use poem::http::header::AUTHORIZATION;
use poem::{Request, RequestBody};
use poem_openapi::registry::{MetaSecurityScheme, Registry};
use poem_openapi::{ApiExtractor, ApiExtractorType, ExtractParamOptions};
use softcat_shared::accounts::{self, User};

use crate::error::ApiError;
use crate::state::AppState;

/// The caller of a request. An absent header is anonymous; a header that
/// does not carry a valid token is refused with 401.
#[derive(Debug, Clone)]
pub enum Caller {
    /// No `Authorization` header.
    Anonymous,
    /// A valid token's user.
    User(User),
}

const SCHEME: &str = "TokenAuth";

impl<'a> ApiExtractor<'a> for Caller {
    const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::SecurityScheme];
    type ParamType = ();
    type ParamRawType = ();

    fn register(registry: &mut Registry) {
        registry.create_security_scheme(
            SCHEME,
            MetaSecurityScheme {
                ty: "apiKey",
                description: Some(
                    "`Authorization: Token <key>`; keys come from `softcat tokens create USER`.",
                ),
                name: Some("Authorization"),
                key_in: Some("header"),
                scheme: None,
                bearer_format: None,
                flows: None,
                openid_connect_url: None,
            },
        );
    }

    fn security_schemes() -> Vec<&'static str> {
        vec![SCHEME]
    }

    fn has_security_fallback() -> bool {
        true
    }

    async fn from_request(
        request: &'a Request,
        _body: &mut RequestBody,
        _options: ExtractParamOptions<()>,
    ) -> poem::Result<Self> {
        // A write's caller was resolved before its body was read.
        if let Some(caller) = request.data::<Caller>() {
            return Ok(caller.clone());
        }
        let state = request.data::<AppState>().ok_or(ApiError::Internal)?;
        Ok(resolve(state, request.headers()).await?)
    }
}

/// How long a verified token is trusted without asking the database again,
/// while the account generation stays where it was.
pub const TOKEN_TTL: Duration = Duration::from_secs(60);

/// Verified tokens are trusted only while the account generation was read
/// this recently: a process that cannot read it (the database is away)
/// cannot learn of revocations, so it asks the database on every request.
pub const GENERATION_FRESHNESS: Duration = Duration::from_secs(1);

/// One verified token.
#[derive(Debug, Clone)]
struct Verified {
    user: User,
    at: Instant,
    /// The account generation read before the token was looked up.
    generation: i64,
}

/// Tokens verified recently, by key, each valid for the account generation
/// it was verified under (see `softcat_shared::browse::generation`). When
/// the generation moves — a token revoked, a user deleted or its staff
/// flag changed, in any process — every entry is dropped; the generation
/// is polled every [`crate::cache::POLL_INTERVAL`], which bounds how long a
/// revoked token may still be served.
pub struct TokenCache {
    entries: quick_cache::sync::Cache<String, Verified>,
    generation: AtomicI64,
    /// When the generation was last read, as milliseconds since `epoch`.
    read_at: AtomicU64,
    epoch: Instant,
}

impl TokenCache {
    /// An empty cache for at most `capacity` tokens.
    pub fn new(capacity: usize) -> Self {
        Self {
            entries: quick_cache::sync::Cache::new(capacity),
            generation: AtomicI64::new(i64::MIN),
            read_at: AtomicU64::new(0),
            epoch: Instant::now(),
        }
    }

    /// Records an account generation read from the database; entries of
    /// older generations are dropped.
    pub fn observe(&self, generation: i64) {
        let before = self.generation.fetch_max(generation, Ordering::SeqCst);
        if generation > before {
            self.entries.clear();
        }
        let now = u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX);
        // 0 means "never read".
        self.read_at.store(now.max(1), Ordering::SeqCst);
    }

    /// The account generation, if it was read recently enough to trust.
    fn fresh_generation(&self) -> Option<i64> {
        let read_at = self.read_at.load(Ordering::SeqCst);
        let now = self.epoch.elapsed().as_millis();
        let fresh = read_at != 0
            && now.saturating_sub(u128::from(read_at)) < GENERATION_FRESHNESS.as_millis();
        fresh.then(|| self.generation.load(Ordering::SeqCst))
    }

    /// The user of a key verified under the current generation.
    fn get(&self, key: &str) -> Option<User> {
        let generation = self.fresh_generation()?;
        self.entries
            .get(key)
            .filter(|entry| entry.generation == generation && entry.at.elapsed() < TOKEN_TTL)
            .map(|entry| entry.user)
    }

    /// Remembers a key verified under `generation`, read before the
    /// database was asked: if the generation has moved since, the entry is
    /// never served.
    fn insert(&self, key: &str, user: User, generation: Option<i64>) {
        if let Some(generation) = generation {
            self.entries.insert(
                key.to_owned(),
                Verified {
                    user,
                    at: Instant::now(),
                    generation,
                },
            );
        }
    }
}

/// The caller a request's headers name.
pub async fn resolve(state: &AppState, headers: &HeaderMap) -> Result<Caller, ApiError> {
    let Some(header) = headers.get(AUTHORIZATION) else {
        return Ok(Caller::Anonymous);
    };
    let key = header
        .to_str()
        .ok()
        .and_then(token_key)
        .ok_or(ApiError::Unauthorized(
            "the Authorization header must be `Token <key>`",
        ))?;
    if let Some(user) = state.tokens.get(key) {
        return Ok(Caller::User(user));
    }
    let generation = state.tokens.fresh_generation();
    match accounts::authenticate(&state.db, key).await? {
        Some(user) => {
            state.tokens.insert(key, user.clone(), generation);
            Ok(Caller::User(user))
        }
        None => Err(ApiError::Unauthorized("invalid token")),
    }
}

/// The key of `Token <key>`; the keyword in any case, as HTTP schemes are.
fn token_key(value: &str) -> Option<&str> {
    let (scheme, key) = value
        .trim_start()
        .split_once(|c: char| c.is_ascii_whitespace())?;
    let key = key.trim();
    (scheme.eq_ignore_ascii_case("token") && !key.is_empty()).then_some(key)
}

const NO_CREDENTIALS: ApiError =
    ApiError::Unauthorized("authentication credentials were not provided");

impl Caller {
    /// Catalog data is readable by any user, and by anyone when configured.
    pub fn require_reader(&self, state: &AppState) -> Result<(), ApiError> {
        match self {
            Self::Anonymous if !state.anonymous_reads => Err(NO_CREDENTIALS),
            _ => Ok(()),
        }
    }

    /// Changes need a user.
    pub fn require_user(&self) -> Result<&User, ApiError> {
        match self {
            Self::Anonymous => Err(NO_CREDENTIALS),
            Self::User(user) => Ok(user),
        }
    }

    /// Only staff change catalogs and create offerings.
    pub fn require_staff(&self) -> Result<&User, ApiError> {
        let user = self.require_user()?;
        if user.is_staff {
            Ok(user)
        } else {
            Err(ApiError::Forbidden("only staff may do this"))
        }
    }

    /// Staff, or a manager of this offering.
    pub async fn require_manager(
        &self,
        state: &AppState,
        offering_id: i64,
    ) -> Result<(), ApiError> {
        let user = self.require_user()?;
        if user.is_staff || accounts::manages_offering(&state.db, user.id, offering_id).await? {
            Ok(())
        } else {
            Err(ApiError::Forbidden(
                "only staff and this offering's managers may do this",
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::token_key;

    #[test]
    fn the_token_keyword_is_case_insensitive() {
        for value in ["Token abc", "token abc", "TOKEN abc", "tOkEn   abc "] {
            assert_eq!(token_key(value), Some("abc"), "{value}");
        }
        for value in ["Bearer abc", "Token", "Token ", "Tokenabc", ""] {
            assert_eq!(token_key(value), None, "{value}");
        }
    }
}
