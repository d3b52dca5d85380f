//! Credentials in an AWS Secrets Manager secret (`SecretString` holds the credentials JSON).

use async_trait::async_trait;
use aws_sdk_secretsmanager::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_secretsmanager::Client;
use sha2::Digest;

use super::{CredentialStore, Credentials, StoreError, Swap, Versioned};

/// The staging label a conditional write puts its new version under before it moves
/// `AWSCURRENT` there (docs/architecture.md, "Refresh-token rotation").
pub const STAGED_LABEL: &str = "NOWPLAYING_STAGED";

#[derive(Debug, Clone)]
pub struct SecretsCredentials {
    /// Built on first use when made with [`SecretsCredentials::lazy`]: a cold start that finds a
    /// fresh answer in the table never reads the secret, and need not build its client.
    client: std::sync::OnceLock<Client>,
    config: Option<aws_config::SdkConfig>,
    secret_id: String,
}

impl SecretsCredentials {
    pub fn new(client: Client, secret_id: impl Into<String>) -> Self {
        SecretsCredentials {
            client: std::sync::OnceLock::from(client),
            config: None,
            secret_id: secret_id.into(),
        }
    }

    /// The client is built from `config` when the secret is first read or written.
    pub fn lazy(config: aws_config::SdkConfig, secret_id: impl Into<String>) -> Self {
        SecretsCredentials {
            client: std::sync::OnceLock::new(),
            config: Some(config),
            secret_id: secret_id.into(),
        }
    }

    fn client(&self) -> &Client {
        self.client.get_or_init(|| {
            Client::new(
                self.config
                    .as_ref()
                    .expect("a SecretsCredentials without a client has a config"),
            )
        })
    }

    pub fn secret_id(&self) -> &str {
        &self.secret_id
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
}

/// The idempotency token of a write: derived from the new document (and so from the new
/// refresh token), so a retried write of the same rotation is a no-op, never a second version.
pub fn client_request_token(document: &str) -> String {
    let digest = sha2::Sha256::digest(format!("nowplaying-secret-version:{document}"));
    let hex: String = digest.iter().take(24).map(|b| format!("{b:02x}")).collect();
    format!("np-{hex}")
}

#[async_trait]
impl CredentialStore for SecretsCredentials {
    async fn load_versioned(&self) -> Result<Option<Versioned>, StoreError> {
        let client = self.client();
        let result = client
            .get_secret_value()
            .secret_id(&self.secret_id)
            .send()
            .await;
        match result {
            Ok(out) => match out.secret_string() {
                Some(s) if !s.trim().is_empty() => Ok(Some(Versioned {
                    credentials: Credentials::from_json(&self.describe(), s)?,
                    version: out.version_id().unwrap_or_default().to_string(),
                })),
                _ => Ok(None),
            },
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_resource_not_found_exception()) =>
            {
                Ok(None)
            }
            Err(e) => Err(self.error(e)),
        }
    }

    async fn save(&self, credentials: &Credentials) -> Result<(), StoreError> {
        let document = credentials.to_json();
        let token = client_request_token(&document);
        let client = self.client();
        let result = client
            .put_secret_value()
            .secret_id(&self.secret_id)
            .secret_string(&document)
            .client_request_token(&token)
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_resource_not_found_exception()) =>
            {
                // The owner's first `authorize` against a name that does not exist yet.
                client
                    .create_secret()
                    .name(&self.secret_id)
                    .description(
                        "nowplaying: Spotify credentials (written by `nowplaying authorize`)",
                    )
                    .secret_string(&document)
                    .client_request_token(&token)
                    .send()
                    .await
                    .map_err(|e| self.error(e))?;
                Ok(())
            }
            Err(e) => Err(self.error(e)),
        }
    }

    /// A compare-and-swap on `AWSCURRENT`: the new version is written under [`STAGED_LABEL`]
    /// (not current, so harmless if it arrives late), then `AWSCURRENT` is moved to it with
    /// `RemoveFromVersionId` = `expected`, which Secrets Manager refuses unless `expected` still
    /// holds the label. Both calls are idempotent (the version id derives from `expected` and the
    /// document), so a retry after a lost answer neither adds a version nor moves the label twice.
    async fn save_if(&self, credentials: &Credentials, expected: &str) -> Result<Swap, StoreError> {
        let document = credentials.to_json();
        let version = client_request_token(&format!("{expected}\n{document}"));
        let client = self.client();
        client
            .put_secret_value()
            .secret_id(&self.secret_id)
            .secret_string(&document)
            .client_request_token(&version)
            .version_stages(STAGED_LABEL)
            .send()
            .await
            .map_err(|e| self.error(e))?;
        let client = self.client();
        let moved = client
            .update_secret_version_stage()
            .secret_id(&self.secret_id)
            .version_stage("AWSCURRENT")
            .move_to_version_id(&version)
            .remove_from_version_id(expected)
            .send()
            .await;
        match moved {
            Ok(_) => Ok(Swap::Written(version)),
            // `expected` no longer holds AWSCURRENT: someone wrote since it was read.
            Err(e)
                if e.as_service_error().is_some_and(|s| {
                    s.is_invalid_parameter_exception() || s.is_invalid_request_exception()
                }) =>
            {
                Ok(Swap::Changed)
            }
            Err(e) => Err(self.error(e)),
        }
    }

    fn describe(&self) -> String {
        format!("Secrets Manager secret {}", self.secret_id)
    }
}

/// The service's error code and message when it answered (not the whole response), else the
/// transport's error chain.
fn concise<E, R>(e: &SdkError<E, R>) -> String
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_token_is_stable_and_in_range() {
        let a = client_request_token("{\"refresh_token\":\"a\"}");
        assert_eq!(a, client_request_token("{\"refresh_token\":\"a\"}"));
        assert_ne!(a, client_request_token("{\"refresh_token\":\"b\"}"));
        assert!((32..=64).contains(&a.len()));
    }
}
