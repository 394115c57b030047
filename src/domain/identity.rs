//! Who a session or request is: the user a verified token names, and whether it has the admin
//! role. Verifying the token itself (JWT, keys, expiry) is the `auth` module's job; the session
//! rules reach it only through [`VerifyToken`], so the domain stays free of crypto and I/O.

use super::event::EpochMillis;
use super::ids::UserId;
use super::protocol::ProtocolError;

/// The role a token must carry for the admin topic and the admin-only endpoints.
pub const ADMIN_ROLE: &str = "admin";

/// Anonymous by default: no user, no admin role, nothing to expire.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Identity {
    pub user: Option<UserId>,
    pub admin: bool,
    /// The verified token's `exp`: a session with this identity ends then unless it is given a
    /// fresh token (`domain::token_expiry`). `None` for an anonymous identity.
    pub expires_at: Option<EpochMillis>,
}

impl Identity {
    /// The role names sent to clients (`connection_confirmed`, the `auth` ack).
    pub fn roles(&self) -> Vec<&'static str> {
        if self.admin {
            vec![ADMIN_ROLE]
        } else {
            vec![]
        }
    }
}

/// Turns a client's token into an identity, or refuses it with the error code the client is
/// told. A refused token is an error, never an anonymous or different identity.
pub trait VerifyToken {
    fn verify_token(&self, token: &str) -> Result<Identity, ProtocolError>;
}
