//! The process's open-file limit, sized for `server.max_sessions` before serving.
//!
//! Every WebSocket session holds two descriptors (its socket, and the duplicate
//! `net::ConnCloser` keeps to cut off a frozen client), and many systems start processes with a
//! soft limit of 1,024: without raising it, accepts fail with EMFILE after about 500 sessions,
//! far below the default `max_sessions` of 10,000. The soft limit may be raised up to the hard
//! limit without privileges; beyond that only the administrator can help, so the server says so.

use std::fmt;
use std::io;

/// Descriptors besides the sessions': listener, Redis connections, event loops, plain HTTP
/// requests, log output.
const RESERVE: u64 = 128;
const PER_SESSION: u64 = 2;

/// What `ensure_for` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The soft limit already covered `max_sessions`.
    Enough { limit: u64 },
    /// The soft limit was raised and now covers `max_sessions`.
    Raised { from: u64, to: u64 },
    /// The hard limit is too low: the soft limit was raised to it, and about `sessions` fit.
    Short { limit: u64, sessions: u64 },
    /// Like `Short`, but within `TOLERANCE` of `max_sessions` (a hard limit of 20,000 holds
    /// about 9,936 of the default 10,000): said once at info level, not warned on every start.
    Nearly { limit: u64, sessions: u64 },
}

/// Per mille of `max_sessions` that may not fit before the limit counts as short.
const TOLERANCE_PER_MILLE: u64 = 10;

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Enough { limit } => write!(f, "open-file limit {limit} is enough"),
            Outcome::Raised { from, to } => {
                write!(f, "raised the open-file limit from {from} to {to}")
            }
            Outcome::Short { limit, sessions } => write!(
                f,
                "the open-file limit is {limit}, enough for about {sessions} sessions: raise the \
                 hard limit (ulimit -Hn, or LimitNOFILE= in a systemd unit) or lower \
                 server.max_sessions"
            ),
            Outcome::Nearly { limit, sessions } => write!(
                f,
                "the open-file limit is {limit}, enough for about {sessions} sessions, nearly \
                 server.max_sessions"
            ),
        }
    }
}

/// Descriptors `max_sessions` sessions need.
fn needed(max_sessions: usize) -> u64 {
    (max_sessions as u64).saturating_mul(PER_SESSION) + RESERVE
}

/// The soft limit to set, given the current soft and hard limits, and what it achieves.
fn plan(soft: u64, hard: u64, max_sessions: usize) -> (Option<u64>, Outcome) {
    let need = needed(max_sessions);
    if soft >= need {
        return (None, Outcome::Enough { limit: soft });
    }
    let to = need.min(hard).max(soft);
    let sessions = to.saturating_sub(RESERVE) / PER_SESSION;
    let missing = (max_sessions as u64).saturating_sub(sessions);
    let outcome = if to >= need {
        Outcome::Raised { from: soft, to }
    } else if missing * 1000 <= max_sessions as u64 * TOLERANCE_PER_MILLE {
        Outcome::Nearly {
            limit: to,
            sessions,
        }
    } else {
        Outcome::Short {
            limit: to,
            sessions,
        }
    };
    ((to > soft).then_some(to), outcome)
}

/// Raises the soft open-file limit as far as `max_sessions` needs and the hard limit allows.
pub fn ensure_for(max_sessions: usize) -> io::Result<Outcome> {
    let mut rl = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the valid, initialised struct it is given.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let (set, outcome) = plan(rl.rlim_cur, rl.rlim_max, max_sessions);
    if let Some(to) = set {
        rl.rlim_cur = to;
        // SAFETY: as above; the new soft limit never exceeds the hard one.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &rl) } != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_low_soft_limit_is_raised_to_what_the_sessions_need() {
        assert_eq!(
            plan(1024, 1 << 20, 10_000),
            (
                Some(20_128),
                Outcome::Raised {
                    from: 1024,
                    to: 20_128
                }
            )
        );
    }

    #[test]
    fn a_sufficient_limit_is_left_alone() {
        assert_eq!(
            plan(65_536, 65_536, 10_000),
            (None, Outcome::Enough { limit: 65_536 })
        );
    }

    #[test]
    fn a_limit_a_few_sessions_short_is_not_a_warning() {
        assert_eq!(
            plan(20_000, 20_000, 10_000),
            (
                None,
                Outcome::Nearly {
                    limit: 20_000,
                    sessions: 9_936
                }
            )
        );
    }

    #[test]
    fn a_low_hard_limit_is_used_in_full_and_reported_short() {
        assert_eq!(
            plan(1024, 4096, 10_000),
            (
                Some(4096),
                Outcome::Short {
                    limit: 4096,
                    sessions: 1984
                }
            )
        );
        assert_eq!(
            plan(4096, 4096, 10_000),
            (
                None,
                Outcome::Short {
                    limit: 4096,
                    sessions: 1984
                }
            )
        );
    }
}
