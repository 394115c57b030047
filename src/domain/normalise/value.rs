//! Coercion of single JSON values: numbers, counts, text, objects, fractions and timestamps.
//!
//! Every helper takes the looked-up value (`None` when absent or null) and returns `Ok(None)`
//! when absent, `Ok(Some(..))` when usable, or the drop reason when present but unusable.

use chrono::{DateTime, NaiveDate, NaiveDateTime};

use super::super::drop::DropReason;
use super::super::event::{EpochMillis, JsonMap};
use super::json::Json;

pub(super) type Res<T> = Result<T, DropReason>;

/// Epoch values above this are milliseconds, below it seconds (1e11 s is the year 5138).
const MILLIS_THRESHOLD: f64 = 1e11;
/// The JavaScript `Date` range, so every timestamp we emit is one a browser can represent.
const MAX_ABS_MILLIS: f64 = 8.64e15;

/// A JSON number or a numeric string, finite.
pub(super) fn number(v: Option<&Json<'_>>) -> Res<Option<f64>> {
    let n = match v {
        None => return Ok(None),
        Some(Json::Number(n)) => n.as_f64(),
        Some(Json::String(s)) => s.trim().parse::<f64>().ok(),
        Some(_) => None,
    };
    match n {
        Some(f) if f.is_finite() => Ok(Some(f)),
        _ => Err(DropReason::InvalidValue),
    }
}

/// A non-negative whole number (a JSON integer, an integral float or such a numeric string).
pub(super) fn count(v: Option<&Json<'_>>) -> Res<Option<u64>> {
    let whole = match v {
        Some(Json::Number(n)) => n.as_u64(),
        Some(Json::String(s)) => s.trim().parse::<u64>().ok(),
        _ => None,
    };
    if whole.is_some() {
        return Ok(whole);
    }
    match number(v)? {
        None => Ok(None),
        // 2^64 as f64; anything from there up does not fit.
        Some(f) if f >= 0.0 && f.fract() == 0.0 && f < 18_446_744_073_709_551_616.0 => {
            Ok(Some(f as u64))
        }
        Some(_) => Err(DropReason::InvalidValue),
    }
}

/// A string, or a number rendered as its decimal string (`user_id: 42` is `"42"`).
pub(super) fn text(v: Option<&Json<'_>>) -> Res<Option<String>> {
    match v {
        None => Ok(None),
        Some(Json::String(s)) => Ok(Some(s.as_ref().to_owned())),
        Some(Json::Number(n)) => Ok(Some(n.to_string())),
        Some(_) => Err(DropReason::InvalidValue),
    }
}

/// A required text field: absent or blank is `missing`, any other unusable type `InvalidValue`.
pub(super) fn required_text(v: Option<&Json<'_>>, missing: DropReason) -> Res<String> {
    match text(v)? {
        Some(s) if !s.trim().is_empty() => Ok(s),
        _ => Err(missing),
    }
}

/// An optional object, kept only when it is one (`bar_data`, `metadata`, `details`, ...).
pub(super) fn object_if_any(v: Option<&Json<'_>>) -> Option<JsonMap> {
    match v {
        Some(Json::Object(m)) => Some(m.to_map()),
        _ => None,
    }
}

/// An object field that defaults to `{}`; present but not an object is `InvalidValue`.
pub(super) fn object_or_empty(v: Option<&Json<'_>>) -> Res<JsonMap> {
    match v {
        None => Ok(JsonMap::new()),
        Some(Json::Object(m)) => Ok(m.to_map()),
        Some(_) => Err(DropReason::InvalidValue),
    }
}

/// A JSON boolean.
pub(super) fn flag(v: Option<&Json<'_>>) -> Res<Option<bool>> {
    match v {
        None => Ok(None),
        Some(Json::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(DropReason::InvalidValue),
    }
}

/// A 0..1 fraction; a value in (1, 100] is a percentage. Anything else is `InvalidValue`.
pub(super) fn fraction(v: Option<&Json<'_>>) -> Res<Option<f64>> {
    match number(v)? {
        None => Ok(None),
        Some(f) if (0.0..=1.0).contains(&f) => Ok(Some(f)),
        Some(f) if f > 1.0 && f <= 100.0 => Ok(Some(f / 100.0)),
        Some(_) => Err(DropReason::InvalidValue),
    }
}

/// Epoch seconds or milliseconds (number or numeric string), or an RFC 3339 / ISO 8601 string
/// (a naive date-time is UTC).
pub(super) fn timestamp(v: Option<&Json<'_>>) -> Res<Option<EpochMillis>> {
    match v {
        None => Ok(None),
        Some(Json::Number(_)) => epoch(number(v)?.unwrap_or(f64::NAN)).map(Some),
        Some(Json::String(s)) => parse_time_text(s.trim()).map(Some),
        Some(_) => Err(DropReason::InvalidValue),
    }
}

fn epoch(raw: f64) -> Res<EpochMillis> {
    let millis = if raw > MILLIS_THRESHOLD {
        raw
    } else {
        raw * 1000.0
    };
    let millis = millis.round();
    if millis.is_finite() && millis.abs() <= MAX_ABS_MILLIS {
        Ok(EpochMillis(millis as i64))
    } else {
        Err(DropReason::InvalidValue)
    }
}

fn parse_time_text(s: &str) -> Res<EpochMillis> {
    if let Ok(f) = s.parse::<f64>() {
        return epoch(f);
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(EpochMillis(t.timestamp_millis()));
    }
    for format in ["%Y-%m-%dT%H:%M:%S%.f%z", "%Y-%m-%d %H:%M:%S%.f%z"] {
        if let Ok(t) = DateTime::parse_from_str(s, format) {
            return Ok(EpochMillis(t.timestamp_millis()));
        }
    }
    for format in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, format) {
            return Ok(EpochMillis(t.and_utc().timestamp_millis()));
        }
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| EpochMillis(t.and_utc().timestamp_millis()))
        .ok_or(DropReason::InvalidValue)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    /// The tests' JSON literals, as the normaliser sees them (`Json`, not `serde_json::Value`).
    macro_rules! json {
        ($($literal:tt)+) => {
            Json::deserialize(serde_json::json!($($literal)+)).unwrap()
        };
    }

    const T: i64 = 1_760_557_168_339; // 2025-10-15T19:39:28.339Z

    fn ts(v: Json<'_>) -> Res<Option<EpochMillis>> {
        timestamp(Some(&v))
    }

    #[test]
    fn numbers_accept_numeric_strings_only() {
        assert_eq!(number(Some(&json!(0.85))), Ok(Some(0.85)));
        assert_eq!(number(Some(&json!(" 0.85 "))), Ok(Some(0.85)));
        assert_eq!(number(Some(&json!(7))), Ok(Some(7.0)));
        assert_eq!(number(None), Ok(None));
        for bad in [
            json!("45%"),
            json!(""),
            json!("NaN"),
            json!("inf"),
            json!(true),
            json!([1]),
        ] {
            assert_eq!(number(Some(&bad)), Err(DropReason::InvalidValue), "{bad:?}");
        }
    }

    #[test]
    fn counts_are_whole_and_non_negative() {
        assert_eq!(count(Some(&json!(500))), Ok(Some(500)));
        assert_eq!(count(Some(&json!(500.0))), Ok(Some(500)));
        assert_eq!(count(Some(&json!("12"))), Ok(Some(12)));
        assert_eq!(count(Some(&json!(u64::MAX))), Ok(Some(u64::MAX)));
        for bad in [json!(-1), json!(1.5), json!(1e30), json!("x")] {
            assert_eq!(count(Some(&bad)), Err(DropReason::InvalidValue), "{bad:?}");
        }
    }

    #[test]
    fn numbers_become_decimal_strings() {
        assert_eq!(text(Some(&json!(42))), Ok(Some("42".to_owned())));
        assert_eq!(text(Some(&json!("u"))), Ok(Some("u".to_owned())));
        assert_eq!(text(Some(&json!({}))), Err(DropReason::InvalidValue));
        assert_eq!(
            required_text(Some(&json!("  ")), DropReason::MissingField),
            Err(DropReason::MissingField)
        );
        assert_eq!(
            required_text(None, DropReason::MissingJobId),
            Err(DropReason::MissingJobId)
        );
    }

    #[test]
    fn objects_default_or_are_ignored() {
        assert_eq!(object_or_empty(None), Ok(JsonMap::new()));
        assert_eq!(
            object_or_empty(Some(&json!([]))),
            Err(DropReason::InvalidValue)
        );
        assert_eq!(object_if_any(Some(&json!("x"))), None);
        assert_eq!(
            object_if_any(Some(&json!({"a": 1}))).map(|m| m.len()),
            Some(1)
        );
        assert_eq!(flag(Some(&json!("true"))), Err(DropReason::InvalidValue));
    }

    #[test]
    fn fractions_scale_percentages() {
        assert_eq!(fraction(Some(&json!(0.88))), Ok(Some(0.88)));
        assert_eq!(fraction(Some(&json!(0))), Ok(Some(0.0)));
        assert_eq!(fraction(Some(&json!(1))), Ok(Some(1.0)));
        assert_eq!(fraction(Some(&json!(85))), Ok(Some(0.85)));
        assert_eq!(fraction(Some(&json!(100))), Ok(Some(1.0)));
        assert_eq!(fraction(Some(&json!("0.85"))), Ok(Some(0.85)));
        assert_eq!(fraction(None), Ok(None));
        for bad in [json!(100.5), json!(-0.1), json!("45%"), json!([])] {
            assert_eq!(
                fraction(Some(&bad)),
                Err(DropReason::InvalidValue),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn epoch_seconds_and_millis() {
        assert_eq!(ts(json!(1760557168.339)), Ok(Some(EpochMillis(T))));
        assert_eq!(ts(json!(1760557168339_i64)), Ok(Some(EpochMillis(T))));
        assert_eq!(ts(json!("1760557168.339")), Ok(Some(EpochMillis(T))));
        assert_eq!(ts(json!(1760557168)), Ok(Some(EpochMillis(T - 339))));
        assert_eq!(ts(json!(1e300)), Err(DropReason::InvalidValue));
        assert_eq!(ts(json!(-1e300)), Err(DropReason::InvalidValue));
    }

    #[test]
    fn iso_8601_forms() {
        let t = Ok(Some(EpochMillis(T)));
        assert_eq!(ts(json!("2025-10-15T19:39:28.339000+00:00")), t);
        assert_eq!(ts(json!("2025-10-15T19:39:28.339Z")), t);
        assert_eq!(ts(json!("2025-10-15T21:39:28.339+02:00")), t);
        assert_eq!(ts(json!("2025-10-15T19:39:28.339+0000")), t);
        assert_eq!(ts(json!("2025-10-15T19:39:28.339000")), t);
        assert_eq!(ts(json!("2025-10-15 19:39:28.339")), t);
        let whole = Ok(Some(EpochMillis(T - 339)));
        assert_eq!(ts(json!("2025-10-15T19:39:28Z")), whole);
        assert_eq!(ts(json!("2025-10-15T19:39:28.000Z")), whole);
        assert_eq!(ts(json!("2025-10-15T19:39:28")), whole);
        assert_eq!(
            ts(json!("2025-10-15")),
            Ok(Some(EpochMillis(1_760_486_400_000)))
        );
    }

    #[test]
    fn unparseable_timestamps_are_invalid() {
        for bad in [
            json!("yesterday"),
            json!(""),
            json!("2025-13-45T99:00:00"),
            json!(true),
        ] {
            assert_eq!(ts(bad.clone()), Err(DropReason::InvalidValue), "{bad:?}");
        }
        assert_eq!(timestamp(None), Ok(None));
    }
}
