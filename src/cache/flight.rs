//! A key's single flight in this process (steps 5 and 6): one caller at a time takes the turn,
//! and the outcome of a wait for another process's holder serves everyone who queued for it.

use std::sync::{Arc, Mutex};

use super::Answer;

/// One key's single flight in this process: the turn that one caller at a time holds, and the
/// outcome of the last wait for another process's lease holder, which serves every caller that
/// queued while it ran (they would only repeat the same wait).
#[derive(Default)]
pub(super) struct Flight {
    pub(super) turn: Arc<tokio::sync::Mutex<()>>,
    /// The waits for a holder finished so far, and the answer the last one ended with.
    waited: Mutex<(u64, Option<Answer>)>,
}

impl Flight {
    /// Returns how many waits had finished when a caller joined the queue.
    pub(super) fn waits_done(&self) -> u64 {
        self.waited.lock().unwrap().0
    }

    /// Returns the outcome of a wait that finished after `joined` (see [`Flight::waits_done`]).
    pub(super) fn waited_since(&self, joined: u64) -> Option<Answer> {
        let waited = self.waited.lock().unwrap();
        (waited.0 > joined).then(|| waited.1.clone()).flatten()
    }

    pub(super) fn finish_wait(&self, answer: &Answer) {
        let mut waited = self.waited.lock().unwrap();
        *waited = (waited.0 + 1, Some(answer.clone()));
    }
}
