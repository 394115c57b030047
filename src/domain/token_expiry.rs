//! When an open session hears that its token is about to expire, and when it is closed for it.
//!
//! The rule (docs/PROTOCOL.md section 2): a session whose token expires at `exp` gets
//! `token_expiring` `lead` before `exp` (`auth.expiry_warning_secs`, 60 s by default), or halfway
//! through the lifetime it has left when that is sooner, so a short-lived token still leaves the
//! client half its time to fetch a fresh one. At `exp` the session is closed with
//! `token_expired` unless an `auth` op gave it a fresh token meanwhile, which starts the plan
//! over. The verifier's clock leeway (a few seconds, for clock skew at connect) does not extend an
//! open session: it ends at `exp` by the server's clock.

use std::time::Duration;

use serde::Serialize;

use super::event::EpochMillis;

/// What a session schedules for its token, relative to now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExpiryPlan {
    /// When to send `token_expiring`; `None` when the token has already expired.
    pub warn_in: Option<Duration>,
    /// When to close with `token_expired`.
    pub close_in: Duration,
}

impl ExpiryPlan {
    pub fn new(now: EpochMillis, expires_at: EpochMillis, lead: Duration) -> ExpiryPlan {
        let left_ms = expires_at.0.saturating_sub(now.0);
        if left_ms <= 0 {
            return ExpiryPlan {
                warn_in: None,
                close_in: Duration::ZERO,
            };
        }
        let left = Duration::from_millis(left_ms as u64);
        let before_exp = lead.min(left / 2);
        ExpiryPlan {
            warn_in: Some(left - before_exp),
            close_in: left,
        }
    }
}

/// The `data` of `token_expiring`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct TokenExpiring {
    pub expires_at: EpochMillis,
}

#[cfg(test)]
mod tests {
    use super::*;

    const LEAD: Duration = Duration::from_secs(60);

    fn plan(left_ms: i64) -> ExpiryPlan {
        ExpiryPlan::new(
            EpochMillis(1_000_000),
            EpochMillis(1_000_000 + left_ms),
            LEAD,
        )
    }

    #[test]
    fn a_long_token_is_warned_the_lead_before_it_expires() {
        let p = plan(3_600_000);
        assert_eq!(p.warn_in, Some(Duration::from_secs(3540)));
        assert_eq!(p.close_in, Duration::from_secs(3600));
    }

    #[test]
    fn a_short_token_is_warned_halfway_through_what_is_left() {
        let p = plan(3_000);
        assert_eq!(p.warn_in, Some(Duration::from_millis(1_500)));
        assert_eq!(p.close_in, Duration::from_secs(3));
        // exactly twice the lead: both rules agree
        assert_eq!(plan(120_000).warn_in, Some(Duration::from_secs(60)));
    }

    #[test]
    fn an_expired_token_closes_at_once_without_a_warning() {
        for left in [0, -5_000] {
            assert_eq!(
                plan(left),
                ExpiryPlan {
                    warn_in: None,
                    close_in: Duration::ZERO
                }
            );
        }
    }

    #[test]
    fn the_payload_is_the_expiry_in_epoch_ms() {
        let data = TokenExpiring {
            expires_at: EpochMillis(1_763_780_060_000),
        };
        assert_eq!(
            serde_json::to_string(&data).unwrap(),
            r#"{"expires_at":1763780060000}"#
        );
    }
}
