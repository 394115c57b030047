//! Time for the demo: the wall clock in epoch seconds, ISO 8601 rendering for the streaming
//! channels, and calendar-date arithmetic for backtest ranges. Hand-rolled (civil-date algorithms
//! from H. Hinnant) so the demo needs no date crate.

use std::time::{SystemTime, UNIX_EPOCH};

const SECONDS_PER_DAY: i64 = 86_400;
/// Days from 0000-03-01 (the algorithm's epoch) to 1970-01-01.
const UNIX_EPOCH_DAY: i64 = 719_468;
const DAYS_PER_ERA: i64 = 146_097;

/// Seconds since the Unix epoch, with sub-second precision, as the producers stamp messages.
pub(super) fn now() -> f64 {
    // A clock before 1970 is a broken host; stamping 0 keeps the demo running.
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |elapsed| elapsed.as_secs_f64())
}

/// Renders epoch seconds as `YYYY-MM-DDTHH:MM:SS.mmmZ`, the form the streaming producers use.
pub(super) fn iso8601(epoch_seconds: f64) -> String {
    let millis = (epoch_seconds * 1000.0).round() as i64;
    let seconds = millis.div_euclid(1000);
    let (year, month, day) = civil_from_days(seconds.div_euclid(SECONDS_PER_DAY));
    let second_of_day = seconds.rem_euclid(SECONDS_PER_DAY);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        second_of_day / 3600,
        second_of_day % 3600 / 60,
        second_of_day % 60,
        millis.rem_euclid(1000)
    )
}

/// Parses a `YYYY-MM-DD` date into days since 1970-01-01; `None` for anything else, including
/// impossible dates such as 2025-02-30.
pub(super) fn parse_date(text: &str) -> Option<i64> {
    let mut parts = text.split('-');
    let year: i64 = parts.next()?.parse().ok()?;
    let month: i64 = parts.next()?.parse().ok()?;
    let day: i64 = parts.next()?.parse().ok()?;
    if parts.next().is_some() || !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    let days = days_from_civil(year, month, day);
    // Day overflow (Feb 30) lands in the next month, so a round trip exposes it.
    (civil_from_days(days) == (year, month, day)).then_some(days)
}

fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let day_of_year = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * DAYS_PER_ERA + day_of_era - UNIX_EPOCH_DAY
}

fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let shifted = days + UNIX_EPOCH_DAY;
    let era = shifted.div_euclid(DAYS_PER_ERA);
    let day_of_era = shifted - era * DAYS_PER_ERA;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_the_fixture_instant() {
        assert_eq!(iso8601(1_760_557_168.342), "2025-10-15T19:39:28.342Z");
        assert_eq!(iso8601(0.0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso8601(951_782_400.0), "2000-02-29T00:00:00.000Z");
    }

    #[test]
    fn parses_dates_and_rejects_impossible_ones() {
        assert_eq!(parse_date("1970-01-01"), Some(0));
        assert_eq!(parse_date("2025-10-15"), Some(20_376));
        assert_eq!(parse_date("2024-02-29"), Some(19_782));
        assert_eq!(parse_date("2023-02-29"), None);
        assert_eq!(parse_date("2025-13-01"), None);
        assert_eq!(parse_date("2025-10-15T00:00:00"), None);
        assert_eq!(parse_date("yesterday"), None);
        assert_eq!(parse_date("2025-10"), None);
    }

    #[test]
    fn now_is_after_the_fixtures() {
        assert!(now() > 1_760_000_000.0);
    }
}
