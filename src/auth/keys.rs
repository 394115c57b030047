//! The keys tokens are verified with, each paired with the algorithms it may verify: an HMAC
//! secret (HS256/384/512), a PEM public key (its type decides: RSA, EC or Ed25519), or one JWK.
//!
//! Pairing a key with its algorithms is what stops algorithm confusion: a token cannot make the
//! server use an RSA public key as an HMAC secret by saying `"alg": "HS256"`.

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk};
use jsonwebtoken::{Algorithm, DecodingKey};

/// A key and the `alg` values a token signed with it may carry.
pub struct VerifyKey {
    pub key: DecodingKey,
    pub algorithms: Vec<Algorithm>,
}

const HMAC: [Algorithm; 3] = [Algorithm::HS256, Algorithm::HS384, Algorithm::HS512];
const RSA: [Algorithm; 6] = [
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
];

impl VerifyKey {
    pub fn secret(secret: &[u8]) -> VerifyKey {
        VerifyKey {
            key: DecodingKey::from_secret(secret),
            algorithms: HMAC.to_vec(),
        }
    }

    /// A PEM public key; the error says in words why the text is not one.
    pub fn from_pem(pem: &[u8]) -> Result<VerifyKey, String> {
        if String::from_utf8_lossy(pem).contains("PRIVATE KEY") {
            return Err("is a private key; give the server only the public key \
                        (openssl pkey -in private.pem -pubout)"
                .into());
        }
        let with = |key, algorithms: &[Algorithm]| VerifyKey {
            key,
            algorithms: algorithms.to_vec(),
        };
        if let Ok(key) = DecodingKey::from_rsa_pem(pem) {
            return Ok(with(key, &RSA));
        }
        if let Ok(key) = DecodingKey::from_ec_pem(pem) {
            // The curve is not visible here; verifying with the wrong one fails as a bad
            // signature, so both ECDSA algorithms may be tried.
            return Ok(with(key, &[Algorithm::ES256, Algorithm::ES384]));
        }
        if let Ok(key) = DecodingKey::from_ed_pem(pem) {
            return Ok(with(key, &[Algorithm::EdDSA]));
        }
        Err("is not a PEM public key (RSA, EC P-256/P-384 or Ed25519)".into())
    }

    /// One key of a JWKS; `None` for keys that cannot verify signatures here: encryption keys,
    /// symmetric (`oct`) keys (a secret published in a key set is no secret), unknown types.
    pub fn from_jwk(jwk: &Jwk) -> Option<VerifyKey> {
        use jsonwebtoken::jwk::PublicKeyUse;
        if matches!(
            jwk.common.public_key_use,
            Some(PublicKeyUse::Encryption) | Some(PublicKeyUse::Other(_))
        ) {
            return None;
        }
        let family: Vec<Algorithm> = match &jwk.algorithm {
            AlgorithmParameters::RSA(_) => RSA.to_vec(),
            AlgorithmParameters::EllipticCurve(ec) => match ec.curve {
                EllipticCurve::P256 => vec![Algorithm::ES256],
                EllipticCurve::P384 => vec![Algorithm::ES384],
                _ => return None,
            },
            AlgorithmParameters::OctetKeyPair(okp) if okp.curve == EllipticCurve::Ed25519 => {
                vec![Algorithm::EdDSA]
            }
            _ => return None,
        };
        // A key that names its algorithm verifies only that one (and only if it fits the type).
        let algorithms = match jwk.common.key_algorithm {
            Some(alg) => {
                let alg: Algorithm = alg.to_string().parse().ok()?;
                family.contains(&alg).then(|| vec![alg])?
            }
            None => family,
        };
        Some(VerifyKey {
            key: DecodingKey::from_jwk(jwk).ok()?,
            algorithms,
        })
    }

    /// The accepted algorithms, for messages: `HS256, HS384, HS512`.
    pub fn algorithm_names(&self) -> String {
        self.algorithms
            .iter()
            .map(|a| format!("{a:?}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_keys_and_garbage_are_refused_in_words() {
        let private =
            b"-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIA==\n-----END PRIVATE KEY-----\n";
        let err = VerifyKey::from_pem(private).err().unwrap();
        assert!(err.contains("private key"), "{err}");
        let err = VerifyKey::from_pem(b"hello").err().unwrap();
        assert!(err.contains("not a PEM public key"), "{err}");
    }

    #[test]
    fn an_ed25519_public_key_verifies_eddsa_only() {
        let pem = b"-----BEGIN PUBLIC KEY-----\n\
                    MCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=\n\
                    -----END PUBLIC KEY-----\n";
        let key = VerifyKey::from_pem(pem).unwrap();
        assert_eq!(key.algorithms, [Algorithm::EdDSA]);
    }

    #[test]
    fn jwks_keys_keep_to_their_type_and_stated_algorithm() {
        let jwk = |json: &str| serde_json::from_str::<Jwk>(json).unwrap();
        let okp = r#"{"kty":"OKP","crv":"Ed25519","x":"Gb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE","kid":"a"}"#;
        assert_eq!(
            VerifyKey::from_jwk(&jwk(okp)).unwrap().algorithms,
            [Algorithm::EdDSA]
        );
        let oct = r#"{"kty":"oct","k":"c2VjcmV0","kid":"s"}"#;
        assert!(VerifyKey::from_jwk(&jwk(oct)).is_none(), "symmetric keys");
        let mismatched = r#"{"kty":"OKP","crv":"Ed25519","alg":"HS256","x":"Gb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE"}"#;
        assert!(VerifyKey::from_jwk(&jwk(mismatched)).is_none());
        let rsa = r#"{"kty":"RSA","n":"AQAB","e":"AQAB","alg":"RS256","use":"sig"}"#;
        assert_eq!(
            VerifyKey::from_jwk(&jwk(rsa)).unwrap().algorithms,
            [Algorithm::RS256]
        );
    }
}
