//! Session identity from HS256 JWTs (`sub` = user id, `exp`, optional `roles: ["admin"]`).
//!
//! A token that fails verification is an error, never an anonymous or different identity. The
//! identity itself is a domain type (`domain::identity`); this module only verifies and signs.

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{decode, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::domain::identity::{Identity, VerifyToken, ADMIN_ROLE};
use crate::domain::ids::UserId;
use crate::domain::protocol::{ErrorCode, ProtocolError};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthError {
    /// No secret is configured, so no token can be verified.
    Disabled,
    Expired,
    Invalid(String),
}

impl fmt::Display for AuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AuthError::Disabled => f.write_str("authentication is not configured on this server"),
            AuthError::Expired => f.write_str("token expired"),
            AuthError::Invalid(why) => write!(f, "invalid token: {why}"),
        }
    }
}

impl std::error::Error for AuthError {}

impl AuthError {
    /// The code a refused client is told, over WebSocket and HTTP alike: whether it can fix
    /// its token (`invalid_token`) or the server cannot check any (`auth_disabled`).
    pub fn code(&self) -> ErrorCode {
        match self {
            AuthError::Disabled => ErrorCode::AuthDisabled,
            AuthError::Expired | AuthError::Invalid(_) => ErrorCode::InvalidToken,
        }
    }
}

#[derive(Deserialize)]
struct Claims {
    #[serde(default)]
    sub: Value,
    #[serde(default)]
    roles: Vec<String>,
}

#[derive(Serialize)]
struct IssuedClaims<'a> {
    sub: &'a str,
    exp: u64,
    roles: &'a [&'a str],
}

pub struct Authenticator {
    key: Option<DecodingKey>,
    validation: Validation,
}

impl Authenticator {
    pub fn new(secret: Option<&str>) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        // `sub` is checked below instead: jsonwebtoken's own check accepts only string subjects,
        // and producers' user ids are often numbers.
        validation.set_required_spec_claims(&["exp"]);
        validation.leeway = 5;
        Authenticator {
            key: secret
                .filter(|s| !s.is_empty())
                .map(|s| DecodingKey::from_secret(s.as_bytes())),
            validation,
        }
    }

    pub fn enabled(&self) -> bool {
        self.key.is_some()
    }

    pub fn verify(&self, token: &str) -> Result<Identity, AuthError> {
        let key = self.key.as_ref().ok_or(AuthError::Disabled)?;
        let data = decode::<Claims>(token, key, &self.validation).map_err(|e| match e.kind() {
            ErrorKind::ExpiredSignature => AuthError::Expired,
            other => AuthError::Invalid(format!("{other:?}")),
        })?;
        let user = match &data.claims.sub {
            Value::String(s) => UserId::new(s.as_str()),
            Value::Number(n) => UserId::new(n.to_string()),
            _ => None,
        }
        .ok_or_else(|| AuthError::Invalid("sub must be a non-empty string or number".into()))?;
        Ok(Identity {
            user: Some(user),
            admin: data.claims.roles.iter().any(|r| r == ADMIN_ROLE),
        })
    }
}

impl VerifyToken for Authenticator {
    fn verify_token(&self, token: &str) -> Result<Identity, ProtocolError> {
        self.verify(token)
            .map_err(|e| ProtocolError::new(e.code(), e.to_string()))
    }
}

/// Signs a token; used by the demo-token endpoint and the tests.
pub fn issue_token(secret: &str, user: &str, roles: &[&str], ttl_secs: i64) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs() as i64;
    let claims = IssuedClaims {
        sub: user,
        exp: (now + ttl_secs).max(0) as u64,
        roles,
    };
    // unwrap: HS256 signing with an in-memory secret has no failure mode.
    encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .expect("HS256 signing cannot fail")
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert!(matches!(
            auth.verify(&anonymous),
            Err(AuthError::Invalid(_))
        ));
    }

    #[test]
    fn forged_expired_and_garbage_tokens_are_refused() {
        let auth = Authenticator::new(Some("s3cret"));
        assert!(matches!(
            auth.verify(&issue_token("other", "42", &[], 60)),
            Err(AuthError::Invalid(_))
        ));
        assert_eq!(
            auth.verify(&issue_token("s3cret", "42", &[], -120)),
            Err(AuthError::Expired)
        );
        assert!(auth.verify("not.a.token").is_err());
    }

    #[test]
    fn no_secret_refuses_every_token() {
        let auth = Authenticator::new(None);
        assert!(!auth.enabled());
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
