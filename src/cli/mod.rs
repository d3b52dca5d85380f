//! The owner's commands. Each prints one friendly line per fact and returns a one-line error
//! (printed by `main`, exit 1) when the owner must act; none prints a secret or a token.

pub mod authorize;
pub mod collect;
pub mod connections;
pub mod disconnect;
pub mod history;
pub mod lone;
pub mod privacy;
pub mod serve;
pub mod status;

use crate::clock::{Clock, SystemClock, Timestamp};

/// The wall clock's moment now.
pub fn now() -> Timestamp {
    SystemClock.now()
}
