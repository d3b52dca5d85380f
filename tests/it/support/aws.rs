//! The AWS emulator (moto, started by `scripts/test`) for tests: a uniquely named table and
//! secret per test, created with the AWS SDK over HTTP, clients that can be routed through a
//! [`FaultProxy`], and raw reads of what the stores wrote.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType,
    ScalarAttributeType, TimeToLiveSpecification,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use nowplaying::store::Credentials;

/// Builds the SDK configuration the service itself uses (`nowplaying::app::aws_config`): endpoint,
/// region and credentials from the environment `scripts/test` exports, and its short timeouts.
pub async fn sdk_config() -> aws_config::SdkConfig {
    super::aws_endpoint();
    nowplaying::app::aws_config().await
}

/// Builds a DynamoDB client; `endpoint` routes it elsewhere (a [`FaultProxy`]) than `AWS_ENDPOINT_URL`.
pub fn dynamo(sdk: &aws_config::SdkConfig, endpoint: Option<&str>) -> aws_sdk_dynamodb::Client {
    let mut b = aws_sdk_dynamodb::config::Builder::from(sdk);
    if let Some(e) = endpoint {
        b = b.endpoint_url(e);
    }
    aws_sdk_dynamodb::Client::from_conf(b.build())
}

/// A DynamoDB client with the service's configuration but time-outs that a loaded machine and
/// a cold emulator cannot reach: these cases check what is stored, not how fast.
pub fn patient_dynamo(
    sdk: &aws_config::SdkConfig,
    endpoint: Option<&str>,
) -> aws_sdk_dynamodb::Client {
    let timeouts = aws_sdk_dynamodb::config::timeout::TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(5))
        .operation_attempt_timeout(Duration::from_secs(10))
        .operation_timeout(Duration::from_secs(20))
        .build();
    let mut b = aws_sdk_dynamodb::config::Builder::from(sdk).timeout_config(timeouts);
    if let Some(e) = endpoint {
        b = b.endpoint_url(e);
    }
    aws_sdk_dynamodb::Client::from_conf(b.build())
}

/// Builds a Secrets Manager client; `endpoint` works as for [`dynamo`].
pub fn secrets(
    sdk: &aws_config::SdkConfig,
    endpoint: Option<&str>,
) -> aws_sdk_secretsmanager::Client {
    let mut b = aws_sdk_secretsmanager::config::Builder::from(sdk);
    if let Some(e) = endpoint {
        b = b.endpoint_url(e);
    }
    aws_sdk_secretsmanager::Client::from_conf(b.build())
}

/// Makes a name that no other test (or earlier run against the same emulator) uses.
pub fn unique(prefix: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!(
        "{prefix}-{}-{nanos:x}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// Creates a table as `template.yaml` does: partition key `pk` (S), on-demand, TTL on `ttl`.
pub async fn create_table(client: &aws_sdk_dynamodb::Client) -> String {
    let name = unique("np-test");
    client
        .create_table()
        .table_name(&name)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("pk")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .unwrap(),
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("pk")
                .key_type(KeyType::Hash)
                .build()
                .unwrap(),
        )
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await
        .expect("CreateTable on the emulator");
    client
        .update_time_to_live()
        .table_name(&name)
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .attribute_name("ttl")
                .enabled(true)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .expect("UpdateTimeToLive on the emulator");
    let ttl = client
        .describe_time_to_live()
        .table_name(&name)
        .send()
        .await
        .expect("DescribeTimeToLive");
    assert_eq!(
        ttl.time_to_live_description()
            .and_then(|d| d.attribute_name()),
        Some("ttl")
    );
    name
}

/// Creates a history table as the history store expects it: partition key
/// `nowplaying::history::dynamo::PARTITION_KEY` (S, the month), sort key `SORT_KEY` (S, time and
/// item), on demand.
pub async fn create_history_table(client: &aws_sdk_dynamodb::Client) -> String {
    use nowplaying::history::dynamo::{PARTITION_KEY, SORT_KEY};
    let name = unique("np-history");
    let attribute = |name: &str| {
        AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .unwrap()
    };
    let key = |name: &str, kind: KeyType| {
        KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(kind)
            .build()
            .unwrap()
    };
    client
        .create_table()
        .table_name(&name)
        .attribute_definitions(attribute(PARTITION_KEY))
        .attribute_definitions(attribute(SORT_KEY))
        .key_schema(key(PARTITION_KEY, KeyType::Hash))
        .key_schema(key(SORT_KEY, KeyType::Range))
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await
        .expect("CreateTable (history) on the emulator");
    name
}

/// Creates a secret holding `document` (the credentials JSON, or anything else).
pub async fn create_secret_raw(client: &aws_sdk_secretsmanager::Client, document: &str) -> String {
    let name = unique("np-test/credentials");
    client
        .create_secret()
        .name(&name)
        .secret_string(document)
        .send()
        .await
        .expect("CreateSecret on the emulator");
    name
}

pub async fn create_secret(
    client: &aws_sdk_secretsmanager::Client,
    credentials: &Credentials,
) -> String {
    create_secret_raw(client, &credentials.to_json()).await
}

/// Reads the secret's current `SecretString` as JSON.
pub async fn secret_json(client: &aws_sdk_secretsmanager::Client, id: &str) -> serde_json::Value {
    let out = client
        .get_secret_value()
        .secret_id(id)
        .send()
        .await
        .expect("GetSecretValue");
    serde_json::from_str(out.secret_string().expect("SecretString")).expect("the secret is JSON")
}

/// Reads the refresh token stored in the secret.
pub async fn secret_refresh_token(client: &aws_sdk_secretsmanager::Client, id: &str) -> String {
    secret_json(client, id).await["refresh_token"]
        .as_str()
        .expect("refresh_token in the secret")
        .to_string()
}

/// Counts the versions the secret has (`ListSecretVersionIds`, deprecated ones included).
pub async fn secret_versions(client: &aws_sdk_secretsmanager::Client, id: &str) -> usize {
    let out = client
        .list_secret_version_ids()
        .secret_id(id)
        .include_deprecated(true)
        .send()
        .await
        .expect("ListSecretVersionIds");
    out.versions().len()
}

/// Overwrites the secret behind the service's back (another environment rotating it).
pub async fn put_secret(client: &aws_sdk_secretsmanager::Client, id: &str, document: &str) {
    client
        .put_secret_value()
        .secret_id(id)
        .secret_string(document)
        .send()
        .await
        .expect("PutSecretValue");
}

/// Reads one item of the table, as stored (no interpretation).
pub async fn raw_item(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    key: &str,
) -> Option<HashMap<String, AttributeValue>> {
    client
        .get_item()
        .table_name(table)
        .key("pk", AttributeValue::S(key.to_string()))
        .consistent_read(true)
        .send()
        .await
        .expect("GetItem")
        .item
}

/// Writes an item as the service would (`v`, `exp`, `owner`, `ttl`).
pub async fn put_raw_item(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    key: &str,
    value: &str,
    exp_ms: u64,
    owner: Option<&str>,
    ttl_s: u64,
) {
    let mut req = client
        .put_item()
        .table_name(table)
        .item("pk", AttributeValue::S(key.to_string()))
        .item("v", AttributeValue::S(value.to_string()))
        .item("exp", AttributeValue::N(exp_ms.to_string()))
        .item("ttl", AttributeValue::N(ttl_s.to_string()));
    if let Some(o) = owner {
        req = req.item("owner", AttributeValue::S(o.to_string()));
    }
    req.send().await.expect("PutItem");
}

/// Lists every key in the table (a Scan; tables in tests are tiny).
pub async fn keys(client: &aws_sdk_dynamodb::Client, table: &str) -> Vec<String> {
    let out = client.scan().table_name(table).send().await.expect("Scan");
    let mut keys: Vec<String> = out
        .items()
        .iter()
        .filter_map(|i| i.get("pk").and_then(|v| v.as_s().ok()).cloned())
        .collect();
    keys.sort();
    keys
}

/// What the proxy does with connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Forward to the emulator.
    Pass,
    /// Accept and reset at once (the service is down): the client fails fast.
    Refuse,
    /// Accept and never answer (a network black hole): the client times out.
    Blackhole,
    /// Answer every request `500 Internal Server Error` (the service is up but failing).
    Error500,
}

/// A TCP proxy in front of the emulator that a test switches between passing traffic through
/// and refusing or swallowing connections. Switching away from [`Mode::Pass`] also cuts the
/// connections already open, so a client's pooled keep-alive connections fail too.
///
/// It also records the AWS operation of every request it forwards (the `X-Amz-Target` header,
/// e.g. `DynamoDB_20120810.GetItem`, `secretsmanager.PutSecretValue`).
pub struct FaultProxy {
    pub url: String,
    mode: watch::Sender<Mode>,
    ops: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
        let _ = self.mode.send(Mode::Refuse);
    }
}

impl FaultProxy {
    /// Starts a proxy on a free loopback port in front of `upstream` (`http://127.0.0.1:PORT`).
    pub async fn start(upstream: &str) -> FaultProxy {
        let upstream = url::Url::parse(upstream).expect("upstream URL");
        let host = upstream.host_str().expect("upstream host").to_string();
        assert!(
            host == "127.0.0.1" || host == "localhost",
            "the proxy only fronts a loopback emulator, not {host}"
        );
        let target = format!("127.0.0.1:{}", upstream.port().expect("upstream port"));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (mode, rx) = watch::channel(Mode::Pass);
        let ops = Arc::new(Mutex::new(Vec::new()));
        let ops2 = ops.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((inbound, _)) = listener.accept().await else {
                    continue;
                };
                let _ = inbound.set_nodelay(true);
                let current = *rx.borrow();
                match current {
                    Mode::Refuse => {
                        let _ = inbound.set_zero_linger();
                        drop(inbound);
                    }
                    Mode::Blackhole => {
                        tokio::spawn(swallow(inbound, rx.clone()));
                    }
                    Mode::Error500 => {
                        tokio::spawn(answer_500(inbound));
                    }
                    Mode::Pass => {
                        tokio::spawn(forward(inbound, target.clone(), rx.clone(), ops2.clone()));
                    }
                }
            }
        });
        FaultProxy {
            url,
            mode,
            ops,
            task,
        }
    }

    pub fn set(&self, mode: Mode) {
        self.mode.send_replace(mode);
    }
    pub fn pass(&self) {
        self.set(Mode::Pass)
    }
    pub fn refuse(&self) {
        self.set(Mode::Refuse)
    }
    pub fn blackhole(&self) {
        self.set(Mode::Blackhole)
    }

    /// Returns the operations forwarded since the last call, and forgets them.
    pub fn take_ops(&self) -> Vec<String> {
        std::mem::take(&mut *self.ops.lock().unwrap())
    }
}

/// Reads one request and answers `500` (as DynamoDB's JSON error), then closes.
async fn answer_500(mut inbound: TcpStream) {
    let mut buf = [0u8; 8192];
    let _ = tokio::time::timeout(Duration::from_secs(2), inbound.read(&mut buf)).await;
    let body = r#"{"__type":"com.amazonaws.dynamodb.v20120810#InternalServerError","message":"injected by the test proxy"}"#;
    let resp = format!(
        "HTTP/1.1 500 Internal Server Error\r\ncontent-type: application/x-amz-json-1.0\r\nx-amzn-errortype: InternalServerError\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = inbound.write_all(resp.as_bytes()).await;
    let _ = inbound.shutdown().await;
}

/// Holds a connection without answering until the mode changes, then drops it.
async fn swallow(mut inbound: TcpStream, mut rx: watch::Receiver<Mode>) {
    let mut buf = [0u8; 4096];
    loop {
        tokio::select! {
            r = inbound.read(&mut buf) => match r {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            },
            changed = rx.changed() => {
                if changed.is_err() || *rx.borrow() != Mode::Blackhole {
                    let _ = inbound.set_zero_linger();
                    return;
                }
            }
        }
    }
}

async fn forward(
    inbound: TcpStream,
    target: String,
    mut rx: watch::Receiver<Mode>,
    ops: Arc<Mutex<Vec<String>>>,
) {
    let Ok(outbound) = TcpStream::connect(&target).await else {
        let _ = inbound.set_zero_linger();
        return;
    };
    let _ = outbound.set_nodelay(true);
    let (mut ri, mut wi) = inbound.into_split();
    let (mut ro, mut wo) = outbound.into_split();
    let up = async {
        let mut scanner = TargetScanner::default();
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            let n = match ri.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            for op in scanner.feed(&buf[..n]) {
                ops.lock().unwrap().push(op);
            }
            if wo.write_all(&buf[..n]).await.is_err() {
                break;
            }
        }
        let _ = wo.shutdown().await;
    };
    let down = async {
        let _ = tokio::io::copy(&mut ro, &mut wi).await;
        let _ = wi.shutdown().await;
    };
    let cut = async {
        loop {
            if rx.changed().await.is_err() || *rx.borrow() != Mode::Pass {
                return;
            }
        }
    };
    let was_cut = tokio::select! {
        _ = async { tokio::join!(up, down) } => false,
        _ = cut => true,
    };
    if was_cut {
        // A reset, as when the service goes away, rather than a clean close.
        let _ = wi.as_ref().set_zero_linger();
        let _ = wo.as_ref().set_zero_linger();
    }
}

/// Finds `X-Amz-Target` header lines in a byte stream split at arbitrary points.
#[derive(Default)]
struct TargetScanner {
    line: Vec<u8>,
    overflow: bool,
}

impl TargetScanner {
    fn feed(&mut self, bytes: &[u8]) -> Vec<String> {
        let mut found = Vec::new();
        for &b in bytes {
            if b == b'\n' {
                if !self.overflow {
                    let line = String::from_utf8_lossy(&self.line);
                    let line = line.trim_end_matches('\r');
                    if let Some((name, value)) = line.split_once(':') {
                        if name.trim().eq_ignore_ascii_case("x-amz-target") {
                            let value = value.trim();
                            let op = value.rsplit('.').next().unwrap_or(value);
                            found.push(op.to_string());
                        }
                    }
                }
                self.line.clear();
                self.overflow = false;
            } else if self.line.len() < 256 {
                self.line.push(b);
            } else {
                self.overflow = true;
            }
        }
        found
    }
}

/// Polls `check` every 50 ms until it is true or `within` has passed; panics with `what`.
pub async fn eventually<F, Fut>(within: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if check().await {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not within {within:?}: {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// How long the service's AWS calls may take at most when a store is unreachable (the SDK's
/// operation timeout in `nowplaying::app::aws_config`), plus slack for a loaded machine.
pub const AWS_GIVE_UP: Duration = Duration::from_millis(2_000 + 1_500);

/// Returns everything the service logged in this test binary, captured once for all tests (each test
/// looks for lines naming its own uniquely named table or secret).
pub fn captured_logs() -> String {
    log_buffer().text()
}

fn log_buffer() -> &'static super::logs::LogBuffer {
    static BUF: std::sync::OnceLock<super::logs::LogBuffer> = std::sync::OnceLock::new();
    BUF.get_or_init(Default::default)
}

/// Sends the service's log events (INFO and up) to [`captured_logs`].
pub fn capture_logs() {
    static INIT: std::sync::Once = std::sync::Once::new();
    INIT.call_once(|| {
        let buf = log_buffer().clone();
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new("info"))
            .with_ansi(false)
            .with_target(false)
            .with_writer(move || buf.clone())
            .try_init();
    });
}

/// The whole service (`nowplaying::app::build`) on a loopback port, with its credentials in a
/// fresh secret and its shared state in a fresh table on the emulator, each store reached
/// through its own [`FaultProxy`], and the in-process fake Spotify.
pub struct EmulatorApp {
    pub url: String,
    pub fake: super::FakeSpotify,
    pub app: nowplaying::http::SharedApp,
    pub http: reqwest::Client,
    pub table: String,
    pub secret_id: String,
    /// Clients straight to the emulator (the test's own view, never through a proxy).
    pub ddb: aws_sdk_dynamodb::Client,
    pub sm: aws_sdk_secretsmanager::Client,
    /// The proxies the service's clients go through: connection faults and the operation log,
    /// in front of single-request faults.
    pub ddb_proxy: FaultProxy,
    pub sm_proxy: FaultProxy,
    pub ddb_faults: RequestFaults,
    pub sm_faults: RequestFaults,
    /// The service's stores, as built.
    pub stores: nowplaying::app::Stores,
    _dir: tempfile::TempDir,
}

impl EmulatorApp {
    /// `clock`: `None` for the system clock. `document`: the secret's initial content (by
    /// default the fake's first refresh token with the test client).
    pub async fn start(
        extra: &[(&str, &str)],
        clock: Option<nowplaying::clock::ManualClock>,
        document: Option<&str>,
    ) -> EmulatorApp {
        capture_logs();
        let sdk = sdk_config().await;
        let endpoint = super::aws_endpoint();
        let ddb = dynamo(&sdk, None);
        let sm = secrets(&sdk, None);
        let table = create_table(&ddb).await;
        let default_doc = super::credentials(super::fake_spotify::FIRST_REFRESH_TOKEN).to_json();
        let secret_id = create_secret_raw(&sm, document.unwrap_or(&default_doc)).await;
        let ddb_faults = RequestFaults::start(&endpoint).await;
        let sm_faults = RequestFaults::start(&endpoint).await;
        let ddb_proxy = FaultProxy::start(&ddb_faults.url).await;
        let sm_proxy = FaultProxy::start(&sm_faults.url).await;
        let stores = nowplaying::app::Stores::shared(
            Arc::new(nowplaying::store::secrets::SecretsCredentials::new(
                secrets(&sdk, Some(&sm_proxy.url)),
                secret_id.clone(),
            )),
            nowplaying::store::dynamo::DynamoState::new(
                dynamo(&sdk, Some(&ddb_proxy.url)),
                table.clone(),
            ),
        );
        let fake = super::FakeSpotify::start().await;
        let dir = tempfile::tempdir().unwrap();
        let mut vars = vec![
            ("TOKEN_SECRET_ID", secret_id.as_str()),
            ("CACHE_TABLE", table.as_str()),
        ];
        vars.extend_from_slice(extra);
        let config = super::config(&fake, &dir.path().join("credentials.json"), &vars);
        let clock: nowplaying::clock::SharedClock = match clock {
            Some(c) => Arc::new(c),
            None => Arc::new(nowplaying::clock::SystemClock),
        };
        let spotify = nowplaying::spotify::SpotifyClient::new(
            &config.api_base_url,
            &config.accounts_base_url,
        );
        let app = nowplaying::app::build(&config, &stores, spotify, clock);
        let url = super::serve(app.clone()).await;
        EmulatorApp {
            url,
            fake,
            app,
            http: reqwest::Client::new(),
            table,
            secret_id,
            ddb,
            sm,
            ddb_proxy,
            sm_proxy,
            ddb_faults,
            sm_faults,
            stores,
            _dir: dir,
        }
    }

    /// Another process on the same table, secret and fake Spotify, reaching both stores through
    /// proxies of its own, so a test can fail or hold one request of this process alone.
    pub async fn process(&self, clock: nowplaying::clock::ManualClock) -> Process {
        let sdk = sdk_config().await;
        let endpoint = super::aws_endpoint();
        let ddb_faults = RequestFaults::start(&endpoint).await;
        let sm_faults = RequestFaults::start(&endpoint).await;
        let stores = nowplaying::app::Stores::shared(
            Arc::new(nowplaying::store::secrets::SecretsCredentials::new(
                secrets(&sdk, Some(&sm_faults.url)),
                self.secret_id.clone(),
            )),
            nowplaying::store::dynamo::DynamoState::new(
                dynamo(&sdk, Some(&ddb_faults.url)),
                self.table.clone(),
            ),
        );
        let vars = [
            ("TOKEN_SECRET_ID", self.secret_id.as_str()),
            ("CACHE_TABLE", self.table.as_str()),
        ];
        let config = super::config(
            &self.fake,
            &self._dir.path().join("credentials.json"),
            &vars,
        );
        let spotify = nowplaying::spotify::SpotifyClient::new(
            &config.api_base_url,
            &config.accounts_base_url,
        );
        let app = nowplaying::app::build(&config, &stores, spotify, Arc::new(clock));
        let url = super::serve(app).await;
        Process {
            url,
            ddb_faults,
            sm_faults,
        }
    }

    /// Another instance of the service (another Lambda environment) on the same table, secret,
    /// proxies and fake Spotify, with its own token keeper, lease owner id and memory: returns
    /// its base URL.
    pub async fn sibling(
        &self,
        extra: &[(&str, &str)],
        clock: Option<nowplaying::clock::ManualClock>,
    ) -> String {
        super::serve(self.sibling_app(extra, clock, None)).await
    }

    /// Another instance's state (see [`EmulatorApp::sibling`]), not served, with `history` as
    /// its listening history when given.
    pub fn sibling_app(
        &self,
        extra: &[(&str, &str)],
        clock: Option<nowplaying::clock::ManualClock>,
        history: Option<Arc<dyn nowplaying::history::HistoryStore>>,
    ) -> nowplaying::http::SharedApp {
        let mut vars = vec![
            ("TOKEN_SECRET_ID", self.secret_id.as_str()),
            ("CACHE_TABLE", self.table.as_str()),
        ];
        vars.extend_from_slice(extra);
        let config = super::config(
            &self.fake,
            &self._dir.path().join("credentials.json"),
            &vars,
        );
        let clock: nowplaying::clock::SharedClock = match clock {
            Some(c) => Arc::new(c),
            None => Arc::new(nowplaying::clock::SystemClock),
        };
        let spotify = nowplaying::spotify::SpotifyClient::new(
            &config.api_base_url,
            &config.accounts_base_url,
        );
        let mut stores = self.stores.clone();
        if let Some(history) = history {
            stores = stores.with_history(history);
        }
        nowplaying::app::build(&config, &stores, spotify, clock)
    }

    /// `GET /api/spotify`: asserts `200` and returns the JSON body.
    pub async fn now(&self) -> serde_json::Value {
        let r = self
            .http
            .get(format!("{}/api/spotify", self.url))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "GET /api/spotify");
        r.json().await.unwrap()
    }

    /// The refresh token in the secret.
    pub async fn secret_token(&self) -> String {
        secret_refresh_token(&self.sm, &self.secret_id).await
    }

    pub async fn item(&self, key: &str) -> Option<HashMap<String, AttributeValue>> {
        raw_item(&self.ddb, &self.table, key).await
    }
}

/// One more process of the service (see [`EmulatorApp::process`]).
pub struct Process {
    pub url: String,
    pub ddb_faults: RequestFaults,
    pub sm_faults: RequestFaults,
}

/// The `v` attribute of a raw item.
pub fn attr_s(item: &HashMap<String, AttributeValue>, name: &str) -> String {
    item.get(name)
        .and_then(|v| v.as_s().ok())
        .cloned()
        .unwrap_or_default()
}

pub fn attr_n(item: &HashMap<String, AttributeValue>, name: &str) -> u64 {
    item.get(name)
        .and_then(|v| v.as_n().ok())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// A fresh table and secret (holding the fake's first refresh token) for processes to share.
pub struct EmulatorEnv {
    pub table: String,
    pub secret_id: String,
    pub ddb: aws_sdk_dynamodb::Client,
    pub sm: aws_sdk_secretsmanager::Client,
}

impl EmulatorEnv {
    pub async fn create() -> EmulatorEnv {
        let sdk = sdk_config().await;
        let ddb = dynamo(&sdk, None);
        let sm = secrets(&sdk, None);
        let table = create_table(&ddb).await;
        let secret_id = create_secret(
            &sm,
            &super::credentials(super::fake_spotify::FIRST_REFRESH_TOKEN),
        )
        .await;
        EmulatorEnv {
            table,
            secret_id,
            ddb,
            sm,
        }
    }

    pub async fn secret_token(&self) -> String {
        secret_refresh_token(&self.sm, &self.secret_id).await
    }
}

/// What a [`RequestFaults`] proxy does with a request that matches a rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Answer `500 InternalServerError` without forwarding.
    Fail,
    /// Hold it, unanswered, until [`RequestFaults::release_held`], then forward it: the client
    /// has given up long before, and the write still takes effect (a late write).
    HoldThenForward,
}

/// A rule: requests of operation `op` (`PutItem`, `PutSecretValue`, ...) whose body contains
/// `body_contains`, the next `times` of them.
#[derive(Debug, Clone)]
struct Rule {
    op: String,
    body_contains: String,
    action: Action,
    times: u32,
    /// Once it fired: fail every request after it too (the store went away for this process).
    then_fail_all: bool,
}

#[derive(Default)]
struct FaultState {
    rules: Vec<Rule>,
    fail_all: bool,
    /// Requests that matched, by rule op, for the test to wait on.
    fired: Vec<String>,
    /// Every request that came through: its operation and its body.
    requests: Vec<(String, String)>,
}

/// An HTTP proxy in front of the emulator that fails or holds single AWS requests, chosen by
/// operation and body: how a test hits one write at one moment ("the pending copy's PutItem",
/// "the UpdateSecretVersionStage of this rotation"). A [`FaultProxy`] usually stands in front
/// of it, for connection-level faults and the operation log.
pub struct RequestFaults {
    pub url: String,
    state: Arc<Mutex<FaultState>>,
    release: Arc<tokio::sync::Notify>,
    released: Arc<std::sync::atomic::AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for RequestFaults {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The AWS JSON error a failed request gets.
fn injected_500() -> axum::response::Response {
    let body = r#"{"__type":"InternalServerError","message":"injected by the test proxy"}"#;
    axum::response::Response::builder()
        .status(500)
        .header("content-type", "application/x-amz-json-1.1")
        .header("x-amzn-errortype", "InternalServerError")
        .body(axum::body::Body::from(body))
        .unwrap()
}

impl RequestFaults {
    pub async fn start(upstream: &str) -> RequestFaults {
        let upstream = upstream.trim_end_matches('/').to_string();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(Mutex::new(FaultState::default()));
        let release = Arc::new(tokio::sync::Notify::new());
        let released = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let client = reqwest::Client::new();
        let (st, rel, reld) = (state.clone(), release.clone(), released.clone());
        let handler = move |req: axum::extract::Request| {
            let (state, release, released, client, upstream) = (
                st.clone(),
                rel.clone(),
                reld.clone(),
                client.clone(),
                upstream.clone(),
            );
            async move {
                let (parts, body) = req.into_parts();
                let bytes = axum::body::to_bytes(body, 16 << 20)
                    .await
                    .unwrap_or_default();
                let op = parts
                    .headers
                    .get("x-amz-target")
                    .and_then(|v| v.to_str().ok())
                    .map(|v| v.rsplit('.').next().unwrap_or(v).to_string())
                    .unwrap_or_default();
                let text = String::from_utf8_lossy(&bytes).to_string();
                let action =
                    {
                        let mut s = state.lock().unwrap();
                        s.requests.push((op.clone(), text.clone()));
                        if s.fail_all {
                            Some(Action::Fail)
                        } else if let Some(i) = s.rules.iter().position(|r| {
                            r.times > 0 && r.op == op && text.contains(&r.body_contains)
                        }) {
                            let rule = &mut s.rules[i];
                            rule.times -= 1;
                            let (action, all) = (rule.action, rule.then_fail_all);
                            s.fail_all |= all;
                            s.fired.push(op.clone());
                            Some(action)
                        } else {
                            None
                        }
                    };
                match action {
                    Some(Action::Fail) => return injected_500(),
                    Some(Action::HoldThenForward) => {
                        let wait = release.notified();
                        tokio::pin!(wait);
                        wait.as_mut().enable();
                        if !released.load(Ordering::SeqCst) {
                            wait.await;
                        }
                    }
                    None => {}
                }
                let mut forward = client.request(
                    parts.method.clone(),
                    format!(
                        "{upstream}{}",
                        parts.uri.path_and_query().map_or("/", |p| p.as_str())
                    ),
                );
                for (name, value) in &parts.headers {
                    if name != "host" && name != "content-length" {
                        forward = forward.header(name, value);
                    }
                }
                match forward.body(bytes).send().await {
                    Ok(r) => {
                        let mut out = axum::response::Response::builder().status(r.status());
                        for (name, value) in r.headers() {
                            if name != "content-length" && name != "transfer-encoding" {
                                out = out.header(name, value);
                            }
                        }
                        let body = r.bytes().await.unwrap_or_default();
                        out.body(axum::body::Body::from(body)).unwrap()
                    }
                    Err(_) => injected_500(),
                }
            }
        };
        let app = axum::Router::new().fallback(handler);
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        RequestFaults {
            url,
            state,
            release,
            released,
            task,
        }
    }

    fn add(&self, op: &str, body_contains: &str, action: Action, times: u32, then_fail_all: bool) {
        self.state.lock().unwrap().rules.push(Rule {
            op: op.to_string(),
            body_contains: body_contains.to_string(),
            action,
            times,
            then_fail_all,
        });
    }

    /// Fails the next operation `op` whose body contains `body_contains`: both of the SDK's
    /// attempts (it retries a 500 once), so the call itself fails.
    pub fn fail_next(&self, op: &str, body_contains: &str) {
        self.add(op, body_contains, Action::Fail, 2, false);
    }

    /// Fails every request of operation `op` until [`RequestFaults::heal`].
    pub fn fail_all_of(&self, op: &str) {
        self.add(op, "", Action::Fail, u32::MAX, false);
    }

    /// Fails the next matching request and, from then on, every request (the store goes away
    /// for this process at that moment) until [`RequestFaults::heal`].
    pub fn fail_from(&self, op: &str, body_contains: &str) {
        self.add(op, body_contains, Action::Fail, 1, true);
    }

    /// Holds every matching request (up to `times`) until [`RequestFaults::release_held`].
    pub fn hold(&self, op: &str, body_contains: &str, times: u32) {
        self.released.store(false, Ordering::SeqCst);
        self.add(op, body_contains, Action::HoldThenForward, times, false);
    }

    /// Forwards the held requests now (and any that match later).
    pub fn release_held(&self) {
        self.released.store(true, Ordering::SeqCst);
        self.release.notify_waiters();
    }

    /// Clears every rule and the failing state.
    pub fn heal(&self) {
        let mut s = self.state.lock().unwrap();
        s.rules.clear();
        s.fail_all = false;
    }

    /// Returns every request (operation and JSON body) since the last call, and forgets them.
    pub fn take_requests(&self) -> Vec<(String, serde_json::Value)> {
        std::mem::take(&mut self.state.lock().unwrap().requests)
            .into_iter()
            .map(|(op, body)| (op, serde_json::from_str(&body).unwrap_or_default()))
            .collect()
    }

    /// How many requests of `op` matched a rule so far.
    pub fn fired(&self, op: &str) -> usize {
        self.state
            .lock()
            .unwrap()
            .fired
            .iter()
            .filter(|o| *o == op)
            .count()
    }
}
