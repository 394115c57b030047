//! `tickrouter token`: mints a token with this server's secret, or says whether a token is valid
//! on this server and, if not, why, in plain words with the claims that explain it.

use std::fmt;

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::{sign, Authenticator, TokenRequest};
use crate::config::AuthSettings;
use crate::domain::identity::ADMIN_ROLE;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MintError {
    /// No secret: nothing to sign with.
    NoSecret,
    /// The server holds only a public key; the issuer holds the private one.
    PublicKeyOnly,
    /// The server would refuse the token it was asked to mint.
    LivesTooLong { ttl_secs: u64, max_secs: u64 },
}

impl fmt::Display for MintError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MintError::NoSecret => {
                f.write_str("no secret to sign with: set auth.jwt_secret or TICKROUTER_JWT_SECRET")
            }
            MintError::PublicKeyOnly => f.write_str(
                "this server verifies tokens with a public key (auth.public_key_file or \
                 auth.jwks_url); only the issuer, who holds the private key, can mint them",
            ),
            MintError::LivesTooLong { ttl_secs, max_secs } => write!(
                f,
                "a token valid for {ttl_secs} s would be refused: auth.max_token_lifetime_secs \
                 is {max_secs}"
            ),
        }
    }
}

impl std::error::Error for MintError {}

/// A token for `user` that this server accepts: signed with its secret, with its audience and
/// issuer when it checks them.
pub fn mint(
    auth: &AuthSettings,
    user: &str,
    admin: bool,
    ttl_secs: u64,
) -> Result<String, MintError> {
    let Some(secret) = &auth.jwt_secret else {
        return Err(
            match auth.public_key_file.is_some() || auth.jwks_url.is_some() {
                true => MintError::PublicKeyOnly,
                false => MintError::NoSecret,
            },
        );
    };
    let max_secs = auth.max_token_lifetime_secs;
    if max_secs > 0 && ttl_secs > max_secs {
        return Err(MintError::LivesTooLong { ttl_secs, max_secs });
    }
    let roles: &[&str] = if admin { &[ADMIN_ROLE] } else { &[] };
    Ok(sign(
        secret,
        &TokenRequest {
            user,
            roles,
            ttl_secs: ttl_secs.min(i64::MAX as u64) as i64,
            audience: auth.audience.as_deref(),
            issuer: auth.issuer.as_deref(),
        },
    ))
}

/// Whether `token` is valid on this server, and a report that says why (not): the verdict,
/// then what the token claims (read without verifying, so the reader can see what is wrong).
/// With a JWKS, fetch it before (`Jwks::fetch_blocking`) so the keys are at hand.
pub fn inspect(auth: &Authenticator, token: &str, now: DateTime<Utc>) -> (bool, String) {
    let verdict = match auth.verify(token) {
        Ok(identity) => {
            let user = identity
                .user
                .as_ref()
                .map(|u| u.as_str())
                .unwrap_or_default();
            let roles = identity.roles().join(", ");
            format!("valid: user {user:?}, roles [{roles}]")
        }
        Err(e) => format!("invalid: {e}"),
    };
    let valid = verdict.starts_with("valid");
    let mut report = vec![verdict];
    match jsonwebtoken::decode_header(token) {
        Ok(header) => report.push(format!(
            "  header: alg {:?}, kid {}",
            header.alg,
            header.kid.as_deref().unwrap_or("(none)")
        )),
        Err(_) => return (valid, report.join("\n")),
    }
    if let Ok(claims) = jsonwebtoken::dangerous::insecure_decode_claims::<Value>(token) {
        report.push("  claims (as the token states them):".to_owned());
        for (name, value) in claims.as_object().into_iter().flatten() {
            let time = match name.as_str() {
                "exp" | "nbf" | "iat" => value.as_f64().map(|secs| when(secs, now)),
                _ => None,
            };
            report.push(match time {
                Some(time) => format!("    {name}: {value} ({time})"),
                None => format!("    {name}: {value}"),
            });
        }
    }
    (valid, report.join("\n"))
}

/// `2025-11-22T03:33:20Z, in 59 min` / `..., 3 min ago`.
fn when(epoch_secs: f64, now: DateTime<Utc>) -> String {
    let Some(at) = DateTime::from_timestamp(epoch_secs as i64, 0) else {
        return "not a date".to_owned();
    };
    let delta = at.signed_duration_since(now).num_seconds();
    // Rounded, so a token minted a moment ago for 1 h still says "in 60 min".
    let span = |secs: i64| match secs {
        0..120 => format!("{secs} s"),
        120..7200 => format!("{} min", (secs + 30) / 60),
        _ => format!("{} h", (secs + 1800) / 3600),
    };
    let relative = if delta == 0 {
        "now".to_owned()
    } else if delta > 0 {
        format!("in {}", span(delta))
    } else {
        format!("{} ago", span(-delta))
    };
    format!("{}, {relative}", at.format("%Y-%m-%dT%H:%M:%SZ"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "0123456789abcdef0123456789abcdef";

    fn settings() -> AuthSettings {
        AuthSettings {
            jwt_secret: Some(SECRET.into()),
            audience: Some("tickrouter".into()),
            ..AuthSettings::default()
        }
    }

    #[test]
    fn a_minted_token_is_valid_on_the_same_server() {
        let token = mint(&settings(), "42", true, 3600).unwrap();
        let auth = Authenticator::from_settings(&settings(), None).unwrap();
        let (valid, report) = inspect(&auth, &token, Utc::now());
        assert!(valid, "{report}");
        assert!(
            report.starts_with("valid: user \"42\", roles [admin]"),
            "{report}"
        );
        assert!(report.contains("aud: \"tickrouter\""), "{report}");
        assert!(report.contains("in 60 min"), "{report}");
    }

    #[test]
    fn inspect_says_why_a_token_is_refused() {
        let auth = Authenticator::from_settings(&settings(), None).unwrap();
        let elsewhere = AuthSettings {
            audience: Some("billing".into()),
            ..settings()
        };
        let token = mint(&elsewhere, "42", false, 60).unwrap();
        let (valid, report) = inspect(&auth, &token, Utc::now());
        assert!(!valid);
        assert!(report.starts_with("invalid: wrong audience"), "{report}");
        assert!(report.contains("aud: \"billing\""), "{report}");
        let (valid, report) = inspect(&auth, "nonsense", Utc::now());
        assert!(!valid);
        assert_eq!(
            report,
            "invalid: malformed token: it is not three base64url-encoded parts \
             (header.claims.signature)"
        );
    }

    #[test]
    fn mint_refuses_what_it_cannot_sign_or_the_server_would_refuse() {
        let public = AuthSettings {
            jwks_url: Some("https://id.example.com/jwks".into()),
            ..AuthSettings::default()
        };
        assert_eq!(mint(&public, "1", false, 60), Err(MintError::PublicKeyOnly));
        assert_eq!(
            mint(&AuthSettings::default(), "1", false, 60),
            Err(MintError::NoSecret)
        );
        let capped = AuthSettings {
            max_token_lifetime_secs: 600,
            ..settings()
        };
        assert_eq!(
            mint(&capped, "1", false, 3600),
            Err(MintError::LivesTooLong {
                ttl_secs: 3600,
                max_secs: 600
            })
        );
    }
}
