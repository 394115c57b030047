//! User-level pattern alert rules, read from the legacy records
//! (`tickstock:alerts:prefs:{user}`, `tickstock:alerts:subscriptions:{user}`; their fields are in
//! docs/PRODUCERS.md#alert-rules), and evaluated in the right order: every filter first, the
//! hourly cap last, so only alerts that pass the user's rules use up the budget (the legacy code
//! charged filtered alerts too).
//!
//! Only what a user stored applies: with no records, a signed-in user gets every pattern alert,
//! as an anonymous session does; with no subscriptions record, every pattern; without a cap or
//! quiet hours in their preferences, none. (The legacy system applied defaults nobody chose: 11
//! catalogue patterns at confidence 0.5, 50 alerts an hour.)

use std::collections::HashMap;

use chrono::{NaiveTime, Timelike};
use serde::{Deserialize, Serialize};
use strum::{EnumCount, IntoStaticStr, VariantArray};

use super::filter::AlertKey;
use super::ids::Symbol;

/// The legacy alert manager's pattern catalogue (the demo publishes these names).
pub const CATALOGUE: [&str; 11] = [
    "Doji",
    "Hammer",
    "ShootingStar",
    "Engulfing",
    "Harami",
    "MorningStar",
    "EveningStar",
    "ThreeWhiteSoldiers",
    "ThreeBlackCrows",
    "PiercingLine",
    "DarkCloudCover",
];
/// The threshold of a stored subscription entry that names none (the legacy records' default).
pub const DEFAULT_THRESHOLD: f64 = 0.5;

/// Why a user's rules refused an alert (counted per reason in `/stats`, indexed by `r as usize`,
/// so `VARIANTS` is in declaration order). `VARIANTS`, `COUNT` and the names are derived.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, VariantArray, EnumCount, IntoStaticStr)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum Refusal {
    AlertsDisabled,
    QuietHours,
    NotSubscribed,
    SubscriptionDisabled,
    BelowThreshold,
    SymbolNotSubscribed,
    RateLimited,
}

impl Refusal {
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// `tickstock:alerts:prefs:{user}`; absent fields take the legacy defaults.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct AlertPrefs {
    pub global_enabled: bool,
    /// No cap unless set.
    pub max_alerts_per_hour: Option<u32>,
    /// "HH:MM", server local time; both ends inclusive; start > end wraps past midnight.
    pub quiet_hours_start: Option<String>,
    pub quiet_hours_end: Option<String>,
}

impl Default for AlertPrefs {
    fn default() -> Self {
        AlertPrefs {
            global_enabled: true,
            max_alerts_per_hour: None,
            quiet_hours_start: None,
            quiet_hours_end: None,
        }
    }
}

/// One entry of `tickstock:alerts:subscriptions:{user}` (a JSON map pattern -> entry).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct UserSubscription {
    #[serde(default = "enabled")]
    pub enabled: bool,
    /// 0..1, inclusive: an alert passes when `confidence >= confidence_threshold`.
    #[serde(default = "default_threshold")]
    pub confidence_threshold: f64,
    #[serde(default)]
    pub notification_types: Vec<String>,
    /// Empty or null means every symbol.
    #[serde(default)]
    pub symbols: Option<Vec<String>>,
}

fn enabled() -> bool {
    true
}

fn default_threshold() -> f64 {
    DEFAULT_THRESHOLD
}

/// A user's compiled rules. The default (nothing stored) accepts every alert.
#[derive(Debug, Clone, PartialEq)]
pub struct UserRules {
    enabled: bool,
    max_per_hour: Option<u32>,
    quiet: Option<(NaiveTime, NaiveTime)>,
    /// `None`: every pattern, at any confidence, on any symbol.
    subscriptions: Option<HashMap<String, Compiled>>,
}

#[derive(Debug, Clone, PartialEq)]
struct Compiled {
    enabled: bool,
    threshold: f64,
    symbols: Vec<Symbol>,
}

/// A record that exists but cannot be used; the user then keeps the previous or default rules.
#[derive(Debug, Clone, PartialEq)]
pub struct InvalidRecord(pub String);

impl Default for UserRules {
    fn default() -> Self {
        UserRules {
            enabled: true,
            max_per_hour: None,
            quiet: None,
            subscriptions: None,
        }
    }
}

impl UserRules {
    /// Builds rules from the two raw records (`None` = key absent: nothing of it applies).
    pub fn from_records(
        prefs: Option<&str>,
        subscriptions: Option<&str>,
    ) -> Result<UserRules, InvalidRecord> {
        let mut rules = UserRules::default();
        if let Some(text) = prefs {
            let prefs: AlertPrefs =
                serde_json::from_str(text).map_err(|e| InvalidRecord(format!("prefs: {e}")))?;
            rules.enabled = prefs.global_enabled;
            rules.max_per_hour = prefs.max_alerts_per_hour;
            rules.quiet = match (&prefs.quiet_hours_start, &prefs.quiet_hours_end) {
                (Some(start), Some(end)) => Some((hh_mm(start)?, hh_mm(end)?)),
                _ => None,
            };
        }
        if let Some(text) = subscriptions {
            let map: HashMap<String, UserSubscription> = serde_json::from_str(text)
                .map_err(|e| InvalidRecord(format!("subscriptions: {e}")))?;
            let compiled = map
                .into_iter()
                .map(|(pattern, sub)| {
                    if !(0.0..=1.0).contains(&sub.confidence_threshold) {
                        return Err(InvalidRecord(format!(
                            "{pattern}: confidence_threshold must be 0..1"
                        )));
                    }
                    let symbols = sub
                        .symbols
                        .iter()
                        .flatten()
                        .filter_map(|s| Symbol::new(s))
                        .collect();
                    Ok((
                        pattern,
                        Compiled {
                            enabled: sub.enabled,
                            threshold: sub.confidence_threshold,
                            symbols,
                        },
                    ))
                })
                .collect::<Result<_, _>>()?;
            rules.subscriptions = Some(compiled);
        }
        Ok(rules)
    }

    /// Every rule except the hourly cap, in the documented order.
    pub fn check(&self, alert: &AlertKey, now: NaiveTime) -> Result<(), Refusal> {
        if !self.enabled {
            return Err(Refusal::AlertsDisabled);
        }
        if let Some((start, end)) = self.quiet {
            // HH:MM bounds are whole minutes: "23:59" includes 23:59:59.
            let now = now
                .with_second(0)
                .and_then(|t| t.with_nanosecond(0))
                .unwrap_or(now);
            let inside = if start <= end {
                now >= start && now <= end
            } else {
                now >= start || now <= end
            };
            if inside {
                return Err(Refusal::QuietHours);
            }
        }
        let Some(subscriptions) = &self.subscriptions else {
            return Ok(());
        };
        let sub = subscriptions
            .get(&alert.pattern)
            .ok_or(Refusal::NotSubscribed)?;
        if !sub.enabled {
            return Err(Refusal::SubscriptionDisabled);
        }
        if alert.confidence < sub.threshold {
            return Err(Refusal::BelowThreshold);
        }
        if !sub.symbols.is_empty() && !sub.symbols.contains(&alert.symbol) {
            return Err(Refusal::SymbolNotSubscribed);
        }
        Ok(())
    }

    /// `None`: no cap.
    pub fn max_per_hour(&self) -> Option<u32> {
        self.max_per_hour
    }
}

fn hh_mm(text: &str) -> Result<NaiveTime, InvalidRecord> {
    NaiveTime::parse_from_str(text.trim(), "%H:%M")
        .map_err(|_| InvalidRecord(format!("quiet hours {text:?} must be HH:MM")))
}

/// Alerts sent to one user in the current clock hour (the legacy key is per epoch hour).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct HourlyCount {
    pub hour: i64,
    pub sent: u32,
}

impl HourlyCount {
    /// Takes one unit of budget for `hour`, or refuses when the cap (if any) is reached.
    pub fn take(&mut self, hour: i64, max: Option<u32>) -> Result<(), Refusal> {
        if self.hour != hour {
            *self = HourlyCount { hour, sent: 0 };
        }
        if max.is_some_and(|max| self.sent >= max) {
            return Err(Refusal::RateLimited);
        }
        self.sent += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(pattern: &str, symbol: &str, confidence: f64) -> AlertKey {
        AlertKey {
            pattern: pattern.into(),
            symbol: Symbol::new(symbol).unwrap(),
            confidence,
        }
    }

    fn noon() -> NaiveTime {
        NaiveTime::from_hms_opt(12, 0, 0).unwrap()
    }

    #[test]
    fn refusal_variants_are_in_counter_order_and_named_alike() {
        assert_eq!(Refusal::VARIANTS.len(), Refusal::COUNT);
        for (i, r) in Refusal::VARIANTS.iter().enumerate() {
            assert_eq!(*r as usize, i);
        }
        crate::domain::enum_names::assert_serde_matches_strum::<Refusal>();
    }

    #[test]
    fn nothing_stored_means_every_alert_and_no_cap() {
        let rules = UserRules::from_records(None, None).unwrap();
        assert_eq!(rules, UserRules::default());
        assert_eq!(rules.check(&key("Doji", "AAPL", 0.0), noon()), Ok(()));
        assert_eq!(
            rules.check(&key("High_Volume_Surge", "AAPL", 0.9), noon()),
            Ok(())
        );
        assert_eq!(rules.max_per_hour(), None);
        let prefs_only = UserRules::from_records(Some(r#"{"global_enabled": true}"#), None);
        let prefs_only = prefs_only.unwrap();
        assert_eq!(prefs_only.max_per_hour(), None, "a cap only when set");
        assert_eq!(
            prefs_only.check(&key("Anything", "AAPL", 0.1), noon()),
            Ok(()),
            "every pattern without a subscriptions record"
        );
    }

    #[test]
    fn legacy_records_set_threshold_symbols_and_enabled() {
        let subs = r#"{"Doji": {"pattern": "Doji", "enabled": true, "confidence_threshold": 0.8,
                       "notification_types": ["in_app"], "symbols": null, "created_at": "x"},
                      "Hammer": {"pattern": "Hammer", "enabled": true, "confidence_threshold": 0.3, "symbols": ["nvda"]},
                      "Harami": {"pattern": "Harami", "enabled": false, "confidence_threshold": 0.1}}"#;
        let rules = UserRules::from_records(None, Some(subs)).unwrap();
        assert_eq!(rules.check(&key("Doji", "AAPL", 0.8), noon()), Ok(()));
        assert_eq!(rules.check(&key("Doji", "AAPL", 0.95), noon()), Ok(()));
        assert_eq!(
            rules.check(&key("Doji", "AAPL", 0.79), noon()),
            Err(Refusal::BelowThreshold)
        );
        assert_eq!(rules.check(&key("Hammer", "NVDA", 0.5), noon()), Ok(()));
        assert_eq!(
            rules.check(&key("Hammer", "AAPL", 0.5), noon()),
            Err(Refusal::SymbolNotSubscribed)
        );
        assert_eq!(
            rules.check(&key("Harami", "AAPL", 0.9), noon()),
            Err(Refusal::SubscriptionDisabled)
        );
        assert_eq!(
            rules.check(&key("Engulfing", "AAPL", 0.9), noon()),
            Err(Refusal::NotSubscribed)
        );
    }

    #[test]
    fn prefs_disable_and_quiet_hours_wrap_midnight() {
        let off = UserRules::from_records(Some(r#"{"global_enabled": false}"#), None).unwrap();
        assert_eq!(
            off.check(&key("Doji", "AAPL", 0.9), noon()),
            Err(Refusal::AlertsDisabled)
        );
        let night = UserRules::from_records(
            Some(r#"{"quiet_hours_start": "22:00", "quiet_hours_end": "06:30"}"#),
            None,
        )
        .unwrap();
        let at = |h, m| NaiveTime::from_hms_opt(h, m, 0).unwrap();
        assert_eq!(
            night.check(&key("Doji", "AAPL", 0.9), at(23, 0)),
            Err(Refusal::QuietHours)
        );
        assert_eq!(
            night.check(&key("Doji", "AAPL", 0.9), at(6, 30)),
            Err(Refusal::QuietHours)
        );
        assert_eq!(night.check(&key("Doji", "AAPL", 0.9), at(6, 31)), Ok(()));
        let late = NaiveTime::from_hms_opt(6, 30, 59).unwrap();
        assert_eq!(
            night.check(&key("Doji", "AAPL", 0.9), late),
            Err(Refusal::QuietHours),
            "the end minute is whole"
        );
        assert!(UserRules::from_records(
            Some(r#"{"quiet_hours_start": "25:00", "quiet_hours_end": "1"}"#),
            None
        )
        .is_err());
        assert!(UserRules::from_records(None, Some("not json")).is_err());
    }

    #[test]
    fn hourly_cap_counts_per_hour() {
        let mut count = HourlyCount::default();
        assert_eq!(count.take(10, Some(2)), Ok(()));
        assert_eq!(count.take(10, Some(2)), Ok(()));
        assert_eq!(count.take(10, Some(2)), Err(Refusal::RateLimited));
        assert_eq!(count.take(11, Some(2)), Ok(()));
        assert_eq!(count.take(11, None), Ok(()));
        assert_eq!(
            count.sent, 2,
            "counted even without a cap (mirrored in Redis)"
        );
    }
}
