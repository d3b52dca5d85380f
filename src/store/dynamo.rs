//! Shared state in a DynamoDB table (partition key `pk`, string). Attributes: `v` (the value),
//! `exp` (epoch ms at which it stops being fresh or the lease lapses), `owner` (the lease
//! holder) and `ttl` (epoch seconds, the table's TTL attribute, for clean-up only: readers
//! never trust it). An answer's item may also carry its marks ([`super::Marks`]): `lo` and
//! `lx` (its fetch lease's holder and expiry, epoch ms), `hid` (`hide` marked it) and `gen`
//! (the sign-in generation it was written under).

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;

use super::{
    Conditional, Marks, OwnerMark, Record, SharedState, StoreError, CLEAN_UP_AFTER, KEEP_FOR_GOOD,
};
use crate::clock::Timestamp;

#[derive(Debug, Clone)]
pub struct DynamoState {
    client: Client,
    table: String,
}

impl DynamoState {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        DynamoState {
            client,
            table: table.into(),
        }
    }

    pub fn client(&self) -> &Client {
        &self.client
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

    fn item(key: &str, r: &Record) -> HashMap<String, AttributeValue> {
        let mut item = HashMap::from([
            ("pk".to_string(), AttributeValue::S(key.to_string())),
            ("v".to_string(), AttributeValue::S(r.value.clone())),
            (
                "exp".to_string(),
                AttributeValue::N(r.expires_at.as_millis().to_string()),
            ),
            (
                "ttl".to_string(),
                AttributeValue::N(r.delete_after.as_secs().to_string()),
            ),
        ]);
        if let Some(holder) = &r.holder {
            item.insert("owner".to_string(), AttributeValue::S(holder.clone()));
        }
        if let Some((holder, until)) = &r.marks.lease {
            item.insert("lo".to_string(), AttributeValue::S(holder.clone()));
            item.insert(
                "lx".to_string(),
                AttributeValue::N(until.as_millis().to_string()),
            );
        }
        if r.marks.hidden {
            item.insert("hid".to_string(), AttributeValue::S("true".to_string()));
        }
        if let Some(generation) = &r.marks.generation {
            item.insert("gen".to_string(), AttributeValue::S(generation.clone()));
        }
        item
    }

    /// One `TransactWriteItems`: the record, and the lease given back only by `holder`; a lease
    /// that changed hands cancels both (the token's publication, fenced by the lease).
    async fn transact_publish(
        &self,
        key: &str,
        record: &Record,
        lease_key: &str,
        holder: &str,
    ) -> Result<bool, StoreError> {
        use aws_sdk_dynamodb::types::{Delete, Put, TransactWriteItem};
        let invalid = |e: aws_sdk_dynamodb::error::BuildError| StoreError::Invalid {
            store: self.describe(),
            reason: e.to_string(),
        };
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(Self::item(key, record)))
            .build()
            .map_err(invalid)?;
        let release = Delete::builder()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(lease_key.to_string()))
            .condition_expression("#owner = :owner")
            .expression_attribute_names("#owner", "owner")
            .expression_attribute_values(":owner", AttributeValue::S(holder.to_string()))
            .build()
            .map_err(invalid)?;
        let items = vec![
            TransactWriteItem::builder().put(put).build(),
            TransactWriteItem::builder().delete(release).build(),
        ];
        let result = self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await;
        let err = match result {
            Ok(_) => return Ok(true),
            Err(e) => e,
        };
        // Only the lease changed hands: fenced, nothing is written.
        let lease_lost = match err.as_service_error() {
            Some(aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError::TransactionCanceledException(c)) => c
                .cancellation_reasons()
                .get(1)
                .is_some_and(|r| r.code() == Some("ConditionalCheckFailed")),
            _ => false,
        };
        if lease_lost {
            Ok(false)
        } else {
            Err(self.error(err))
        }
    }

    fn record(item: &HashMap<String, AttributeValue>) -> Record {
        let lease = string(item, "lo").map(|h| (h, Timestamp::from_millis(num(item, "lx"))));
        Record {
            value: string(item, "v").unwrap_or_default(),
            expires_at: Timestamp::from_millis(num(item, "exp")),
            holder: string(item, "owner"),
            delete_after: Timestamp::from_secs(num(item, "ttl")),
            marks: Marks {
                lease,
                hidden: item.contains_key("hid"),
                generation: string(item, "gen"),
            },
        }
    }

    /// A conditional put: `Ok(false)` when the condition does not hold.
    async fn put_if(
        &self,
        key: &str,
        record: &Record,
        condition: &str,
        values: Vec<(&str, AttributeValue)>,
    ) -> Result<bool, StoreError> {
        let mut req = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(Self::item(key, record)))
            .condition_expression(condition);
        if condition.contains("#exp") {
            req = req.expression_attribute_names("#exp", "exp");
        }
        if condition.contains("#owner") {
            req = req.expression_attribute_names("#owner", "owner");
        }
        for (name, value) in values {
            req = req.expression_attribute_values(name, value);
        }
        match req.send().await {
            Ok(_) => Ok(true),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
            {
                Ok(false)
            }
            Err(e) => Err(self.error(e)),
        }
    }
}

fn num(item: &HashMap<String, AttributeValue>, name: &str) -> u64 {
    item.get(name)
        .and_then(|v| v.as_n().ok())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

fn string(item: &HashMap<String, AttributeValue>, name: &str) -> Option<String> {
    item.get(name).and_then(|v| v.as_s().ok()).cloned()
}

#[async_trait]
impl SharedState for DynamoState {
    async fn get(&self, key: &str) -> Result<Option<Record>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(key.to_string()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| self.error(e))?;
        Ok(out.item.as_ref().map(Self::record))
    }

    /// One `BatchGetItem` with consistent reads (keys beyond DynamoDB's 100 are not expected).
    async fn get_many(&self, keys: &[&str]) -> Result<HashMap<String, Record>, StoreError> {
        let mut wanted =
            aws_sdk_dynamodb::types::KeysAndAttributes::builder().consistent_read(true);
        for key in keys {
            wanted = wanted.keys(HashMap::from([(
                "pk".to_string(),
                AttributeValue::S(key.to_string()),
            )]));
        }
        let wanted = wanted.build().map_err(|e| StoreError::Invalid {
            store: self.describe(),
            reason: e.to_string(),
        })?;
        let mut out = HashMap::new();
        let mut request = HashMap::from([(self.table.clone(), wanted)]);
        // DynamoDB may hand back part of the keys as unprocessed: ask again for those.
        for _ in 0..3 {
            let answer = self
                .client
                .batch_get_item()
                .set_request_items(Some(request))
                .send()
                .await
                .map_err(|e| self.error(e))?;
            for item in answer
                .responses
                .unwrap_or_default()
                .remove(&self.table)
                .unwrap_or_default()
            {
                if let Some(key) = string(&item, "pk") {
                    out.insert(key, Self::record(&item));
                }
            }
            match answer.unprocessed_keys {
                Some(rest) if rest.values().any(|k| !k.keys.is_empty()) => request = rest,
                _ => return Ok(out),
            }
        }
        Err(StoreError::Unavailable {
            store: self.describe(),
            reason: "BatchGetItem left keys unprocessed three times".into(),
        })
    }

    async fn put(&self, key: &str, record: &Record) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(Self::item(key, record)))
            .send()
            .await
            .map_err(|e| self.error(e))?;
        Ok(())
    }

    async fn acquire(
        &self,
        key: &str,
        record: &Record,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        self.put_if(
            key,
            record,
            "attribute_not_exists(pk) OR (#exp < :now AND NOT begins_with(#owner, :command)) OR #owner = :holder",
            vec![
                (":now", AttributeValue::N(now.as_millis().to_string())),
                (":command", AttributeValue::S(super::OWNER_HOLDER.to_string())),
                (
                    ":holder",
                    AttributeValue::S(record.holder.clone().unwrap_or_default()),
                ),
            ],
        )
        .await
    }

    async fn replace_if_held_by(
        &self,
        key: &str,
        record: &Record,
        expected: Option<&str>,
    ) -> Result<bool, StoreError> {
        match expected {
            None => {
                self.put_if(key, record, "attribute_not_exists(pk)", vec![])
                    .await
            }
            Some(h) => {
                self.put_if(
                    key,
                    record,
                    "#owner = :holder",
                    vec![(":holder", AttributeValue::S(h.to_string()))],
                )
                .await
            }
        }
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(key.to_string()))
            .send()
            .await
            .map_err(|e| self.error(e))?;
        Ok(())
    }

    async fn release(&self, key: &str, holder: &str) -> Result<(), StoreError> {
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(key.to_string()))
            .condition_expression("#owner = :owner")
            .expression_attribute_names("#owner", "owner")
            .expression_attribute_values(":owner", AttributeValue::S(holder.to_string()))
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

    /// One `UpdateItem` on the answer's item, conditioned on what
    /// [`SharedState::acquire_answer`] names; a refusal hands back the item as it was
    /// (`ReturnValuesOnConditionCheckFailure`), so no read follows.
    async fn acquire_answer(
        &self,
        key: &str,
        holder: &str,
        until: Timestamp,
        now: Timestamp,
        generation: &str,
    ) -> Result<Conditional, StoreError> {
        use aws_sdk_dynamodb::types::ReturnValuesOnConditionCheckFailure;
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(key.to_string()))
            .update_expression(
                "SET #lo = :holder, #lx = :until, #gen = :gen, #ttl = if_not_exists(#ttl, :ttl)",
            )
            .condition_expression(
                "(attribute_not_exists(#lo) OR #lx < :now) AND attribute_not_exists(#hid) \
                 AND (attribute_not_exists(#exp) OR #exp <= :now) \
                 AND (attribute_not_exists(#gen) OR #gen = :gen)",
            )
            .expression_attribute_names("#lo", "lo")
            .expression_attribute_names("#lx", "lx")
            .expression_attribute_names("#gen", "gen")
            .expression_attribute_names("#ttl", "ttl")
            .expression_attribute_names("#hid", "hid")
            .expression_attribute_names("#exp", "exp")
            .expression_attribute_values(":holder", AttributeValue::S(holder.to_string()))
            .expression_attribute_values(":until", AttributeValue::N(until.as_millis().to_string()))
            .expression_attribute_values(":gen", AttributeValue::S(generation.to_string()))
            .expression_attribute_values(
                ":ttl",
                AttributeValue::N((until + CLEAN_UP_AFTER).as_secs().to_string()),
            )
            .expression_attribute_values(":now", AttributeValue::N(now.as_millis().to_string()))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(_) => Ok(Conditional::Done),
            Err(e) => match e.as_service_error() {
                Some(s) if s.is_conditional_check_failed_exception() => {
                    let old = match s {
                        aws_sdk_dynamodb::operation::update_item::UpdateItemError::ConditionalCheckFailedException(c) => c.item.as_ref().map(Self::record),
                        _ => None,
                    };
                    Ok(Conditional::Refused(old))
                }
                _ => Err(self.error(e)),
            },
        }
    }

    /// One `PutItem` of the whole answer item (its lease left out, so given back), conditioned
    /// on the lease's holder.
    async fn publish_answer(
        &self,
        key: &str,
        record: &Record,
        holder: &str,
    ) -> Result<Conditional, StoreError> {
        use aws_sdk_dynamodb::types::ReturnValuesOnConditionCheckFailure;
        let mut record = record.clone();
        record.marks.lease = None;
        record.marks.hidden = false;
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(Self::item(key, &record)))
            .condition_expression("#lo = :holder")
            .expression_attribute_names("#lo", "lo")
            .expression_attribute_values(":holder", AttributeValue::S(holder.to_string()))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(_) => Ok(Conditional::Done),
            Err(e) => match e.as_service_error() {
                Some(aws_sdk_dynamodb::operation::put_item::PutItemError::ConditionalCheckFailedException(c)) => {
                    Ok(Conditional::Refused(c.item.as_ref().map(Self::record)))
                }
                _ => Err(self.error(e)),
            },
        }
    }

    /// One `UpdateItem`: the answer and its lease removed, the owner's mark set, the other mark
    /// kept.
    async fn mark_answer(
        &self,
        key: &str,
        mark: &OwnerMark,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let (set, value) = match mark {
            OwnerMark::Hidden => ("hid", "true".to_string()),
            OwnerMark::Generation(g) => ("gen", g.clone()),
        };
        self.client
            .update_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(key.to_string()))
            .update_expression("SET #mark = :mark, #ttl = :ttl REMOVE #v, #exp, #lo, #lx")
            .expression_attribute_names("#mark", set)
            .expression_attribute_names("#ttl", "ttl")
            .expression_attribute_names("#v", "v")
            .expression_attribute_names("#exp", "exp")
            .expression_attribute_names("#lo", "lo")
            .expression_attribute_names("#lx", "lx")
            .expression_attribute_values(":mark", AttributeValue::S(value))
            .expression_attribute_values(
                ":ttl",
                AttributeValue::N((now + KEEP_FOR_GOOD).as_secs().to_string()),
            )
            .send()
            .await
            .map_err(|e| self.error(e))?;
        Ok(())
    }

    async fn put_if_held_and_release(
        &self,
        key: &str,
        record: &Record,
        lease_key: &str,
        holder: &str,
    ) -> Result<bool, StoreError> {
        self.transact_publish(key, record, lease_key, holder).await
    }

    fn describe(&self) -> String {
        format!("DynamoDB table {}", self.table)
    }
}

/// The service's error code and message when it answered (not the whole response), else the
/// transport's error chain.
pub(crate) fn concise<E, R>(e: &SdkError<E, R>) -> String
where
    E: std::error::Error + ProvideErrorMetadata + Send + Sync + 'static,
    R: std::fmt::Debug,
{
    match (e.code(), e.message()) {
        (Some(code), Some(message)) => format!("{code}: {message}"),
        (Some(code), None) => code.to_string(),
        _ => DisplayErrorContext(e).to_string(),
    }
}
