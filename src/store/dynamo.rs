//! Shared state in a DynamoDB table (partition key `pk`, string). Attributes: `v` (the value),
//! `exp` (epoch ms at which it stops being fresh or the lease lapses), `owner` (leases) and
//! `ttl` (epoch seconds, the table's TTL attribute, for clean-up only: readers never trust it).

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::error::{DisplayErrorContext, SdkError};
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;

use super::{Record, SharedState, StoreError};

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
        E: std::error::Error + Send + Sync + 'static,
        R: std::fmt::Debug,
    {
        StoreError::Unavailable {
            store: self.describe(),
            reason: DisplayErrorContext(&e).to_string(),
        }
    }

    fn item(key: &str, r: &Record) -> HashMap<String, AttributeValue> {
        let mut item = HashMap::from([
            ("pk".to_string(), AttributeValue::S(key.to_string())),
            ("v".to_string(), AttributeValue::S(r.value.clone())),
            (
                "exp".to_string(),
                AttributeValue::N(r.expires_at_ms.to_string()),
            ),
            ("ttl".to_string(), AttributeValue::N(r.ttl_s.to_string())),
        ]);
        if let Some(owner) = &r.owner {
            item.insert("owner".to_string(), AttributeValue::S(owner.clone()));
        }
        item
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
        Ok(out.item.map(|item| Record {
            value: string(&item, "v").unwrap_or_default(),
            expires_at_ms: num(&item, "exp"),
            owner: string(&item, "owner"),
            ttl_s: num(&item, "ttl"),
        }))
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

    async fn put_if_expired(
        &self,
        key: &str,
        record: &Record,
        now_ms: u64,
    ) -> Result<bool, StoreError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(Self::item(key, record)))
            .condition_expression("attribute_not_exists(pk) OR #exp < :now OR #owner = :owner")
            .expression_attribute_names("#exp", "exp")
            .expression_attribute_names("#owner", "owner")
            .expression_attribute_values(":now", AttributeValue::N(now_ms.to_string()))
            .expression_attribute_values(
                ":owner",
                AttributeValue::S(record.owner.clone().unwrap_or_default()),
            )
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
            Err(e) => Err(self.error(e)),
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

    async fn delete_if_owner(&self, key: &str, owner: &str) -> Result<(), StoreError> {
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(key.to_string()))
            .condition_expression("#owner = :owner")
            .expression_attribute_names("#owner", "owner")
            .expression_attribute_values(":owner", AttributeValue::S(owner.to_string()))
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

    fn describe(&self) -> String {
        format!("DynamoDB table {}", self.table)
    }
}
