//! Session identity from JWTs: `sub` = user id, `exp`, optional `roles: ["admin"]`; `nbf` is
//! enforced, `aud` and `iss` when configured, and a maximum lifetime when configured.
//!
//! A token that fails verification is an error, never an anonymous or different identity. The
//! identity itself is a domain type (`domain::identity`); this module only verifies and signs.
//! Keys come from one source (`keys`): an HMAC secret, a PEM public key, or the issuer's JWKS
//! (`jwks`), whose fetches are the only I/O here: [`Authenticator::verify`] uses the keys at
//! hand, [`Authenticator::verify_fresh`] first fetches the key set when the token needs it.

mod command;
mod error;
mod jwks;
mod keys;

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{decode, decode_header, encode, Algorithm, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use command::{inspect, mint, MintError};
pub use error::AuthError;
pub use jwks::{Jwks, JwksError};

use crate::config::{AuthSettings, ConfigError};
use crate::domain::event::EpochMillis;
use crate::domain::identity::{Identity, VerifyToken, ADMIN_ROLE};
use crate::domain::ids::UserId;
use crate::domain::protocol::ProtocolError;
use keys::VerifyKey;

/// Clock skew allowed between the token's issuer and this server, for `exp` and `nbf` checks
/// at connect and `auth` (an open session still ends at `exp`, see `domain::token_expiry`).
const LEEWAY_SECS: u64 = 5;

#[derive(Deserialize)]
struct Claims {
    #[serde(default)]
    sub: Value,
    #[serde(default)]
    roles: Vec<String>,
    // jsonwebtoken checks `exp` (required, a number) and `nbf` after reading these claims, so
    // they are read loosely here and its checks say what is wrong; they are used again for the
    // session's expiry and the lifetime rule.
    #[serde(default)]
    exp: Value,
    #[serde(default)]
    iat: Value,
}

#[derive(Serialize)]
struct IssuedClaims<'a> {
    sub: &'a str,
    exp: u64,
    iat: u64,
    roles: &'a [&'a str],
    #[serde(skip_serializing_if = "Option::is_none")]
    aud: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    iss: Option<&'a str>,
}

enum Keys {
    /// A secret or a public key file: one key for every token.
    Fixed(Arc<VerifyKey>),
    /// The issuer's key set, by the token's `kid`.
    Jwks(Arc<Jwks>),
}

pub struct Authenticator {
    keys: Option<Keys>,
    /// `exp` (and `aud`/`iss` when configured) required, `nbf` checked, the leeway; the
    /// algorithm is set per token from the key it names.
    validation: Validation,
    max_lifetime_secs: Option<u64>,
}

impl Authenticator {
    /// An HMAC secret and no other rule (tests, tools); `None` or empty: auth disabled.
    pub fn new(secret: Option<&str>) -> Self {
        let keys = secret
            .filter(|s| !s.is_empty())
            .map(|s| Keys::Fixed(Arc::new(VerifyKey::secret(s.as_bytes()))));
        Authenticator::with(keys, &AuthSettings::default())
    }

    /// The verifier the validated settings describe. `demo_secret`, in demo mode, replaces the
    /// configured secret (validation made sure no other key source is set then). Reads the public
    /// key file; a bad one is a config error naming `auth.public_key_file`.
    pub fn from_settings(
        auth: &AuthSettings,
        demo_secret: Option<&str>,
    ) -> Result<Self, ConfigError> {
        let keys = if let Some(secret) = demo_secret.or(auth.jwt_secret.as_deref()) {
            Some(Keys::Fixed(Arc::new(VerifyKey::secret(secret.as_bytes()))))
        } else if let Some(path) = &auth.public_key_file {
            let invalid = |why: &dyn std::fmt::Display| {
                ConfigError::invalid("auth.public_key_file", path.display(), why)
            };
            let pem = std::fs::read(path).map_err(|e| invalid(&format!("cannot read it: {e}")))?;
            let key = VerifyKey::from_pem(&pem).map_err(|why| invalid(&why))?;
            Some(Keys::Fixed(Arc::new(key)))
        } else {
            auth.jwks_url.as_ref().map(|url| {
                let policy = jwks::Policy {
                    min_refresh: Duration::from_secs(auth.jwks_min_refresh_secs),
                    max_age: Duration::from_secs(auth.jwks_max_age_secs),
                };
                Keys::Jwks(Arc::new(Jwks::new(url.clone(), policy)))
            })
        };
        Ok(Authenticator::with(keys, auth))
    }

    fn with(keys: Option<Keys>, auth: &AuthSettings) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        // `sub` is checked below instead: jsonwebtoken's own check accepts only string subjects,
        // and producers' user ids are often numbers.
        let mut required = vec!["exp"];
        validation.validate_nbf = true;
        validation.leeway = LEEWAY_SECS;
        if let Some(audience) = &auth.audience {
            validation.set_audience(&[audience]);
            required.push("aud");
        }
        if let Some(issuer) = &auth.issuer {
            validation.set_issuer(&[issuer]);
            required.push("iss");
        }
        validation.set_required_spec_claims(&required);
        Authenticator {
            keys,
            validation,
            max_lifetime_secs: Some(auth.max_token_lifetime_secs).filter(|&max| max > 0),
        }
    }

    pub fn enabled(&self) -> bool {
        self.keys.is_some()
    }

    /// The key set, when tokens are verified against one.
    pub fn jwks(&self) -> Option<&Arc<Jwks>> {
        match &self.keys {
            Some(Keys::Jwks(jwks)) => Some(jwks),
            _ => None,
        }
    }

    /// Verifies with the keys at hand. A token naming a key the JWKS lacks is refused, and
    /// starts a (rate-limited) refresh in the background so that a retry can succeed.
    pub fn verify(&self, token: &str) -> Result<Identity, AuthError> {
        let keys = self.keys.as_ref().ok_or(AuthError::Disabled)?;
        let header = decode_header(token).map_err(|e| AuthError::from_jwt(e.kind()))?;
        let key = match keys {
            Keys::Fixed(key) => key.clone(),
            Keys::Jwks(jwks) => {
                let kid = header.kid.as_deref();
                jwks.refresh_in_background(kid);
                jwks.key_for(kid)
                    .ok_or_else(|| AuthError::UnknownKey(header.kid.clone()))?
            }
        };
        if !key.algorithms.contains(&header.alg) {
            return Err(AuthError::WrongAlgorithm {
                got: format!("{:?}", header.alg),
                accepted: key.algorithm_names(),
            });
        }
        let mut validation = self.validation.clone();
        validation.algorithms = vec![header.alg];
        let claims = decode::<Claims>(token, &key.key, &validation)
            .map_err(|e| refine(AuthError::from_jwt(e.kind()), token))?
            .claims;
        let exp = claims
            .exp
            .as_f64()
            .ok_or_else(|| AuthError::MissingClaim("exp".into()))?;
        self.check_lifetime(exp, claims.iat.as_f64(), now_secs())?;
        let user = match &claims.sub {
            Value::String(s) => UserId::new(s.as_str()),
            Value::Number(n) => UserId::new(n.to_string()),
            _ => None,
        }
        .ok_or(AuthError::BadSubject)?;
        Ok(Identity {
            user: Some(user),
            admin: claims.roles.iter().any(|r| r == ADMIN_ROLE),
            expires_at: Some(EpochMillis((exp * 1000.0) as i64)),
        })
    }

    /// Whether [`Authenticator::prefetch`] may change the outcome for this token: the issuer's
    /// key set lacks its key or is stale.
    pub fn needs_fetch(&self, token: &str) -> bool {
        match &self.keys {
            Some(Keys::Jwks(jwks)) => jwks.wants_fetch(kid_of(token).as_deref()),
            _ => false,
        }
    }

    /// Fetches the issuer's key set when the token needs it (see `jwks` for the rate limit).
    pub async fn prefetch(&self, token: &str) {
        if let Some(Keys::Jwks(jwks)) = &self.keys {
            jwks.refresh_for(kid_of(token).as_deref()).await;
        }
    }

    /// [`Authenticator::prefetch`], then [`Authenticator::verify`].
    pub async fn verify_fresh(&self, token: &str) -> Result<Identity, AuthError> {
        self.prefetch(token).await;
        self.verify(token)
    }

    fn check_lifetime(&self, exp: f64, iat: Option<f64>, now: u64) -> Result<(), AuthError> {
        let Some(max_secs) = self.max_lifetime_secs else {
            return Ok(());
        };
        let from = iat.unwrap_or(now as f64);
        let lifetime_secs = (exp - from).max(0.0).ceil() as u64;
        if lifetime_secs > max_secs {
            return Err(AuthError::LivesTooLong {
                lifetime_secs,
                max_secs,
            });
        }
        Ok(())
    }
}

/// jsonwebtoken reports a date claim of the wrong type (`"exp": "tomorrow"`) as missing; say
/// what is really wrong. Reading the claims unverified is fine here: the token is refused anyway.
fn refine(error: AuthError, token: &str) -> AuthError {
    match error {
        AuthError::MissingClaim(claim) => {
            let claims = jsonwebtoken::dangerous::insecure_decode_claims::<Value>(token);
            match claims.ok().as_ref().and_then(|c| c.get(&claim)) {
                Some(v) if !v.is_number() && ["exp", "nbf"].contains(&claim.as_str()) => {
                    AuthError::Malformed(format!(
                        "claim {claim} has the wrong type (epoch seconds, a number)"
                    ))
                }
                _ => AuthError::MissingClaim(claim),
            }
        }
        other => other,
    }
}

fn kid_of(token: &str) -> Option<String> {
    decode_header(token).ok().and_then(|h| h.kid)
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
}

impl VerifyToken for Authenticator {
    fn verify_token(&self, token: &str) -> Result<Identity, ProtocolError> {
        self.verify(token)
            .map_err(|e| ProtocolError::new(e.code(), e.to_string()))
    }
}

/// What a signed token says.
#[derive(Debug, Clone, Copy)]
pub struct TokenRequest<'a> {
    pub user: &'a str,
    pub roles: &'a [&'a str],
    pub ttl_secs: i64,
    pub audience: Option<&'a str>,
    pub issuer: Option<&'a str>,
}

/// Signs an HS256 token with `secret`.
pub fn sign(secret: &str, request: &TokenRequest<'_>) -> String {
    let now = now_secs();
    let claims = IssuedClaims {
        sub: request.user,
        exp: (now as i64 + request.ttl_secs).max(0) as u64,
        iat: now,
        roles: request.roles,
        aud: request.audience,
        iss: request.issuer,
    };
    // unwrap: HS256 signing with an in-memory secret has no failure mode.
    encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .expect("HS256 signing cannot fail")
}

/// Signs a token with no audience or issuer; used by the demo-token endpoint and the tests.
pub fn issue_token(secret: &str, user: &str, roles: &[&str], ttl_secs: i64) -> String {
    sign(
        secret,
        &TokenRequest {
            user,
            roles,
            ttl_secs,
            audience: None,
            issuer: None,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::protocol::ErrorCode;

    #[test]
    fn valid_token_gives_user_and_roles() {
        let auth = Authenticator::new(Some("s3cret"));
        let id = auth
            .verify(&issue_token("s3cret", "42", &["admin"], 60))
            .unwrap();
        assert_eq!(id.user.unwrap().as_str(), "42");
        assert!(id.admin);
        let id = auth.verify(&issue_token("s3cret", "7", &[], 60)).unwrap();
        assert!(!id.admin);
    }

    #[test]
    fn numeric_subjects_are_user_ids_and_a_missing_subject_is_refused() {
        let key = EncodingKey::from_secret(b"s3cret");
        let exp = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs()
            + 60;
        let numeric = encode(
            &Header::default(),
            &serde_json::json!({"sub": 42, "exp": exp}),
            &key,
        )
        .unwrap();
        let auth = Authenticator::new(Some("s3cret"));
        assert_eq!(auth.verify(&numeric).unwrap().user.unwrap().as_str(), "42");
        let anonymous = encode(&Header::default(), &serde_json::json!({"exp": exp}), &key).unwrap();
        assert_eq!(auth.verify(&anonymous), Err(AuthError::BadSubject));
    }

    #[test]
    fn forged_expired_and_garbage_tokens_are_refused() {
        let auth = Authenticator::new(Some("s3cret"));
        assert_eq!(
            auth.verify(&issue_token("other", "42", &[], 60)),
            Err(AuthError::BadSignature)
        );
        assert_eq!(
            auth.verify(&issue_token("s3cret", "42", &[], -120)),
            Err(AuthError::Expired)
        );
        assert!(matches!(
            auth.verify("not.a.token"),
            Err(AuthError::Malformed(_))
        ));
    }

    fn signed(claims: serde_json::Value) -> String {
        encode(
            &Header::default(),
            &claims,
            &EncodingKey::from_secret(b"s3cret"),
        )
        .unwrap()
    }

    fn strict() -> Authenticator {
        let settings = AuthSettings {
            jwt_secret: Some("s3cret".into()),
            audience: Some("tickrouter".into()),
            issuer: Some("https://id.example.com".into()),
            max_token_lifetime_secs: 3600,
            ..AuthSettings::default()
        };
        Authenticator::from_settings(&settings, None).unwrap()
    }

    #[test]
    fn audience_issuer_nbf_and_lifetime_are_enforced_when_configured() {
        let now = now_secs();
        let good = serde_json::json!({"sub": "1", "exp": now + 60, "iat": now,
            "aud": "tickrouter", "iss": "https://id.example.com"});
        let with = |key: &str, value: serde_json::Value| {
            let mut claims = good.clone();
            claims[key] = value;
            signed(claims)
        };
        let without = |key: &str| {
            let mut claims = good.clone();
            claims.as_object_mut().unwrap().remove(key);
            signed(claims)
        };
        let auth = strict();
        let id = auth.verify(&signed(good.clone())).unwrap();
        assert_eq!(id.expires_at, Some(EpochMillis((now as i64 + 60) * 1000)));
        let cases = [
            (with("aud", "other".into()), AuthError::WrongAudience),
            (with("iss", "https://evil".into()), AuthError::WrongIssuer),
            (without("aud"), AuthError::MissingClaim("aud".into())),
            (without("iss"), AuthError::MissingClaim("iss".into())),
            (with("nbf", (now + 600).into()), AuthError::NotYetValid),
            (
                with("exp", (now + 7200).into()),
                AuthError::LivesTooLong {
                    lifetime_secs: 7200,
                    max_secs: 3600,
                },
            ),
        ];
        for (token, expected) in cases {
            assert_eq!(auth.verify(&token), Err(expected));
        }
        // without iat the lifetime counts from now
        let long = without("iat");
        assert!(auth.verify(&long).is_ok());
        assert!(auth.verify(&with("nbf", now.into())).is_ok());
        // unconfigured, aud and iss are not required
        let lax = Authenticator::new(Some("s3cret"));
        assert!(lax
            .verify(&signed(serde_json::json!({"sub": "1", "exp": now + 60})))
            .is_ok());
    }

    #[test]
    fn a_token_cannot_choose_an_algorithm_its_key_does_not_allow() {
        let pem = b"-----BEGIN PUBLIC KEY-----\n\
                    MCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=\n\
                    -----END PUBLIC KEY-----\n";
        let dir = std::env::temp_dir().join(format!("tickrouter-auth-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("ed.pem");
        std::fs::write(&file, pem).unwrap();
        let settings = AuthSettings {
            public_key_file: Some(file),
            ..AuthSettings::default()
        };
        let auth = Authenticator::from_settings(&settings, None).unwrap();
        // an HS256 token signed with the public key's bytes: the classic confusion attack
        let forged = issue_token(&String::from_utf8_lossy(pem), "1", &["admin"], 60);
        let err = auth.verify(&forged).unwrap_err();
        assert_eq!(
            err.to_string(),
            "wrong algorithm: the token is signed with HS256, this server accepts EdDSA"
        );
    }

    #[test]
    fn a_bad_public_key_file_is_a_config_error_naming_the_key() {
        let settings = AuthSettings {
            public_key_file: Some("/nonexistent/key.pem".into()),
            ..AuthSettings::default()
        };
        let err = Authenticator::from_settings(&settings, None).err().unwrap();
        assert!(
            matches!(&err, ConfigError::Invalid { key, .. } if key == "auth.public_key_file"),
            "{err}"
        );
    }

    #[test]
    fn no_secret_refuses_every_token() {
        let auth = Authenticator::new(None);
        assert!(!auth.enabled());
        assert!(!Authenticator::new(Some("")).enabled());
        assert_eq!(
            auth.verify(&issue_token("x", "1", &[], 60)),
            Err(AuthError::Disabled)
        );
    }

    #[test]
    fn session_refusals_carry_the_auth_error_code() {
        let refused = |auth: &Authenticator, token: &str| auth.verify_token(token).unwrap_err();
        let disabled = refused(&Authenticator::new(None), "t");
        assert_eq!(disabled.code, ErrorCode::AuthDisabled);
        assert_eq!(disabled.message, AuthError::Disabled.to_string());
        let auth = Authenticator::new(Some("k"));
        let expired = issue_token("k", "1", &[], -120);
        assert_eq!(refused(&auth, &expired).code, ErrorCode::InvalidToken);
        assert_eq!(refused(&auth, "garbage").code, ErrorCode::InvalidToken);
    }
}
