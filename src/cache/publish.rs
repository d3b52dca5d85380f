//! The end of step 6: publishing the answer under the lease, in one conditional write.

use std::time::Duration;

use super::entry::Entry;
use super::{cooling_window, Answer, AnswerCache, Outcome};
use crate::clock::Timestamp;
use crate::lease::AnswerLease;
use crate::store::Conditional;

impl AnswerCache {
    /// The end of step 6: the entry goes out with `exp = now + window` (no later than the end
    /// of the cooldown it belongs to), and the lease goes back in the same write, which
    /// succeeds only while this holder holds it; when `hide` or a new sign-in marked the item
    /// meanwhile (which removes the lease), nothing is written and `null` is served.
    pub(super) async fn publish(
        &self,
        key: &str,
        ttl: Duration,
        outcome: Outcome,
        lease: Option<AnswerLease<'_>>,
        generation: &str,
    ) -> Answer {
        let now = self.clock.now();
        let fresh_until = match outcome.cooling_until {
            Some(until) => cooling_window(until, now, ttl),
            None => now + ttl,
        };
        let e = match lease {
            Some(lease) => {
                if self
                    .publish_under(key, &outcome.entry, fresh_until, now, lease, generation)
                    .await
                {
                    outcome.entry
                } else {
                    Entry::nothing()
                }
            }
            None => {
                self.write(key, &outcome.entry, fresh_until, now).await;
                outcome.entry
            }
        };
        self.remember(key, &e, fresh_until, now);
        self.answer(&e, fresh_until, ttl)
    }

    /// Writes the answer, stamped with `generation`, and gives the lease back in one write.
    /// Returns `false` when the answer must not be served: the item was marked hidden or for
    /// another sign-in, or is gone (an older version's owner command deletes the answers). When
    /// only the lease changed hands, the answer is served to this caller but not stored.
    async fn publish_under(
        &self,
        key: &str,
        entry: &Entry,
        fresh_until: Timestamp,
        now: Timestamp,
        lease: AnswerLease<'_>,
        generation: &str,
    ) -> bool {
        let record = entry
            .record(fresh_until, now, self.settings.keep)
            .stamped(generation);
        match lease.publish(&record).await {
            Ok(Conditional::Done) => true,
            Ok(Conditional::Refused(item)) => item.is_some_and(|r| {
                !r.marks.hidden
                    && r.marks
                        .generation
                        .as_deref()
                        .is_none_or(|g| g == generation)
            }),
            Err(e) => {
                tracing::warn!(key, error = %e, "could not store the answer");
                true
            }
        }
    }
}
