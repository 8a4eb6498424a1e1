//! JWT bearer tokens (F29), for users with an identity provider: HS256 with a shared secret, or
//! RS256 / ES256 with the provider's public key; the role from a claim (`role` by default), the
//! actor from `sub`. Expiry is required; audience and issuer are checked when configured. A
//! token that is valid but grants no role here is FORBIDDEN (403, WebSocket close 4403): the
//! provider vouches for the subject, this platform gives it nothing.

use std::path::PathBuf;

use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header};
use serde::Deserialize;

use super::{Caller, Role};
use crate::errors::{ApiError, ErrorCode};

/// How tokens are checked, from the configuration.
#[derive(Clone, Debug, Default)]
pub struct JwtSettings {
    /// HS256 secret.
    pub secret: Option<String>,
    /// PEM public key file (RSA: RS256, EC P-256: ES256).
    pub public_key: Option<PathBuf>,
    pub audience: Option<String>,
    pub issuer: Option<String>,
    /// The claim that holds the role (`viewer`, `uploader`, `admin`).
    pub role_claim: String,
}

/// A configured verifier.
#[derive(Clone)]
pub struct JwtVerifier {
    key: DecodingKey,
    algorithm: Algorithm,
    validation: Validation,
    role_claim: String,
}

#[derive(Deserialize)]
struct Claims {
    sub: Option<String>,
    #[serde(flatten)]
    rest: serde_json::Map<String, serde_json::Value>,
}

impl JwtVerifier {
    /// `None` when no secret nor key is configured.
    pub fn from_settings(settings: &JwtSettings) -> anyhow::Result<Option<Self>> {
        let (key, algorithm) = match (&settings.secret, &settings.public_key) {
            (None, None) => return Ok(None),
            (Some(_), Some(_)) => {
                anyhow::bail!("set VISION_JWT_SECRET or VISION_JWT_PUBLIC_KEY, not both")
            }
            (Some(secret), None) => {
                if secret.len() < 32 {
                    anyhow::bail!("VISION_JWT_SECRET must be at least 32 bytes (HS256)");
                }
                (
                    DecodingKey::from_secret(secret.as_bytes()),
                    Algorithm::HS256,
                )
            }
            (None, Some(path)) => {
                let pem = std::fs::read(path).map_err(|e| {
                    anyhow::anyhow!("VISION_JWT_PUBLIC_KEY {}: {e}", path.display())
                })?;
                if let Ok(key) = DecodingKey::from_ec_pem(&pem) {
                    (key, Algorithm::ES256)
                } else {
                    let key = DecodingKey::from_rsa_pem(&pem).map_err(|e| {
                        anyhow::anyhow!(
                            "VISION_JWT_PUBLIC_KEY {}: neither an EC nor an RSA public key in PEM ({e})",
                            path.display()
                        )
                    })?;
                    (key, Algorithm::RS256)
                }
            }
        };
        let mut validation = Validation::new(algorithm);
        validation.set_required_spec_claims(&["exp"]);
        validation.leeway = 30;
        match &settings.audience {
            Some(audience) => validation.set_audience(&[audience]),
            None => validation.validate_aud = false,
        }
        if let Some(issuer) = &settings.issuer {
            validation.set_issuer(&[issuer]);
        }
        Ok(Some(Self {
            key,
            algorithm,
            validation,
            role_claim: settings.role_claim.clone(),
        }))
    }

    /// The caller a token names, or why it is refused.
    pub fn verify(&self, token: &str) -> Result<Caller, ApiError> {
        let refused = |why: String| ApiError::new(ErrorCode::Unauthenticated, why);
        let header = decode_header(token).map_err(|e| refused(format!("not a valid JWT: {e}")))?;
        if header.alg != self.algorithm {
            return Err(refused(format!(
                "the token is signed with {:?}; this server accepts {:?}",
                header.alg, self.algorithm
            )));
        }
        let claims = decode::<Claims>(token, &self.key, &self.validation)
            .map_err(|e| refused(format!("JWT refused: {e}")))?
            .claims;
        let role = claims
            .rest
            .get(&self.role_claim)
            .and_then(|v| v.as_str())
            .and_then(Role::parse)
            .ok_or_else(|| {
                ApiError::new(
                    ErrorCode::Forbidden,
                    format!(
                        "the token is valid but its `{}` claim is not viewer, uploader or admin",
                        self.role_claim
                    ),
                )
            })?;
        let subject = claims.sub.unwrap_or_else(|| "unknown".into());
        Ok(Caller {
            actor: format!("jwt:{subject}"),
            role: Some(role),
        })
    }
}

/// Whether a bearer token has a JWT's shape (three base64url parts).
pub fn looks_like_jwt(token: &str) -> bool {
    token.split('.').count() == 3 && !token.starts_with(super::keys::KEY_PREFIX)
}
