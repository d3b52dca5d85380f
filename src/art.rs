//! Album art for the SVG card, fetched on the server and inlined as a `data:` URI.
//!
//! GitHub's image proxy does not load anything an SVG refers to, so the card must carry the
//! image itself. Fetching is bounded (size, content type, time) and remembered per URL, failures
//! included, so a broken image URL costs at most one request a minute.
//!
//! The cache has its own HTTP client that follows no redirect: the caller checks the URL's host,
//! and a redirect would take the fetch to a host nobody checked (a `3xx` is a failed fetch, the
//! card draws its placeholder). Art is fetched over `https` only, except from the hosts given as
//! plain-http hosts (the configured emulator or demo API host, `127.0.0.1:port`).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine as _;

/// How many URLs are remembered.
pub const CAPACITY: usize = 16;
/// The whole fetch (connect, headers, body) must finish within this.
pub const TIMEOUT: Duration = Duration::from_secs(2);
/// How long a fetched image is kept. Spotify's image URLs are content-addressed.
pub const HIT_TTL: Duration = Duration::from_secs(6 * 60 * 60);
/// How long a failure is remembered before the URL is tried again.
pub const MISS_TTL: Duration = Duration::from_secs(60);

/// Connecting must succeed within this.
pub const CONNECT_TIMEOUT: Duration = Duration::from_millis(1500);

/// The image types a card may embed.
pub const ACCEPTED_TYPES: &[&str] = &["image/jpeg", "image/png", "image/webp", "image/gif"];

struct Entry {
    /// `None`: the last fetch failed.
    value: Option<String>,
    stored: Instant,
    used: Instant,
}

impl Entry {
    fn fresh(&self, now: Instant) -> bool {
        let ttl = if self.value.is_some() {
            HIT_TTL
        } else {
            MISS_TTL
        };
        now.duration_since(self.stored) < ttl
    }
}

/// Fetches album art and caches it as `data:` URIs.
pub struct ArtCache {
    http: reqwest::Client,
    max_bytes: usize,
    /// `host:port` of the hosts art may come from over plain `http`.
    http_hosts: Vec<String>,
    entries: Mutex<HashMap<String, Entry>>,
}

impl std::fmt::Debug for ArtCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArtCache")
            .field("max_bytes", &self.max_bytes)
            .field("http_hosts", &self.http_hosts)
            .field(
                "entries",
                &self.entries.lock().map(|e| e.len()).unwrap_or(0),
            )
            .finish()
    }
}

impl ArtCache {
    /// `max_bytes`: the largest image body accepted (before base64). `http_hosts`: the
    /// `host:port`s art may be fetched from over plain `http` (see [`plain_http_hosts`]); every
    /// other URL must be `https`.
    pub fn new(max_bytes: usize, http_hosts: Vec<String>) -> Self {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(TIMEOUT)
            .user_agent(concat!("nowplaying/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("reqwest client with static settings");
        Self {
            http,
            max_bytes,
            http_hosts,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// The image at `url` as `data:image/…;base64,…`, or `None` when it is not an `https` URL (or
    /// `http` from a plain-http host), cannot be fetched within [`TIMEOUT`], is not a `2xx` (a
    /// redirect is not followed), is too large or not an accepted image type. Never errors: the
    /// card then draws its placeholder.
    pub async fn data_uri(&self, url: &str) -> Option<String> {
        if !fetchable(url, &self.http_hosts) {
            return None;
        }
        if let Some(hit) = self.lookup(url, Instant::now()) {
            return hit;
        }
        let value = match tokio::time::timeout(TIMEOUT, self.fetch(url)).await {
            Ok(Ok(uri)) => Some(uri),
            Ok(Err(why)) => {
                tracing::debug!(url, why, "album art not embedded");
                None
            }
            Err(_) => {
                tracing::debug!(url, "album art fetch timed out");
                None
            }
        };
        self.store(url, value.clone(), Instant::now());
        value
    }

    async fn fetch(&self, url: &str) -> Result<String, &'static str> {
        let mut resp = self
            .http
            .get(url)
            .send()
            .await
            .map_err(|_| "request failed")?;
        if !resp.status().is_success() {
            return Err("not a success status");
        }
        let mime = accepted_image_type(
            resp.headers()
                .get(reqwest::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok()),
        )
        .ok_or("not an accepted image type")?;
        if resp
            .content_length()
            .is_some_and(|n| n > self.max_bytes as u64)
        {
            return Err("Content-Length over the limit");
        }
        // Read chunk by chunk so a lying or missing Content-Length cannot make us buffer more.
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(|_| "body read failed")? {
            if body.len() + chunk.len() > self.max_bytes {
                return Err("body over the limit");
            }
            body.extend_from_slice(&chunk);
        }
        if body.is_empty() {
            return Err("empty body");
        }
        Ok(to_data_uri(mime, &body))
    }

    /// `Some(cached)` when `url` has a fresh entry (a hit or a remembered miss).
    fn lookup(&self, url: &str, now: Instant) -> Option<Option<String>> {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        let entry = entries.get_mut(url)?;
        if !entry.fresh(now) {
            entries.remove(url);
            return None;
        }
        entry.used = now;
        Some(entry.value.clone())
    }

    fn store(&self, url: &str, value: Option<String>, now: Instant) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if !entries.contains_key(url) && entries.len() >= CAPACITY {
            // Drop what has expired; if still full, the least recently used.
            entries.retain(|_, e| e.fresh(now));
            if entries.len() >= CAPACITY {
                if let Some(oldest) = entries
                    .iter()
                    .min_by_key(|(_, e)| e.used)
                    .map(|(k, _)| k.clone())
                {
                    entries.remove(&oldest);
                }
            }
        }
        entries.insert(
            url.to_string(),
            Entry {
                value,
                stored: now,
                used: now,
            },
        );
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.entries.lock().unwrap().len()
    }
}

/// Absolute `https://` URLs with a host, and `http://` ones whose `host:port` is in `http_hosts`.
fn fetchable(url: &str, http_hosts: &[String]) -> bool {
    let Ok(u) = url::Url::parse(url) else {
        return false;
    };
    let Some(host) = u.host_str() else {
        return false;
    };
    match u.scheme() {
        "https" => true,
        "http" => {
            let host_port = match u.port() {
                Some(p) => format!("{host}:{p}"),
                None => host.to_string(),
            };
            http_hosts.contains(&host_port)
        }
        _ => false,
    }
}

/// The plain-http art host named by a base URL (`http://127.0.0.1:8080` → `127.0.0.1:8080`):
/// the configured emulator or demo API host. `None` for an `https` base (Spotify's own).
pub fn plain_http_hosts(base_url: &str) -> Vec<String> {
    let Ok(u) = url::Url::parse(base_url) else {
        return Vec::new();
    };
    match (u.scheme(), u.host_str()) {
        ("http", Some(h)) => vec![match u.port() {
            Some(p) => format!("{h}:{p}"),
            None => h.to_string(),
        }],
        _ => Vec::new(),
    }
}

/// The canonical image type for a `Content-Type` header value, if it is one we embed.
/// Parameters (`; charset=…`) and case are ignored.
pub fn accepted_image_type(content_type: Option<&str>) -> Option<&'static str> {
    let essence = content_type?.split(';').next()?.trim().to_ascii_lowercase();
    ACCEPTED_TYPES.iter().copied().find(|t| *t == essence)
}

fn to_data_uri(mime: &str, body: &[u8]) -> String {
    format!(
        "data:{mime};base64,{}",
        base64::engine::general_purpose::STANDARD.encode(body)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_type_filter() {
        assert_eq!(accepted_image_type(Some("image/jpeg")), Some("image/jpeg"));
        assert_eq!(
            accepted_image_type(Some("IMAGE/PNG; charset=binary")),
            Some("image/png")
        );
        assert_eq!(
            accepted_image_type(Some(" image/webp ")),
            Some("image/webp")
        );
        assert_eq!(accepted_image_type(Some("image/gif")), Some("image/gif"));
        for bad in [
            "image/svg+xml",
            "text/html",
            "application/octet-stream",
            "image/",
            "",
            "imagejpeg",
        ] {
            assert_eq!(accepted_image_type(Some(bad)), None, "{bad}");
        }
        assert_eq!(accepted_image_type(None), None);
    }

    #[test]
    fn https_only_except_the_plain_http_hosts() {
        let hosts = plain_http_hosts("http://127.0.0.1:9");
        assert_eq!(hosts, vec!["127.0.0.1:9".to_string()]);
        assert!(plain_http_hosts("https://api.spotify.com").is_empty());
        let is_http_url = |u: &str| fetchable(u, &hosts);
        assert!(is_http_url("https://i.scdn.co/image/ab67616d0000b273"));
        assert!(is_http_url("http://127.0.0.1:9/x.jpg"));
        for bad in [
            "http://i.scdn.co/image/ab67616d0000b273",
            "http://127.0.0.1:10/x.jpg",
            "http://127.0.0.1/x.jpg",
            "http://localhost:9/x.jpg",
            "file:///etc/passwd",
            "ftp://x/y.jpg",
            "data:image/png;base64,AAAA",
            "/relative.jpg",
            "",
            "javascript:alert(1)",
        ] {
            assert!(!is_http_url(bad), "{bad}");
        }
    }

    #[test]
    fn data_uri_encoding() {
        assert_eq!(
            to_data_uri("image/png", b"\x89PNG"),
            "data:image/png;base64,iVBORw=="
        );
    }

    #[tokio::test]
    async fn refuses_non_http_without_touching_the_network_or_the_cache() {
        let cache = ArtCache::new(1024, Vec::new());
        assert_eq!(cache.data_uri("file:///etc/passwd").await, None);
        assert_eq!(cache.data_uri("not a url").await, None);
        assert_eq!(cache.len(), 0);
    }

    #[test]
    fn cache_hits_misses_expiry_and_eviction() {
        let cache = ArtCache::new(1024, Vec::new());
        let t0 = Instant::now();
        cache.store("https://a/1", Some("data:image/png;base64,AA==".into()), t0);
        cache.store("https://a/miss", None, t0);
        assert_eq!(
            cache.lookup("https://a/1", t0),
            Some(Some("data:image/png;base64,AA==".into()))
        );
        assert_eq!(
            cache.lookup("https://a/miss", t0),
            Some(None),
            "failures are remembered"
        );
        assert_eq!(cache.lookup("https://a/other", t0), None);
        // A miss is retried after MISS_TTL; a hit lasts longer.
        let later = t0 + MISS_TTL + Duration::from_secs(1);
        assert_eq!(cache.lookup("https://a/miss", later), None);
        assert!(cache.lookup("https://a/1", later).is_some());
        assert!(cache
            .lookup("https://a/1", t0 + HIT_TTL + Duration::from_secs(1))
            .is_none());

        // Never more than CAPACITY entries; the least recently used goes first.
        let cache = ArtCache::new(1024, Vec::new());
        for i in 0..CAPACITY {
            cache.store(
                &format!("https://a/{i}"),
                Some(format!("v{i}")),
                t0 + Duration::from_millis(i as u64),
            );
        }
        let touch = t0 + Duration::from_secs(1);
        assert!(cache.lookup("https://a/0", touch).is_some()); // 0 is now the most recent
        cache.store("https://a/new", None, touch);
        assert_eq!(cache.len(), CAPACITY);
        assert!(cache.lookup("https://a/0", touch).is_some());
        assert!(
            cache.lookup("https://a/1", touch).is_none(),
            "least recently used evicted"
        );
        assert!(cache.lookup("https://a/new", touch).is_some());
    }
}
