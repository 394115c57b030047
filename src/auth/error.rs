//! `AuthError`: why a token was refused, in words a client or an operator can act on.
//!
//! The texts reach clients (`error` frames, 401 bodies) and `tickrouter token --inspect`, so
//! they never carry the JWT library's debug names (`InvalidSignature`, `Base64(..)`, ...):
//! [`AuthError::from_jwt`] translates every library error into one of these variants.

use std::fmt;

use jsonwebtoken::errors::ErrorKind;

use crate::domain::protocol::ErrorCode;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthError {
    /// No key is configured, so no token can be verified.
    Disabled,
    /// Not a JWT at all, or claims of the wrong type; says which in words.
    Malformed(String),
    BadSignature,
    /// The header's `alg` is not one the key may verify (this also stops algorithm confusion).
    WrongAlgorithm {
        got: String,
        accepted: String,
    },
    /// The JWKS has no key with the token's `kid` (even after a refresh).
    UnknownKey(Option<String>),
    Expired,
    /// `nbf` is in the future.
    NotYetValid,
    WrongAudience,
    WrongIssuer,
    /// A claim the server requires (`exp`, and `aud`/`iss` when configured) is absent.
    MissingClaim(String),
    /// `exp - iat` (or `exp - now`) is over `auth.max_token_lifetime_secs`.
    LivesTooLong {
        lifetime_secs: u64,
        max_secs: u64,
    },
    /// `sub` is not a non-empty string or number.
    BadSubject,
}

impl fmt::Display for AuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AuthError::Disabled => f.write_str("authentication is not configured on this server"),
            AuthError::Malformed(why) => write!(f, "malformed token: {why}"),
            AuthError::BadSignature => {
                f.write_str("bad signature: the token was not signed with a key this server trusts")
            }
            AuthError::WrongAlgorithm { got, accepted } => write!(
                f,
                "wrong algorithm: the token is signed with {got}, this server accepts {accepted}"
            ),
            AuthError::UnknownKey(Some(kid)) => write!(
                f,
                "unknown key: the token names key {kid:?}, which is not among the issuer's keys"
            ),
            AuthError::UnknownKey(None) => {
                f.write_str("unknown key: the token names no key (kid) and the issuer has several")
            }
            AuthError::Expired => f.write_str("token expired"),
            AuthError::NotYetValid => {
                f.write_str("token not yet valid: its nbf (not before) time is in the future")
            }
            AuthError::WrongAudience => {
                f.write_str("wrong audience: the token's aud is not this server's audience")
            }
            AuthError::WrongIssuer => {
                f.write_str("wrong issuer: the token's iss is not the issuer this server trusts")
            }
            AuthError::MissingClaim(claim) => {
                write!(
                    f,
                    "the token has no {claim} claim, which this server requires"
                )
            }
            AuthError::LivesTooLong {
                lifetime_secs,
                max_secs,
            } => write!(
                f,
                "the token is valid for {lifetime_secs} s, longer than this server's maximum of \
                 {max_secs} s"
            ),
            AuthError::BadSubject => {
                f.write_str("the token's sub (the user id) must be a non-empty string or number")
            }
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
            _ => ErrorCode::InvalidToken,
        }
    }

    /// The refusal a library error stands for. Key-format errors come from the server's own key
    /// not fitting the token, which to the client is a signature this server cannot accept.
    pub(super) fn from_jwt(kind: &ErrorKind) -> AuthError {
        match kind {
            ErrorKind::InvalidToken | ErrorKind::Base64(_) | ErrorKind::Utf8(_) => {
                AuthError::Malformed(
                    "it is not three base64url-encoded parts (header.claims.signature)".into(),
                )
            }
            ErrorKind::Json(_) => AuthError::Malformed(
                "its header or claims are not the JSON a token needs (e.g. roles must be a list \
                 of strings)"
                    .into(),
            ),
            ErrorKind::InvalidClaimFormat(claim) => {
                AuthError::Malformed(format!("claim {claim} has the wrong type"))
            }
            ErrorKind::MissingRequiredClaim(claim) => AuthError::MissingClaim(claim.clone()),
            ErrorKind::ExpiredSignature => AuthError::Expired,
            ErrorKind::ImmatureSignature => AuthError::NotYetValid,
            ErrorKind::InvalidAudience => AuthError::WrongAudience,
            ErrorKind::InvalidIssuer => AuthError::WrongIssuer,
            ErrorKind::InvalidSubject => AuthError::BadSubject,
            ErrorKind::InvalidSignature
            | ErrorKind::InvalidEcdsaKey
            | ErrorKind::InvalidEddsaKey
            | ErrorKind::InvalidRsaKey(_)
            | ErrorKind::InvalidKeyFormat => AuthError::BadSignature,
            ErrorKind::InvalidAlgorithm
            | ErrorKind::MissingAlgorithm
            | ErrorKind::UnsupportedAlgorithm
            | ErrorKind::InvalidAlgorithmName => {
                // `Authenticator::verify` checks `alg` against the key first, with the names.
                AuthError::Malformed("its alg does not fit this server's key".into())
            }
            // Signing errors and custom providers never occur while verifying; the variant list
            // is not exhaustive, so a future one lands here too, still in words.
            _ => AuthError::Malformed("it could not be verified".into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every text a client can see is plain words, never a library debug name.
    #[test]
    fn library_errors_become_plain_words() {
        let kinds = [
            ErrorKind::InvalidToken,
            ErrorKind::InvalidSignature,
            ErrorKind::MissingRequiredClaim("exp".into()),
            ErrorKind::InvalidClaimFormat("nbf".into()),
            ErrorKind::ExpiredSignature,
            ErrorKind::ImmatureSignature,
            ErrorKind::InvalidAudience,
            ErrorKind::InvalidIssuer,
            ErrorKind::InvalidAlgorithm,
            ErrorKind::InvalidRsaKey("x".into()),
            ErrorKind::Provider("x".into()),
        ];
        for kind in &kinds {
            let text = AuthError::from_jwt(kind).to_string();
            for debug_name in ["Invalid", "Missing", "Expired", "Immature", "Base64", "(\""] {
                assert!(!text.contains(debug_name), "{kind:?} -> {text}");
            }
        }
        assert_eq!(
            AuthError::from_jwt(&ErrorKind::MissingRequiredClaim("exp".into())).to_string(),
            "the token has no exp claim, which this server requires"
        );
    }

    #[test]
    fn only_a_missing_key_is_auth_disabled() {
        assert_eq!(AuthError::Disabled.code(), ErrorCode::AuthDisabled);
        for e in [
            AuthError::Expired,
            AuthError::BadSignature,
            AuthError::WrongIssuer,
        ] {
            assert_eq!(e.code(), ErrorCode::InvalidToken);
        }
    }
}
