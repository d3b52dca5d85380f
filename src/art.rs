//! Album art for the SVG card, fetched on the server and inlined as a `data:` URI.
//!
//! GitHub's image proxy does not load anything an SVG refers to, so the card must carry the
//! image itself. Fetching is bounded (size, content type, time) and remembered per URL, failures
//! included, so a broken image URL costs at most one request a minute.

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
    entries: Mutex<HashMap<String, Entry>>,
}

impl std::fmt::Debug for ArtCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArtCache")
            .field("max_bytes", &self.max_bytes)
            .field(
                "entries",
                &self.entries.lock().map(|e| e.len()).unwrap_or(0),
            )
            .finish()
    }
}

impl ArtCache {
    /// `max_bytes`: the largest image body accepted (before base64).
    pub fn new(http: reqwest::Client, max_bytes: usize) -> Self {
        Self {
            http,
            max_bytes,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// The image at `url` as `data:image/…;base64,…`, or `None` when it is not an http(s) URL,
    /// cannot be fetched within [`TIMEOUT`], is not a success, is too large or not an accepted
    /// image type. Never errors: the card then draws its placeholder.
    pub async fn data_uri(&self, url: &str) -> Option<String> {
        if !is_http_url(url) {
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

/// Only absolute `http://` and `https://` URLs with a host.
fn is_http_url(url: &str) -> bool {
    match url::Url::parse(url) {
        Ok(u) => matches!(u.scheme(), "http" | "https") && u.host().is_some(),
        Err(_) => false,
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
    fn only_http_urls() {
        assert!(is_http_url("https://i.scdn.co/image/ab67616d0000b273"));
        assert!(is_http_url("http://127.0.0.1:9/x.jpg"));
        for bad in [
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
        let cache = ArtCache::new(reqwest::Client::new(), 1024);
        assert_eq!(cache.data_uri("file:///etc/passwd").await, None);
        assert_eq!(cache.data_uri("not a url").await, None);
        assert_eq!(cache.len(), 0);
    }

    #[test]
    fn cache_hits_misses_expiry_and_eviction() {
        let cache = ArtCache::new(reqwest::Client::new(), 1024);
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
        let cache = ArtCache::new(reqwest::Client::new(), 1024);
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
