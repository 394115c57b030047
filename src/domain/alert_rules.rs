//! What a user's alert rules (`preferences::AlertRules`, the records they stored) decide for a
//! pattern alert, in the right order: every filter first, the hourly cap last, so only alerts
//! that pass the user's rules use up the budget (the legacy code charged filtered alerts too).
//!
//! Only what a user stored applies: with nothing stored, a signed-in user gets every pattern
//! alert, as an anonymous session does; without a cap or quiet hours, none. (The legacy system
//! applied defaults nobody chose: 11 catalogue patterns at confidence 0.5, 50 alerts an hour,
//! quiet hours in server time.) Quiet hours are on the user's own clock.

use std::collections::HashMap;

use chrono::{DateTime, Timelike, Utc};
use serde::Serialize;
use strum::{EnumCount, IntoStaticStr, VariantArray};

use super::filter::AlertKey;
use super::ids::Symbol;
use super::preferences::{AlertRules, QuietHours};

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

/// A user's compiled rules, with the rules they were compiled from. The default (nothing
/// stored) accepts every alert.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct UserRules {
    source: AlertRules,
    /// `None`: every pattern, at any confidence, on any symbol.
    subscriptions: Option<HashMap<String, Compiled>>,
}

#[derive(Debug, Clone, PartialEq)]
struct Compiled {
    enabled: bool,
    threshold: f64,
    symbols: Vec<Symbol>,
}

impl From<AlertRules> for UserRules {
    fn from(source: AlertRules) -> Self {
        let subscriptions = (!source.subscriptions.is_empty()).then(|| {
            source
                .subscriptions
                .iter()
                .map(|s| {
                    let compiled = Compiled {
                        enabled: s.enabled,
                        threshold: s.min_confidence,
                        symbols: s.symbols.clone(),
                    };
                    (s.pattern.clone(), compiled)
                })
                .collect()
        });
        UserRules {
            source,
            subscriptions,
        }
    }
}

impl UserRules {
    /// Every rule except the hourly cap, in the documented order.
    pub fn check(&self, alert: &AlertKey, now: DateTime<Utc>) -> Result<(), Refusal> {
        if !self.source.enabled {
            return Err(Refusal::AlertsDisabled);
        }
        if self.source.quiet_hours.is_some_and(|q| quiet_at(q, now)) {
            return Err(Refusal::QuietHours);
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
        self.source.max_alerts_per_hour
    }

    pub fn source(&self) -> &AlertRules {
        &self.source
    }

    /// Whether the user stored anything (with nothing stored, every alert passes).
    pub fn stored(&self) -> bool {
        self.source != AlertRules::default()
    }
}

/// Whether `now` falls in the quiet hours, on the user's clock. HH:MM bounds are whole minutes
/// ("23:59" includes 23:59:59); `start` after `end` wraps past midnight.
fn quiet_at(q: QuietHours, now: DateTime<Utc>) -> bool {
    let local = now.with_timezone(&q.time_zone).time();
    let minute = local.with_second(0).and_then(|t| t.with_nanosecond(0));
    let now = minute.unwrap_or(local);
    if q.start <= q.end {
        now >= q.start && now <= q.end
    } else {
        now >= q.start || now <= q.end
    }
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
    use chrono::TimeZone;

    use super::*;

    fn key(pattern: &str, symbol: &str, confidence: f64) -> AlertKey {
        AlertKey {
            pattern: pattern.into(),
            symbol: Symbol::new(symbol).unwrap(),
            confidence,
        }
    }

    fn noon() -> DateTime<Utc> {
        utc(12, 0, 0)
    }

    fn utc(h: u32, m: u32, s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 7, 1, h, m, s).unwrap()
    }

    fn rules(prefs: Option<&str>, subs: Option<&str>) -> UserRules {
        UserRules::from(AlertRules::from_records(prefs, subs).unwrap())
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
        let none = rules(None, None);
        assert_eq!(none, UserRules::default());
        assert_eq!(none.check(&key("Doji", "AAPL", 0.0), noon()), Ok(()));
        assert_eq!(
            none.check(&key("High_Volume_Surge", "AAPL", 0.9), noon()),
            Ok(())
        );
        assert_eq!(none.max_per_hour(), None);
        let prefs_only = rules(Some(r#"{"global_enabled": true}"#), None);
        assert_eq!(prefs_only.max_per_hour(), None, "a cap only when set");
        assert_eq!(
            prefs_only.check(&key("Anything", "AAPL", 0.1), noon()),
            Ok(()),
            "every pattern without a subscriptions record"
        );
        assert_eq!(
            rules(None, Some("{}")).check(&key("Anything", "AAPL", 0.1), noon()),
            Ok(()),
            "an empty subscriptions record is every pattern too"
        );
    }

    #[test]
    fn legacy_records_set_threshold_symbols_and_enabled() {
        let subs = r#"{"Doji": {"pattern": "Doji", "enabled": true, "confidence_threshold": 0.8,
                       "notification_types": ["in_app"], "symbols": null, "created_at": "x"},
                      "Hammer": {"pattern": "Hammer", "enabled": true, "confidence_threshold": 0.3, "symbols": ["nvda"]},
                      "Harami": {"pattern": "Harami", "enabled": false, "confidence_threshold": 0.1}}"#;
        let rules = rules(None, Some(subs));
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
        let off = rules(Some(r#"{"global_enabled": false}"#), None);
        assert_eq!(
            off.check(&key("Doji", "AAPL", 0.9), noon()),
            Err(Refusal::AlertsDisabled)
        );
        let night = rules(
            Some(r#"{"quiet_hours_start": "22:00", "quiet_hours_end": "06:30"}"#),
            None,
        );
        let doji = key("Doji", "AAPL", 0.9);
        assert_eq!(night.check(&doji, utc(23, 0, 0)), Err(Refusal::QuietHours));
        assert_eq!(night.check(&doji, utc(6, 30, 0)), Err(Refusal::QuietHours));
        assert_eq!(night.check(&doji, utc(6, 31, 0)), Ok(()));
        assert_eq!(
            night.check(&doji, utc(6, 30, 59)),
            Err(Refusal::QuietHours),
            "the end minute is whole"
        );
    }

    #[test]
    fn quiet_hours_follow_the_users_time_zone_and_its_daylight_saving() {
        let ny = rules(
            Some(
                r#"{"quiet_hours_start": "22:00", "quiet_hours_end": "06:30",
                    "time_zone": "America/New_York"}"#,
            ),
            None,
        );
        let doji = key("Doji", "AAPL", 0.9);
        // July: New York is UTC-4. 02:30 UTC is 22:30 there; 12:00 UTC is 08:00.
        assert_eq!(ny.check(&doji, utc(2, 30, 0)), Err(Refusal::QuietHours));
        assert_eq!(ny.check(&doji, noon()), Ok(()));
        assert_eq!(ny.check(&doji, utc(10, 30, 0)), Err(Refusal::QuietHours));
        assert_eq!(ny.check(&doji, utc(10, 31, 0)), Ok(()));
        // January: UTC-5, so the same wall-clock end is an hour later in UTC.
        let january = Utc.with_ymd_and_hms(2026, 1, 15, 11, 30, 0).unwrap();
        assert_eq!(ny.check(&doji, january), Err(Refusal::QuietHours));
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
