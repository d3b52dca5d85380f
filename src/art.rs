//! Album art for the SVG card, fetched on the server and inlined as a `data:` URI.
//!
//! GitHub's image proxy does not load anything an SVG refers to, so the card must carry the
//! image itself. Fetching is bounded (size, content type, time) and remembered per URL, failures
//! included, so a broken image URL costs at most one request a minute.
//!
//! One flight per URL: however many cards ask for an image nobody has fetched yet, one request
//! goes out and every caller waits for its outcome. A failed fetch never replaces a good copy:
//! the card keeps the art it had (Spotify's image URLs are content-addressed, so an older copy is
//! still the right picture) and the URL is tried again after [`MISS_TTL`].
//!
//! The cache has its own HTTP client that follows no redirect: the caller checks the URL's host,
//! and a redirect would take the fetch to a host nobody checked (a `3xx` is a failed fetch, the
//! card draws its placeholder). Art is fetched over `https` only, except from the hosts given as
//! plain-http hosts (the configured emulator or demo API host, `127.0.0.1:port`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use tokio::sync::OnceCell;

use crate::clock::{SharedClock, Timestamp};
use crate::color::ArtColors;

/// How many URLs are remembered: the now-playing card's art plus ten rows each of the recent
/// card and both top cards (31), with room to spare. With the byte limit per image this bounds
/// the cache at `CAPACITY` × the base64 of `max_bytes` (48 × 64 KB, about 3 MB).
pub const CAPACITY: usize = 48;
/// The whole fetch (connect, headers, body) must finish within this.
pub const TIMEOUT: Duration = Duration::from_secs(2);
/// How long a fetched image is kept before it is fetched again. Spotify's image URLs are
/// content-addressed.
pub const HIT_TTL: Duration = Duration::from_secs(6 * 60 * 60);
/// How long a failure is remembered before the URL is tried again.
pub const MISS_TTL: Duration = Duration::from_secs(60);

/// Connecting must succeed within this.
pub const CONNECT_TIMEOUT: Duration = Duration::from_millis(1500);

/// The image types a card may embed.
pub const ACCEPTED_TYPES: &[&str] = &["image/jpeg", "image/png", "image/webp", "image/gif"];

/// A fetched image as every card that embeds it shares it: its `data:` URI and, for a PNG or
/// JPEG, its colours for `theme=art` (computed once, when it is fetched).
#[derive(Debug, PartialEq, Eq)]
pub struct Art {
    pub data_uri: Arc<str>,
    pub colors: Option<ArtColors>,
}

/// A cached [`Art`], shared.
pub type DataUri = Arc<Art>;

/// The outcome of one fetch, which every caller that joined it receives.
type Flight = Arc<OnceCell<Option<DataUri>>>;

struct Entry {
    /// The last good copy and when it was fetched; kept through later failures.
    good: Option<(DataUri, Timestamp)>,
    /// When the last fetch failed, if no fetch succeeded since.
    failed_at: Option<Timestamp>,
    used: Timestamp,
    /// The fetch under way, if any.
    flight: Option<Flight>,
}

impl Entry {
    /// What to answer without fetching: `Some(answer)` while the good copy is fresh or a
    /// failure is remembered (then the good copy, however old, or nothing).
    fn settled(&self, now: Timestamp) -> Option<Option<DataUri>> {
        if let Some((uri, at)) = &self.good {
            if now.since(*at) < HIT_TTL {
                return Some(Some(uri.clone()));
            }
        }
        match self.failed_at {
            Some(at) if now.since(at) < MISS_TTL => {
                Some(self.good.as_ref().map(|(uri, _)| uri.clone()))
            }
            _ => None,
        }
    }

    /// Still worth its place: a fresh good copy, a remembered failure, or a fetch under way.
    fn live(&self, now: Timestamp) -> bool {
        self.flight.is_some() || self.settled(now).is_some()
    }
}

/// Fetches album art and caches it as `data:` URIs.
pub struct ArtCache {
    http: reqwest::Client,
    max_bytes: usize,
    /// `host:port` of the hosts art may come from over plain `http`.
    http_hosts: Vec<String>,
    clock: SharedClock,
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
    /// other URL must be `https`. `clock` decides when a copy or a failure has expired.
    pub fn new(max_bytes: usize, http_hosts: Vec<String>, clock: SharedClock) -> Self {
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
            clock,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// The image at `url` as `data:image/…;base64,…` with its colours, or `None` when it is not an `https` URL (or
    /// `http` from a plain-http host), cannot be fetched within [`TIMEOUT`], is not a `2xx` (a
    /// redirect is not followed), is too large or not an accepted image type, and no earlier
    /// fetch of it succeeded. Never errors: the card then draws its placeholder.
    pub async fn data_uri(&self, url: &str) -> Option<DataUri> {
        if !fetchable(url, &self.http_hosts) {
            return None;
        }
        let flight = match self.join(url, self.clock.now()) {
            Ok(settled) => return settled,
            Err(flight) => flight,
        };
        // Only one caller runs the fetch; the rest wait for its outcome. Should that caller be
        // dropped halfway (its visitor went away), the next waiter runs it instead.
        let fetched = flight.get_or_init(|| self.fetch_bounded(url)).await.clone();
        self.land(url, &flight, fetched, self.clock.now())
    }

    /// The answer without a fetch (`Ok`), or the flight to wait on: the one under way, or a new
    /// one this caller starts.
    fn join(&self, url: &str, now: Timestamp) -> Result<Option<DataUri>, Flight> {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if !entries.contains_key(url) && entries.len() >= CAPACITY {
            evict(&mut entries, now);
        }
        let entry = entries.entry(url.to_string()).or_insert_with(|| Entry {
            good: None,
            failed_at: None,
            used: now,
            flight: None,
        });
        entry.used = now;
        if let Some(flight) = &entry.flight {
            return Err(flight.clone());
        }
        if let Some(settled) = entry.settled(now) {
            return Ok(settled);
        }
        let flight = Flight::default();
        entry.flight = Some(flight.clone());
        Err(flight)
    }

    /// Records a flight's outcome (once, by whichever caller gets here first) and answers it: a
    /// failure answers the good copy when there is one.
    fn land(
        &self,
        url: &str,
        flight: &Flight,
        fetched: Option<DataUri>,
        now: Timestamp,
    ) -> Option<DataUri> {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        let Some(entry) = entries.get_mut(url) else {
            return fetched; // evicted meanwhile: answer what this flight got
        };
        if entry
            .flight
            .as_ref()
            .is_some_and(|f| Arc::ptr_eq(f, flight))
        {
            entry.flight = None;
            match &fetched {
                Some(uri) => {
                    entry.good = Some((uri.clone(), now));
                    entry.failed_at = None;
                }
                None => entry.failed_at = Some(now),
            }
        }
        fetched.or_else(|| entry.good.as_ref().map(|(uri, _)| uri.clone()))
    }

    /// One fetch within [`TIMEOUT`]; `None` (logged at debug) when it fails.
    async fn fetch_bounded(&self, url: &str) -> Option<DataUri> {
        match tokio::time::timeout(TIMEOUT, self.fetch(url)).await {
            Ok(Ok(art)) => Some(Arc::new(art)),
            Ok(Err(why)) => {
                tracing::debug!(url, why, "album art not embedded");
                None
            }
            Err(_) => {
                tracing::debug!(url, "album art fetch timed out");
                None
            }
        }
    }

    async fn fetch(&self, url: &str) -> Result<Art, &'static str> {
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
        // Decoding is CPU work: off the async threads, once per fetch.
        let data_uri = to_data_uri(mime, &body).into();
        let colors = tokio::task::spawn_blocking(move || ArtColors::from_image(&body))
            .await
            .unwrap_or(None);
        Ok(Art { data_uri, colors })
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.entries.lock().unwrap().len()
    }
}

/// Makes room for one more entry: drops what has expired and, if still full, the least recently
/// used entry without a fetch under way (or, when every entry has one, the least recently used).
fn evict(entries: &mut HashMap<String, Entry>, now: Timestamp) {
    entries.retain(|_, e| e.live(now) || e.good.is_some());
    if entries.len() < CAPACITY {
        return;
    }
    let oldest = |idle_only: bool| {
        entries
            .iter()
            .filter(|(_, e)| !idle_only || e.flight.is_none())
            .min_by_key(|(_, e)| e.used)
            .map(|(k, _)| k.clone())
    };
    if let Some(k) = oldest(true).or_else(|| oldest(false)) {
        entries.remove(&k);
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
    use crate::clock::{Clock, ManualClock};

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

    fn cache(clock: &ManualClock) -> ArtCache {
        ArtCache::new(1024, Vec::new(), Arc::new(clock.clone()))
    }

    /// One whole flight for `url` by hand, its fetch ending in `outcome`: what its caller gets.
    fn fly(c: &ArtCache, url: &str, outcome: Option<&str>) -> Option<DataUri> {
        let now = c.clock.now();
        let flight = c.join(url, now).expect_err("a fetch is due");
        let fetched: Option<DataUri> = outcome.map(art);
        flight
            .set(fetched.clone())
            .expect("the flight was not run yet");
        c.land(url, &flight, fetched, now)
    }

    fn art(uri: &str) -> DataUri {
        Arc::new(Art {
            data_uri: uri.into(),
            colors: None,
        })
    }

    fn answer(c: &ArtCache, url: &str) -> Option<DataUri> {
        c.join(url, c.clock.now())
            .unwrap_or_else(|_| panic!("{url}: a fetch is due"))
    }

    const T0: Timestamp = Timestamp::from_millis(1_764_000_000_000);

    #[tokio::test]
    async fn refuses_non_http_without_touching_the_network_or_the_cache() {
        let cache = cache(&ManualClock::at(T0));
        assert_eq!(cache.data_uri("file:///etc/passwd").await, None);
        assert_eq!(cache.data_uri("not a url").await, None);
        assert_eq!(cache.len(), 0);
    }

    #[test]
    fn callers_during_a_fetch_join_it() {
        let clock = ManualClock::at(T0);
        let c = cache(&clock);
        let first = c
            .join("https://a/1", T0)
            .expect_err("nothing cached: fetch");
        let second = c.join("https://a/1", T0).expect_err("joins the flight");
        assert!(Arc::ptr_eq(&first, &second), "one flight per URL");
        let other = c.join("https://a/2", T0).expect_err("another URL");
        assert!(!Arc::ptr_eq(&first, &other));
        // Whoever lands first records the outcome; the others only read it.
        let got: Option<DataUri> = Some(art("data:image/png;base64,AA=="));
        assert_eq!(c.land("https://a/1", &first, got.clone(), T0), got);
        assert_eq!(c.land("https://a/1", &second, got.clone(), T0), got);
        assert_eq!(answer(&c, "https://a/1"), got);
    }

    #[test]
    fn a_failure_never_replaces_a_good_copy() {
        let clock = ManualClock::at(T0);
        let c = cache(&clock);
        let good = Some(art("data:image/png;base64,AA=="));
        assert_eq!(
            fly(&c, "https://a/1", Some("data:image/png;base64,AA==")),
            good
        );
        clock.advance(HIT_TTL - Duration::from_secs(1));
        assert_eq!(answer(&c, "https://a/1"), good, "a hit lasts HIT_TTL");
        clock.advance(Duration::from_secs(2));
        // Expired: fetched again; the fetch fails, and the good copy is still the answer.
        assert_eq!(fly(&c, "https://a/1", None), good);
        assert_eq!(answer(&c, "https://a/1"), good, "no new fetch for MISS_TTL");
        clock.advance(MISS_TTL);
        assert_eq!(
            fly(&c, "https://a/1", None),
            good,
            "tried again, still kept"
        );
        clock.advance(MISS_TTL);
        let newer = Some(art("data:image/png;base64,BB=="));
        assert_eq!(
            fly(&c, "https://a/1", Some("data:image/png;base64,BB==")),
            newer
        );
        assert_eq!(answer(&c, "https://a/1"), newer);

        // Without a good copy a failure is remembered for MISS_TTL, then tried again.
        assert_eq!(fly(&c, "https://a/miss", None), None);
        assert_eq!(answer(&c, "https://a/miss"), None);
        clock.advance(MISS_TTL);
        assert!(c.join("https://a/miss", clock.now()).is_err());
    }

    #[test]
    fn never_more_than_capacity_entries_least_recently_used_first() {
        let clock = ManualClock::at(T0);
        let c = cache(&clock);
        for i in 0..CAPACITY {
            fly(&c, &format!("https://a/{i}"), Some(&format!("v{i}")));
            clock.advance(Duration::from_millis(1));
        }
        clock.advance(Duration::from_secs(1));
        assert!(answer(&c, "https://a/0").is_some()); // 0 is now the most recent
        fly(&c, "https://a/new", None);
        assert_eq!(c.len(), CAPACITY);
        assert!(answer(&c, "https://a/0").is_some());
        assert!(
            c.join("https://a/1", clock.now()).is_err(),
            "least recently used evicted"
        );
    }
}
