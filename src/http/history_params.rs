//! The listening history's parameters: `from` and `to` as whole UTC days (a date, or an RFC 3339
//! time rounded out to its day), at most [`MAX_DAYS`] of them; `limit`; `cursor`.

use std::collections::HashMap;

use time::{Date, Duration as Days, OffsetDateTime};

use super::params::{bad_value, ParamError};
use crate::clock::Timestamp;
use crate::history::Cursor;

/// The longest range, in days (a leap year).
pub const MAX_DAYS: i64 = 366;
/// The default range: today and the 364 days before it.
pub const DEFAULT_DAYS: i64 = 365;

pub const FROM_ACCEPTED: &str =
    "a date YYYY-MM-DD or an RFC 3339 time (its UTC day is the first day; default 364 days before to)";
pub const TO_ACCEPTED: &str =
    "a date YYYY-MM-DD (the last day, included) or an RFC 3339 time (excluded, rounded up to a whole UTC day; default today)";
pub const HISTORY_LIMIT_ACCEPTED: &str = "a whole number from 1 to 200 (default 50)";
pub const CURSOR_ACCEPTED: &str = "the \"next\" cursor of an earlier page, as given";

/// A range of whole UTC days, both ends included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DayRange {
    pub first: Date,
    pub last: Date,
}

impl DayRange {
    /// The default range ending `today`.
    pub fn ending(today: Date) -> DayRange {
        DayRange {
            first: today - Days::days(DEFAULT_DAYS - 1),
            last: today,
        }
    }

    /// The first moment of the range (included).
    pub fn from(&self) -> Timestamp {
        start_of(self.first)
    }

    /// The first moment after the range (excluded).
    pub fn to(&self) -> Timestamp {
        self.last
            .next_day()
            .map_or(crate::history::LATEST, start_of)
    }

    /// Every day of the range, oldest first.
    pub fn days(&self) -> impl Iterator<Item = Date> {
        let last = self.last;
        std::iter::successors(Some(self.first), move |d| {
            d.next_day().filter(|n| *n <= last)
        })
    }
}

/// The first moment of a day (days before 1970 are refused by the parsers).
fn start_of(day: Date) -> Timestamp {
    let secs = day.midnight().assume_utc().unix_timestamp();
    Timestamp::from_secs(u64::try_from(secs).unwrap_or(0))
}

/// A date `YYYY-MM-DD`, or an RFC 3339 time, from 1970 to 9999.
enum Bound {
    Day(Date),
    Time(OffsetDateTime),
}

fn parse_bound(name: &str, value: &str, accepted: &str) -> Result<Bound, ParamError> {
    let bad = || bad_value(name, value, accepted);
    let epoch = Date::from_calendar_date(1970, time::Month::January, 1).expect("a date");
    let bound = if value.len() == 10 {
        let day = Date::parse(
            value,
            time::macros::format_description!("[year]-[month]-[day]"),
        )
        .map_err(|_| bad())?;
        Bound::Day(day)
    } else {
        let t = OffsetDateTime::parse(value, &time::format_description::well_known::Rfc3339)
            .map_err(|_| bad())?
            .to_offset(time::UtcOffset::UTC);
        Bound::Time(t)
    };
    let day = match &bound {
        Bound::Day(d) => *d,
        Bound::Time(t) => t.date(),
    };
    if day < epoch || day.year() > 9999 {
        return Err(bad());
    }
    Ok(bound)
}

/// `from` and `to` as whole days: `from`'s UTC day is the first; a `to` date is the last day, a
/// `to` time is excluded (a time after midnight includes its day). Missing `to`: today; missing
/// `from`: 364 days before the last day. A range that ends before it starts, or is longer than
/// [`MAX_DAYS`], is refused naming the parameter.
pub fn day_range(params: &HashMap<String, String>, today: Date) -> Result<DayRange, ParamError> {
    let last = match params.get("to") {
        None => today,
        Some(v) => match parse_bound("to", v, TO_ACCEPTED)? {
            Bound::Day(d) => d,
            Bound::Time(t) => {
                let d = t.date();
                if t.time() == time::Time::MIDNIGHT {
                    d.previous_day().unwrap_or(d)
                } else {
                    d
                }
            }
        },
    };
    let first = match params.get("from") {
        None => last - Days::days(DEFAULT_DAYS - 1),
        Some(v) => match parse_bound("from", v, FROM_ACCEPTED)? {
            Bound::Day(d) => d,
            Bound::Time(t) => t.date(),
        },
    };
    if last < first {
        let mut e = bad_value(
            "to",
            params.get("to").map_or("", String::as_str),
            TO_ACCEPTED,
        );
        e.message = format!(
            "the range ends ({}) before it starts ({}): to must not be before from",
            crate::history::stats::day_key(last),
            crate::history::stats::day_key(first)
        );
        return Err(e);
    }
    let days = (last - first).whole_days() + 1;
    if days > MAX_DAYS {
        let mut e = bad_value(
            "from",
            params.get("from").map_or("", String::as_str),
            FROM_ACCEPTED,
        );
        e.message = format!(
            "the range from {} to {} is {days} days: at most {MAX_DAYS} days may be asked at once",
            crate::history::stats::day_key(first),
            crate::history::stats::day_key(last)
        );
        return Err(e);
    }
    Ok(DayRange { first, last })
}

/// `cursor`: one a page handed out.
pub fn cursor(params: &HashMap<String, String>) -> Result<Option<Cursor>, ParamError> {
    params
        .get("cursor")
        .map(|v| {
            v.parse::<Cursor>()
                .map_err(|_| bad_value("cursor", v, CURSOR_ACCEPTED))
        })
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    fn range(q: &str) -> Result<DayRange, ParamError> {
        let p = super::super::params::parse_query(
            Some(q),
            &[("from", FROM_ACCEPTED), ("to", TO_ACCEPTED)],
        )?;
        day_range(&p, date!(2026 - 12 - 02))
    }

    #[test]
    fn ranges_are_whole_days() {
        assert_eq!(
            range(""),
            Ok(DayRange {
                first: date!(2025 - 12 - 03),
                last: date!(2026 - 12 - 02)
            })
        );
        assert_eq!(range("").unwrap().days().count(), 365);
        let r = range("from=2026-11-01&to=2026-11-30").unwrap();
        assert_eq!(
            (r.first, r.last),
            (date!(2026 - 11 - 01), date!(2026 - 11 - 30))
        );
        assert_eq!(r.to().as_millis() - r.from().as_millis(), 30 * 86_400_000);
        let r = range("from=2026-11-01T13:00:00%2B02:00&to=2026-11-03T00:00:00Z").unwrap();
        assert_eq!(
            (r.first, r.last),
            (date!(2026 - 11 - 01), date!(2026 - 11 - 02))
        );
        let r = range("from=2026-11-01T00:30:00%2B02:00&to=2026-11-03T00:00:01Z").unwrap();
        assert_eq!(
            (r.first, r.last),
            (date!(2026 - 10 - 31), date!(2026 - 11 - 03))
        );
        assert_eq!(
            range("from=2026-11-01").unwrap().last,
            date!(2026 - 12 - 02)
        );
        assert_eq!(range("to=2026-01-10").unwrap().first, date!(2025 - 01 - 11));
        assert!(
            range("from=2024-01-01&to=2024-12-31").is_ok(),
            "a leap year"
        );
    }

    #[test]
    fn bad_bounds_name_their_parameter() {
        for (q, name) in [
            ("from=yesterday", "from"),
            ("from=2026-13-01", "from"),
            ("from=1969-12-31", "from"),
            ("to=2026-11-31", "to"),
            ("to=2026-11-01T25:00:00Z", "to"),
            ("to=", "to"),
            ("from=2026-11-02&to=2026-11-01", "to"),
            ("from=2025-01-01&to=2026-01-02", "from"),
        ] {
            let e = range(q).unwrap_err();
            assert_eq!(e.parameter, name, "{q}: {}", e.message);
        }
        assert!(range("from=2025-01-01&to=2026-01-02")
            .unwrap_err()
            .message
            .contains("at most 366 days"));
    }
}
