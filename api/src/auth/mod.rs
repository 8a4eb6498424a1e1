//! Who is calling and what they may do (F29): API keys with roles, presented as
//! `Authorization: Bearer <key>` on HTTP and in the WebSocket `connection_init` payload.
//!
//! - [`Authenticator`] turns credentials into a [`Caller`] (or refuses them) before anything is
//!   parsed: one indexed lookup of the key's hash per request, so a revocation holds at once.
//! - [`policy`] decides, per root field, which role an operation needs; it runs inside the
//!   schema (an extension), so HTTP and WebSocket are checked alike, before argument validation.
//! - With no key in force the platform runs open (every caller is an admin): allowed on a
//!   loopback address for development, elsewhere only when explicitly asked for
//!   (`VISION_ALLOW_OPEN`).

pub mod audit;
pub mod jwt;
pub mod keys;
pub mod policy;
pub mod rate;
pub mod shared;

use std::net::SocketAddr;

use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use vision_db::Db;
pub use vision_db::Role;

use crate::errors::{ApiError, ErrorCode};

/// The caller of one request or WebSocket session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    /// Who, for records: `key:<id>` (never the key), or `anonymous`.
    pub actor: String,
    /// What they may do; `None`: not signed in while keys are required.
    pub role: Option<Role>,
}

impl Caller {
    /// Who presented credentials that were refused, for the record.
    pub fn unauthenticated() -> Self {
        Self {
            actor: "unauthenticated".into(),
            role: None,
        }
    }

    fn anonymous(role: Option<Role>) -> Self {
        Self {
            actor: "anonymous".into(),
            role,
        }
    }

    /// Who the caller is for counting limits: an API key or a token subject; `None` for an
    /// anonymous caller, counted by its IP instead.
    pub fn identified(&self) -> Option<&str> {
        (self.actor.starts_with("key:") || self.actor.starts_with("jwt:"))
            .then_some(self.actor.as_str())
    }

    /// Refuses unless the caller holds `needed` (or a role above it).
    pub fn require(&self, needed: Role) -> Result<(), ApiError> {
        match self.role {
            Some(role) if role >= needed => Ok(()),
            Some(role) => Err(ApiError::new(
                ErrorCode::Forbidden,
                format!(
                    "this needs the role {} (or above); the caller is {}",
                    needed.as_str(),
                    role.as_str()
                ),
            )),
            None => Err(unauthenticated()),
        }
    }
}

fn unauthenticated() -> ApiError {
    ApiError::new(
        ErrorCode::Unauthenticated,
        "sign in: send `Authorization: Bearer <API key>` (create one with `vision keys create`)",
    )
}

/// Turns credentials into callers.
#[derive(Clone)]
pub struct Authenticator {
    db: Db,
    /// Whether callers without a key are admins while no key is in force (never with JWTs).
    open_allowed: bool,
    jwt: Option<jwt::JwtVerifier>,
}

impl Authenticator {
    pub fn new(db: Db, open_allowed: bool) -> Self {
        Self {
            db,
            open_allowed,
            jwt: None,
        }
    }

    /// Accepts JWT bearer tokens too.
    pub fn with_jwt(mut self, verifier: Option<jwt::JwtVerifier>) -> Self {
        if verifier.is_some() {
            self.open_allowed = false;
        }
        self.jwt = verifier;
        self
    }

    /// The caller presenting `authorization` (an `Authorization` header value, or the same
    /// text from a WebSocket `connection_init` payload). A key that is unknown or revoked is an
    /// error; no key at all is an anonymous caller, an admin only while the platform runs open.
    pub async fn authenticate(&self, authorization: Option<&str>) -> Result<Caller, ApiError> {
        match authorization.map(str::trim).filter(|v| !v.is_empty()) {
            Some(value) => {
                let Some(token) = bearer_token(value) else {
                    return Err(ApiError::new(
                        ErrorCode::Unauthenticated,
                        "the Authorization header is `Bearer <API key>`",
                    ));
                };
                if let Some(verifier) = &self.jwt
                    && jwt::looks_like_jwt(token)
                {
                    return verifier.verify(token);
                }
                let found = self.db.active_api_key(&keys::hash(token)).await?;
                match found {
                    Some(key) => Ok(Caller {
                        actor: format!("key:{}", key.id),
                        role: Some(key.role),
                    }),
                    None => Err(ApiError::new(
                        ErrorCode::Unauthenticated,
                        "unknown or revoked API key",
                    )),
                }
            }
            None if self.runs_open().await? => Ok(Caller::anonymous(Some(Role::Admin))),
            None => Ok(Caller::anonymous(None)),
        }
    }

    /// The caller of an HTTP request.
    pub async fn from_headers(&self, headers: &HeaderMap) -> Result<Caller, ApiError> {
        let value = match headers.get(AUTHORIZATION) {
            Some(value) => Some(value.to_str().map_err(|_| {
                ApiError::new(
                    ErrorCode::Unauthenticated,
                    "unreadable Authorization header",
                )
            })?),
            None => None,
        };
        self.authenticate(value).await
    }

    /// Whether a caller signed in earlier (a WebSocket session) may still act: its key is not
    /// revoked, or, without a key, the platform still runs open.
    pub async fn still_valid(&self, caller: &Caller) -> Result<bool, ApiError> {
        if caller.actor.starts_with("jwt:") {
            // Checked when the session opened; its expiry ends the next session, not this one.
            return Ok(true);
        }
        match caller.actor.strip_prefix("key:").map(uuid::Uuid::parse_str) {
            Some(Ok(id)) => Ok(self.db.api_key_in_force(id).await?),
            Some(Err(_)) => Ok(false),
            None => self.runs_open().await,
        }
    }

    /// Whether callers need no key now: open mode allowed and no key in force.
    pub async fn runs_open(&self) -> Result<bool, ApiError> {
        Ok(self.open_allowed && !self.db.any_active_api_key().await?)
    }
}

/// `Bearer <token>` (the scheme in any case), or `None`.
fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// Whether the platform may run open, decided once at start: on a loopback address, or when
/// told to (`allow_open`). Elsewhere, with no key in force, it refuses to start.
pub async fn open_allowed(
    db: &Db,
    addr: SocketAddr,
    allow_open: bool,
    jwt: bool,
) -> anyhow::Result<bool> {
    if jwt {
        tracing::info!("JWT bearer tokens accepted: every request needs a token or an API key");
        return Ok(false);
    }
    let loopback = addr.ip().is_loopback();
    let keys = db
        .any_active_api_key()
        .await
        .map_err(|e| anyhow::anyhow!("reading the API keys: {e}"))?;
    match (keys, loopback, allow_open) {
        (true, _, _) => {
            tracing::info!("API keys in force: every request needs `Authorization: Bearer <key>`");
        }
        (false, true, _) | (false, false, true) => tracing::warn!(
            %addr,
            "no API key: running OPEN, every caller is an admin (create a key with \
             `vision keys create --role admin` to require keys)"
        ),
        (false, false, false) => anyhow::bail!(
            "refusing to serve {addr} with no API key: create one with `vision keys create --role \
             admin` (the same DATABASE_URL / VISION_DATA_DIR), or set VISION_ALLOW_OPEN=true to run \
             open on purpose"
        ),
    }
    Ok(loopback || allow_open)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_tokens_are_read_in_any_case() {
        assert_eq!(bearer_token("Bearer abc"), Some("abc"));
        assert_eq!(bearer_token("bearer  abc "), Some("abc"));
        assert_eq!(bearer_token("Basic abc"), None);
        assert_eq!(bearer_token("Bearer "), None);
        assert_eq!(bearer_token("abc"), None);
    }

    #[test]
    fn roles_include_the_ones_below() {
        let caller = |role| Caller {
            actor: "t".into(),
            role,
        };
        assert!(caller(Some(Role::Admin)).require(Role::Uploader).is_ok());
        assert!(caller(Some(Role::Uploader)).require(Role::Uploader).is_ok());
        let refused = caller(Some(Role::Viewer))
            .require(Role::Uploader)
            .unwrap_err();
        assert_eq!(refused.code, ErrorCode::Forbidden);
        let refused = caller(None).require(Role::Viewer).unwrap_err();
        assert_eq!(refused.code, ErrorCode::Unauthenticated);
    }
}
