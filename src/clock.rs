//! One clock for the whole service, so tests can move time instead of sleeping, and the one type
//! for a moment in time ([`Timestamp`]). Windows, leases and cooldowns are
//! [`std::time::Duration`]s; only the wire formats (DynamoDB attributes, JSON fields) carry bare
//! numbers, converted at the edge.

use std::ops::{Add, Sub};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// A moment as the wall clock tells it, to the millisecond since the Unix epoch. Ordered, cheap to
/// copy; add or subtract a [`Duration`] to move it, and subtract two to get the time between
/// them (saturating at zero, as clocks of different machines may disagree).
///
/// It is stored and sent as that number (`serde(transparent)`), so a field of this type keeps
/// the wire format of the epoch-millisecond number it replaced.
#[derive(
    Debug, Default, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Timestamp(u64);

impl Timestamp {
    /// The epoch itself (nothing happened yet).
    pub const EPOCH: Timestamp = Timestamp(0);
    /// A moment no deadline reaches: what a permanent record expires at.
    pub const FAR_FUTURE: Timestamp = Timestamp(u64::MAX / 2);

    /// The moment `millis` milliseconds after the epoch (a wire format's number).
    pub const fn from_millis(millis: u64) -> Timestamp {
        Timestamp(millis)
    }

    /// The moment `secs` seconds after the epoch (DynamoDB's TTL attribute, Spotify's
    /// `expires_in` added to now).
    pub const fn from_secs(secs: u64) -> Timestamp {
        Timestamp(secs.saturating_mul(1000))
    }

    /// Milliseconds since the epoch, for a wire format.
    pub const fn as_millis(self) -> u64 {
        self.0
    }

    /// Whole seconds since the epoch, for a wire format (rounded down).
    pub const fn as_secs(self) -> u64 {
        self.0 / 1000
    }

    /// The time from `earlier` to this moment; zero when `earlier` is not earlier.
    pub fn since(self, earlier: Timestamp) -> Duration {
        Duration::from_millis(self.0.saturating_sub(earlier.0))
    }

    /// The time from this moment to `later`; zero when `later` has passed.
    pub fn until(self, later: Timestamp) -> Duration {
        later.since(self)
    }

    /// This moment as RFC 3339 in UTC to the millisecond, always in the same width
    /// (`2026-12-01T10:00:00.123Z`), so texts sort as the moments do (the history's sort keys and
    /// its export). Moments after the year 9999 are the year 9999's last millisecond.
    pub fn to_rfc3339_millis(self) -> String {
        let nanos = i128::from(self.0.min(MAX_RFC3339_MILLIS)) * 1_000_000;
        time::OffsetDateTime::from_unix_timestamp_nanos(nanos)
            .expect("a moment before the year 10000")
            .format(time::macros::format_description!(
                "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
            ))
            .expect("a UTC moment formats")
    }

    /// The moment an RFC 3339 date-time names (`2026-12-01T10:00:00.123Z`, any offset), to the
    /// millisecond; `None` when it is not one or is before the epoch.
    pub fn parse_rfc3339(text: &str) -> Option<Timestamp> {
        let t = time::OffsetDateTime::parse(
            text.trim(),
            &time::format_description::well_known::Rfc3339,
        )
        .ok()?;
        u64::try_from(t.unix_timestamp_nanos() / 1_000_000)
            .ok()
            .map(Timestamp)
    }
}

/// 9999-12-31T23:59:59.999Z, the last moment RFC 3339 can write.
const MAX_RFC3339_MILLIS: u64 = 253_402_300_799_999;

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl Add<Duration> for Timestamp {
    type Output = Timestamp;
    fn add(self, d: Duration) -> Timestamp {
        Timestamp(self.0.saturating_add(millis(d)))
    }
}

impl Sub<Duration> for Timestamp {
    type Output = Timestamp;
    fn sub(self, d: Duration) -> Timestamp {
        Timestamp(self.0.saturating_sub(millis(d)))
    }
}

impl Sub<Timestamp> for Timestamp {
    type Output = Duration;
    /// The same as [`Timestamp::since`].
    fn sub(self, earlier: Timestamp) -> Duration {
        self.since(earlier)
    }
}

/// The source of "now" for the service.
pub trait Clock: Send + Sync + 'static {
    /// The current moment.
    fn now(&self) -> Timestamp;
}

/// The wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::from_millis(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_millis() as u64)
                .unwrap_or(0),
        )
    }
}

/// A clock that only moves when told to (tests).
#[derive(Debug, Clone)]
pub struct ManualClock(Arc<AtomicU64>);

impl ManualClock {
    /// A clock standing at `start`.
    pub fn at(start: Timestamp) -> Self {
        ManualClock(Arc::new(AtomicU64::new(start.as_millis())))
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: Duration) {
        self.0.fetch_add(millis(by), Ordering::SeqCst);
    }

    /// Puts the clock at `to` (forward or back).
    pub fn set(&self, to: Timestamp) {
        self.0.store(to.as_millis(), Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        Timestamp::from_millis(self.0.load(Ordering::SeqCst))
    }
}

/// A shared clock handle.
pub type SharedClock = Arc<dyn Clock>;

/// These functions put a [`Duration`] on the wire as whole milliseconds
/// (`#[serde(with = "crate::clock::millis")]`), for the JSON fields that carry a length as a
/// number of milliseconds.
pub mod millis {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(super::millis(*d))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_millis)
    }
}

/// These functions put an optional [`Duration`] on the wire as whole milliseconds or `null`
/// (`#[serde(default, with = "crate::clock::opt_millis")]`).
pub mod opt_millis {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_some(&super::millis(*d)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        Option::<u64>::deserialize(d).map(|ms| ms.map(Duration::from_millis))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_timestamp_moves_by_durations_and_saturates() {
        let t = Timestamp::from_secs(10);
        assert_eq!((t + Duration::from_millis(250)).as_millis(), 10_250);
        assert_eq!((t - Duration::from_secs(3)).as_secs(), 7);
        assert_eq!(t - Duration::from_secs(60), Timestamp::EPOCH);
        assert_eq!(t.since(Timestamp::from_secs(4)), Duration::from_secs(6));
        assert_eq!(Timestamp::from_secs(4).since(t), Duration::ZERO);
        assert_eq!(Timestamp::from_secs(4).until(t), Duration::from_secs(6));
        assert!(Timestamp::FAR_FUTURE > t + Duration::from_secs(100 * 365 * 24 * 3600));
    }

    #[test]
    fn on_the_wire_times_are_numbers_of_milliseconds() {
        #[derive(Debug, PartialEq, Serialize, Deserialize)]
        struct Wire {
            at: Timestamp,
            #[serde(with = "millis")]
            length: Duration,
            #[serde(default, with = "opt_millis")]
            maybe: Option<Duration>,
        }
        let w = Wire {
            at: Timestamp::from_millis(1_795_000_000_123),
            length: Duration::from_millis(1500),
            maybe: Some(Duration::from_secs(2)),
        };
        let text = serde_json::to_string(&w).unwrap();
        assert_eq!(text, r#"{"at":1795000000123,"length":1500,"maybe":2000}"#);
        assert_eq!(serde_json::from_str::<Wire>(&text).unwrap(), w);
        let none: Wire = serde_json::from_str(r#"{"at":1,"length":0}"#).unwrap();
        assert_eq!(none.maybe, None);
        assert!(serde_json::from_str::<Wire>(r#"{"at":1,"length":1.5}"#).is_err());
        assert_eq!(
            serde_json::to_string(&Wire { maybe: None, ..w }).unwrap(),
            r#"{"at":1795000000123,"length":1500,"maybe":null}"#
        );
    }

    #[test]
    fn the_manual_clock_moves_only_when_told() {
        let clock = ManualClock::at(Timestamp::from_secs(1));
        assert_eq!(clock.now(), Timestamp::from_millis(1000));
        clock.advance(Duration::from_millis(1500));
        assert_eq!(clock.now().as_millis(), 2500);
        clock.set(Timestamp::from_secs(1));
        assert_eq!(clock.now().as_secs(), 1);
    }
}
