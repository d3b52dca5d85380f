//! The history in its own DynamoDB table. Partition key `pk` (S): the play's month in UTC
//! (`2026-11`); sort key `sk` (S): the play's time, RFC 3339 in UTC to the millisecond, `#`, the
//! item's key (`2026-11-30T23:59:59.123Z#spotify:track:ID`), so that within a month the sort
//! key orders plays by time and then key. A range is one `Query` per month that holds plays
//! (newest first, `ScanIndexForward=false`); no operation is ever a `Scan`.
//!
//! One more partition, `meta`, holds the index of months that hold plays (`month#2026-11`) and
//! the newest play's time per source (`newest#spotify`, attribute `t`). The algorithm, its
//! ordering and its cost are in docs/architecture.md, "History store".

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::num::NonZeroUsize;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::{AttributeValue, DeleteRequest, WriteRequest};
use aws_sdk_dynamodb::Client;

use super::{
    validate_all, AddOutcome, Cursor, HistoryStore, Page, Play, PlayKind, PlaySource, LATEST,
};
use crate::clock::Timestamp;
use crate::store::dynamo::concise;
use crate::store::StoreError;

/// The table's partition key attribute (S): a month, or [`META`].
pub const PARTITION_KEY: &str = "pk";
/// The table's sort key attribute (S).
pub const SORT_KEY: &str = "sk";
/// The partition of the month index and the newest-play markers.
pub const META: &str = "meta";

const MONTH_PREFIX: &str = "month#";
const NEWEST_PREFIX: &str = "newest#";
/// Writes in flight at once for one `add`.
const CONCURRENT_WRITES: usize = 8;
/// `BatchWriteItem` takes at most this many requests.
const BATCH: usize = 25;
/// Attempts at a batch's unprocessed items before the call fails.
const BATCH_ATTEMPTS: u32 = 8;

/// The history in a DynamoDB table of its own.
#[derive(Debug, Clone)]
pub struct DynamoHistory {
    client: Client,
    table: String,
}

type Item = HashMap<String, AttributeValue>;

/// A moment as the sort key writes it: `2026-11-30T23:59:59.123Z` (fixed width, so that text
/// order is time order).
pub fn time_text(t: Timestamp) -> String {
    t.to_rfc3339_millis()
}

/// The month partition of a moment: `2026-11`.
pub fn month_of(t: Timestamp) -> String {
    time_text(t)[..7].to_string()
}

/// The sort key of the play of `key` at `at`.
pub fn sort_key(at: Timestamp, key: &str) -> String {
    format!("{}#{key}", time_text(at))
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn n(v: u64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

impl DynamoHistory {
    pub fn new(client: Client, table: impl Into<String>) -> DynamoHistory {
        DynamoHistory {
            client,
            table: table.into(),
        }
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    fn error<E, R>(&self, e: SdkError<E, R>) -> StoreError
    where
        E: std::error::Error + ProvideErrorMetadata + Send + Sync + 'static,
        R: std::fmt::Debug,
    {
        StoreError::Unavailable {
            store: self.describe(),
            reason: concise(&e),
        }
    }

    fn invalid(&self, reason: String) -> StoreError {
        StoreError::Invalid {
            store: self.describe(),
            reason,
        }
    }

    fn item(play: &Play) -> Item {
        let mut item = HashMap::from([
            (PARTITION_KEY.to_string(), s(month_of(play.played_at))),
            (SORT_KEY.to_string(), s(sort_key(play.played_at, &play.key))),
            ("t".to_string(), n(play.played_at.as_millis())),
            ("key".to_string(), s(&play.key)),
            ("name".to_string(), s(&play.name)),
            ("artists".to_string(), s(&play.artists)),
            ("album".to_string(), s(&play.album)),
            ("kind".to_string(), s(play.kind.as_str())),
            ("short".to_string(), AttributeValue::Bool(play.short)),
            ("src".to_string(), s(play.source.as_str())),
        ]);
        for (name, value) in [
            ("img", &play.album_image),
            ("url", &play.song_url),
            ("tid", &play.track_id),
        ] {
            if let Some(v) = value {
                item.insert(name.to_string(), s(v));
            }
        }
        if let Some(ms) = play.ms_played {
            item.insert(
                "ms".to_string(),
                n(u64::try_from(ms.as_millis()).unwrap_or(u64::MAX)),
            );
        }
        item
    }

    fn play(&self, item: &Item) -> Result<Play, StoreError> {
        let text = |name: &str| item.get(name).and_then(|v| v.as_s().ok()).cloned();
        let number = |name: &str| {
            item.get(name)
                .and_then(|v| v.as_n().ok())
                .and_then(|v| v.parse::<u64>().ok())
        };
        let sk = text(SORT_KEY).unwrap_or_default();
        let need = |name: &str| {
            text(name).ok_or_else(|| self.invalid(format!("the play {sk:?} has no {name}")))
        };
        let kind = need("kind")?;
        let source = need("src")?;
        Ok(Play {
            played_at: Timestamp::from_millis(
                number("t").ok_or_else(|| self.invalid(format!("the play {sk:?} has no t")))?,
            ),
            key: need("key")?,
            name: need("name")?,
            artists: need("artists")?,
            album: need("album")?,
            album_image: text("img"),
            song_url: text("url"),
            track_id: text("tid"),
            kind: PlayKind::parse(&kind)
                .ok_or_else(|| self.invalid(format!("the play {sk:?} has kind {kind:?}")))?,
            ms_played: number("ms").map(Duration::from_millis),
            short: item
                .get("short")
                .and_then(|v| v.as_bool().ok())
                .copied()
                .unwrap_or(false),
            source: PlaySource::parse(&source)
                .ok_or_else(|| self.invalid(format!("the play {sk:?} has source {source:?}")))?,
        })
    }

    /// Stores one play unless its `(time, key)` is there: `Ok(true)` when it was written.
    async fn put_new(client: Client, table: String, item: Item) -> Result<bool, StoreError> {
        let result = client
            .put_item()
            .table_name(&table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(#sk)")
            .expression_attribute_names("#sk", SORT_KEY)
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
            {
                Ok(false)
            }
            Err(e) => Err(StoreError::Unavailable {
                store: format!("DynamoDB table {table} (history)"),
                reason: concise(&e),
            }),
        }
    }

    async fn put_meta(&self, sk: &str) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .item(PARTITION_KEY, s(META))
            .item(SORT_KEY, s(sk))
            .send()
            .await
            .map_err(|e| self.error(e))?;
        Ok(())
    }

    /// Moves the source's newest-play marker up to `at` (never down).
    async fn raise_newest(&self, source: PlaySource, at: Timestamp) -> Result<(), StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(PARTITION_KEY, s(META))
            .key(SORT_KEY, s(format!("{NEWEST_PREFIX}{}", source.as_str())))
            .update_expression("SET t = :t")
            .condition_expression("attribute_not_exists(t) OR t < :t")
            .expression_attribute_values(":t", n(at.as_millis()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
            {
                Ok(())
            }
            Err(e) => Err(self.error(e)),
        }
    }

    /// Every item of one partition whose sort key is between `lo` and `hi` (both inclusive;
    /// `None`: the whole partition), newest first, as the query pages them; `project` asks only
    /// for the keys. Stops once `want` items were read.
    async fn query(
        &self,
        pk: &str,
        bounds: Option<(&str, &str)>,
        want: Option<usize>,
        project: bool,
    ) -> Result<Vec<Item>, StoreError> {
        let mut out = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let mut req = self
                .client
                .query()
                .table_name(&self.table)
                .consistent_read(true)
                .scan_index_forward(false)
                .expression_attribute_names("#pk", PARTITION_KEY)
                .expression_attribute_values(":pk", s(pk))
                .set_exclusive_start_key(start.take());
            req = match bounds {
                Some((lo, hi)) => req
                    .key_condition_expression("#pk = :pk AND #sk BETWEEN :lo AND :hi")
                    .expression_attribute_names("#sk", SORT_KEY)
                    .expression_attribute_values(":lo", s(lo))
                    .expression_attribute_values(":hi", s(hi)),
                None => req.key_condition_expression("#pk = :pk"),
            };
            if project {
                req = req
                    .projection_expression("#pk, #sk")
                    .expression_attribute_names("#sk", SORT_KEY);
            }
            if let Some(want) = want {
                let left = want.saturating_sub(out.len()).max(1);
                req = req.limit(i32::try_from(left).unwrap_or(i32::MAX));
            }
            let page = req.send().await.map_err(|e| self.error(e))?;
            out.extend(page.items.unwrap_or_default());
            if want.is_some_and(|w| out.len() >= w) {
                return Ok(out);
            }
            match page.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => return Ok(out),
            }
        }
    }

    /// The months between `lo` and `hi` (`2026-11`, both inclusive) that hold plays, newest
    /// first.
    async fn months(&self, lo: &str, hi: &str) -> Result<Vec<String>, StoreError> {
        let (lo, hi) = (format!("{MONTH_PREFIX}{lo}"), format!("{MONTH_PREFIX}{hi}"));
        let items = self.query(META, Some((&lo, &hi)), None, true).await?;
        Ok(items
            .iter()
            .filter_map(|i| i.get(SORT_KEY)?.as_s().ok())
            .filter_map(|sk| sk.strip_prefix(MONTH_PREFIX))
            .map(str::to_string)
            .collect())
    }

    /// Deletes the items with these keys, 25 to a `BatchWriteItem`, retrying the unprocessed.
    async fn delete_all(&self, keys: Vec<Item>) -> Result<(), StoreError> {
        for chunk in keys.chunks(BATCH) {
            let mut requests: Vec<WriteRequest> = chunk
                .iter()
                .map(|key| {
                    WriteRequest::builder()
                        .delete_request(
                            DeleteRequest::builder()
                                .set_key(Some(key.clone()))
                                .build()
                                .expect("a delete request with its key"),
                        )
                        .build()
                })
                .collect();
            let mut attempt = 0;
            while !requests.is_empty() {
                if attempt == BATCH_ATTEMPTS {
                    return Err(StoreError::Unavailable {
                        store: self.describe(),
                        reason: format!(
                            "{} deletes still unprocessed after {BATCH_ATTEMPTS} attempts",
                            requests.len()
                        ),
                    });
                }
                if attempt > 0 {
                    tokio::time::sleep(Duration::from_millis(25 << attempt.min(6))).await;
                }
                attempt += 1;
                let out = self
                    .client
                    .batch_write_item()
                    .request_items(&self.table, std::mem::take(&mut requests))
                    .send()
                    .await
                    .map_err(|e| self.error(e))?;
                requests = out
                    .unprocessed_items
                    .and_then(|mut u| u.remove(&self.table))
                    .unwrap_or_default();
            }
        }
        Ok(())
    }

    async fn delete_meta(
        &self,
        sk: &str,
        only_before: Option<Timestamp>,
    ) -> Result<(), StoreError> {
        let mut req = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key(PARTITION_KEY, s(META))
            .key(SORT_KEY, s(sk));
        if let Some(b) = only_before {
            req = req
                .condition_expression("t < :b")
                .expression_attribute_values(":b", n(b.as_millis()));
        }
        match req.send().await {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
            {
                Ok(())
            }
            Err(e) => Err(self.error(e)),
        }
    }
}

#[async_trait]
impl HistoryStore for DynamoHistory {
    async fn add(&self, plays: &[Play]) -> Result<AddOutcome, StoreError> {
        validate_all(&self.describe(), plays)?;
        // The month index first, so that no stored play is ever outside it.
        let months: BTreeSet<String> = plays.iter().map(|p| month_of(p.played_at)).collect();
        for month in &months {
            self.put_meta(&format!("{MONTH_PREFIX}{month}")).await?;
        }
        let mut outcome = AddOutcome::default();
        for chunk in plays.chunks(CONCURRENT_WRITES) {
            let mut writes = tokio::task::JoinSet::new();
            for play in chunk {
                writes.spawn(Self::put_new(
                    self.client.clone(),
                    self.table.clone(),
                    Self::item(play),
                ));
            }
            let mut failed = None;
            while let Some(done) = writes.join_next().await {
                match done {
                    Ok(Ok(true)) => outcome.new += 1,
                    Ok(Ok(false)) => outcome.already += 1,
                    Ok(Err(e)) => failed = Some(e),
                    Err(e) => {
                        failed = Some(StoreError::Unavailable {
                            store: self.describe(),
                            reason: format!("a write task failed ({e})"),
                        })
                    }
                }
            }
            if let Some(e) = failed {
                return Err(e);
            }
        }
        // The markers last, so that `newest` never names a play that is not stored yet.
        let mut newest: BTreeMap<PlaySource, Timestamp> = BTreeMap::new();
        for p in plays {
            let at = newest.entry(p.source).or_insert(p.played_at);
            *at = (*at).max(p.played_at);
        }
        for (source, at) in newest {
            self.raise_newest(source, at).await?;
        }
        Ok(outcome)
    }

    async fn range(
        &self,
        from: Timestamp,
        to: Timestamp,
        limit: NonZeroUsize,
        cursor: Option<&Cursor>,
    ) -> Result<Page, StoreError> {
        // Every stored play precedes a cursor (or an end) past the last moment a store holds.
        let cursor = cursor.filter(|c| c.played_at < to && c.played_at <= LATEST);
        if from >= to || from > LATEST || cursor.is_some_and(|c| c.played_at < from) {
            return Ok(Page::default());
        }
        let lo = time_text(from);
        // Inclusive bounds: a play's sort key is longer than its time, so `to` itself is
        // excluded (past the last moment, `$` sorts after its plays' `#`); the cursor's own
        // play is skipped below.
        let (hi, newest_month) = match cursor {
            Some(c) => (sort_key(c.played_at, &c.key), month_of(c.played_at)),
            None if to > LATEST => (format!("{}$", time_text(LATEST)), month_of(LATEST)),
            None => (time_text(to), month_of(to - Duration::from_millis(1))),
        };
        let want = limit.get() + 1;
        let mut plays = Vec::with_capacity(want);
        for month in self.months(&month_of(from), &newest_month).await? {
            let left = want - plays.len() + usize::from(cursor.is_some());
            for item in self
                .query(&month, Some((&lo, &hi)), Some(left), false)
                .await?
            {
                if cursor.is_some() && item.get(SORT_KEY).and_then(|v| v.as_s().ok()) == Some(&hi) {
                    continue;
                }
                if plays.len() < want {
                    plays.push(self.play(&item)?);
                }
            }
            if plays.len() >= want {
                break;
            }
        }
        let next = if plays.len() > limit.get() {
            plays.truncate(limit.get());
            plays.last().map(Cursor::after)
        } else {
            None
        };
        Ok(Page { plays, next })
    }

    async fn newest(&self, source: PlaySource) -> Result<Option<Timestamp>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(PARTITION_KEY, s(META))
            .key(SORT_KEY, s(format!("{NEWEST_PREFIX}{}", source.as_str())))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| self.error(e))?;
        Ok(out
            .item
            .as_ref()
            .and_then(|i| i.get("t")?.as_n().ok()?.parse::<u64>().ok())
            .map(Timestamp::from_millis))
    }

    async fn forget(&self, before: Option<Timestamp>) -> Result<u64, StoreError> {
        if before == Some(Timestamp::EPOCH) {
            return Ok(0);
        }
        // Every stored play is older than a moment past the last one a store holds.
        let before = before.filter(|b| *b <= LATEST);
        let newest_month = match before {
            Some(b) => month_of(b - Duration::from_millis(1)),
            None => "9999-12".to_string(),
        };
        let mut removed = 0u64;
        for month in self.months("0000-01", &newest_month).await? {
            let bound = before.map(time_text);
            let keys = match &bound {
                Some(b) => {
                    self.query(&month, Some((&time_text(Timestamp::EPOCH), b)), None, true)
                        .await?
                }
                None => self.query(&month, None, None, true).await?,
            };
            removed += keys.len() as u64;
            self.delete_all(keys).await?;
            // An emptied month leaves the index; a play added to it meanwhile puts it back.
            if self.query(&month, None, Some(1), true).await?.is_empty() {
                let sk = format!("{MONTH_PREFIX}{month}");
                self.delete_meta(&sk, None).await?;
                if !self.query(&month, None, Some(1), true).await?.is_empty() {
                    self.put_meta(&sk).await?;
                }
            }
        }
        // A marker older than `before` names a play that is gone, and so is every play of its
        // source; a newer one names a play that stays.
        for source in PlaySource::ALL {
            self.delete_meta(&format!("{NEWEST_PREFIX}{}", source.as_str()), before)
                .await?;
        }
        Ok(removed)
    }

    fn describe(&self) -> String {
        format!("DynamoDB table {} (history)", self.table)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sort_keys_order_plays_by_time_then_key_and_months_partition_them() {
        let t = Timestamp::from_millis(1_796_083_199_999); // 2026-11-30T23:59:59.999Z
        assert_eq!(time_text(t), "2026-11-30T23:59:59.999Z");
        assert_eq!(month_of(t), "2026-11");
        assert_eq!(month_of(t + Duration::from_millis(1)), "2026-12");
        assert_eq!(time_text(Timestamp::EPOCH), "1970-01-01T00:00:00.000Z");
        assert_eq!(time_text(super::super::LATEST), "9999-12-31T23:59:59.999Z");
        assert_eq!(
            sort_key(t, "spotify:track:x"),
            "2026-11-30T23:59:59.999Z#spotify:track:x"
        );
        let ordered = [
            sort_key(Timestamp::from_millis(999), "z"),
            sort_key(Timestamp::from_millis(1000), "a"),
            sort_key(Timestamp::from_millis(1000), "a#b"),
            sort_key(Timestamp::from_millis(1000), "ab"),
            sort_key(Timestamp::from_millis(10_000), "a"),
        ];
        assert!(ordered.windows(2).all(|w| w[0] < w[1]), "{ordered:?}");
        // A time bound sorts between the plays of the moment before it and its own.
        let bound = time_text(Timestamp::from_millis(1000));
        assert!(ordered[0] < bound && bound < ordered[1]);
    }
}
