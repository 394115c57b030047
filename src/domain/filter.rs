//! A session's own filter: whether it is signed in, and its pattern subscriptions (which
//! `pattern_alert`s it wants).

use std::collections::HashSet;

use serde::Deserialize;

use super::event::PatternAlert;
use super::ids::Symbol;

/// At most this many pattern subscriptions, in the `pattern_subscriptions` op and a user's
/// stored alert rules.
pub const MAX_SUBSCRIPTIONS: usize = 256;
/// Longest accepted pattern name; the catalogue's longest (`alert_rules::CATALOGUE`) is 18
/// characters. Names outside the catalogue are the producers' to judge.
pub const MAX_PATTERN_NAME: usize = 64;

/// One entry of the `pattern_subscriptions` op.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatternSubscription {
    /// Exact, case-sensitive pattern name.
    pub pattern: String,
    /// 0..1; an alert passes when `confidence >= min_confidence`.
    #[serde(default)]
    pub min_confidence: f64,
    /// Empty or absent means every symbol.
    #[serde(default)]
    pub symbols: Option<Vec<String>>,
}

/// What a filter looks at in a `pattern_alert`, carried with the encoded frame to the registry.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertKey {
    pub pattern: String,
    pub symbol: Symbol,
    pub confidence: f64,
}

impl From<&PatternAlert> for AlertKey {
    fn from(a: &PatternAlert) -> Self {
        AlertKey {
            pattern: a.pattern.clone(),
            symbol: a.symbol.clone(),
            confidence: a.confidence,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
struct Rule {
    pattern: String,
    min_confidence: f64,
    symbols: HashSet<Symbol>,
}

/// The compiled filter. Empty means "every pattern".
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PatternFilter {
    rules: Vec<Rule>,
}

/// What the registry knows of a session when it decides whether a publication reaches it
/// (`publication::FilterKey::admits`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SessionFilter {
    pub signed_in: bool,
    pub patterns: PatternFilter,
}

/// Why a `pattern_subscriptions` op was rejected; the message names the offending entry.
#[derive(Debug, Clone, PartialEq)]
pub struct InvalidSubscription(pub String);

impl PatternFilter {
    pub fn compile(subs: &[PatternSubscription]) -> Result<PatternFilter, InvalidSubscription> {
        if subs.len() > MAX_SUBSCRIPTIONS {
            return Err(InvalidSubscription(format!(
                "at most {MAX_SUBSCRIPTIONS} subscriptions, not {}",
                subs.len()
            )));
        }
        let mut rules = Vec::with_capacity(subs.len());
        for (i, sub) in subs.iter().enumerate() {
            if sub.pattern.trim().is_empty() || sub.pattern.len() > MAX_PATTERN_NAME {
                return Err(InvalidSubscription(format!(
                    "subscriptions[{i}].pattern must not be blank, at most {MAX_PATTERN_NAME} \
                     characters"
                )));
            }
            if !(0.0..=1.0).contains(&sub.min_confidence) {
                return Err(InvalidSubscription(format!(
                    "subscriptions[{i}].min_confidence must be between 0 and 1"
                )));
            }
            let mut symbols = HashSet::new();
            for raw in sub.symbols.iter().flatten() {
                let sym = Symbol::new(raw).ok_or_else(|| {
                    InvalidSubscription(format!(
                        "subscriptions[{i}].symbols: invalid symbol {raw:?}"
                    ))
                })?;
                symbols.insert(sym);
            }
            rules.push(Rule {
                pattern: sub.pattern.clone(),
                min_confidence: sub.min_confidence,
                symbols,
            });
        }
        Ok(PatternFilter { rules })
    }

    pub fn matches(&self, alert: &AlertKey) -> bool {
        self.rules.is_empty()
            || self.rules.iter().any(|r| {
                r.pattern == alert.pattern
                    && alert.confidence >= r.min_confidence
                    && (r.symbols.is_empty() || r.symbols.contains(&alert.symbol))
            })
    }

    pub fn len(&self) -> usize {
        self.rules.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert(pattern: &str, symbol: &str, confidence: f64) -> AlertKey {
        AlertKey {
            pattern: pattern.into(),
            symbol: Symbol::new(symbol).unwrap(),
            confidence,
        }
    }

    fn sub(pattern: &str, min: f64, symbols: Option<&[&str]>) -> PatternSubscription {
        PatternSubscription {
            pattern: pattern.into(),
            min_confidence: min,
            symbols: symbols.map(|s| s.iter().map(|x| x.to_string()).collect()),
        }
    }

    #[test]
    fn empty_filter_matches_everything() {
        assert!(PatternFilter::default().matches(&alert("Doji", "AAPL", 0.0)));
    }

    #[test]
    fn threshold_is_inclusive_and_name_exact() {
        let f = PatternFilter::compile(&[sub("Doji", 0.8, None)]).unwrap();
        assert!(f.matches(&alert("Doji", "AAPL", 0.8)));
        assert!(f.matches(&alert("Doji", "AAPL", 0.95)));
        assert!(!f.matches(&alert("Doji", "AAPL", 0.79)));
        assert!(!f.matches(&alert("doji", "AAPL", 0.9)));
    }

    #[test]
    fn symbol_list_restricts() {
        let f = PatternFilter::compile(&[sub("Hammer", 0.0, Some(&["nvda"]))]).unwrap();
        assert!(f.matches(&alert("Hammer", "NVDA", 0.5)));
        assert!(!f.matches(&alert("Hammer", "AAPL", 0.5)));
    }

    #[test]
    fn bad_entries_are_named() {
        let err =
            PatternFilter::compile(&[sub("Doji", 0.5, None), sub("X", 1.5, None)]).unwrap_err();
        assert!(err.0.contains("subscriptions[1].min_confidence"));
        assert!(PatternFilter::compile(&[sub(" ", 0.5, None)]).is_err());
    }
}
