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
//!
//! A list card draws its art at 40 px, and ten rows of Spotify's smallest covers (64 px, 2 to
//! 4 KB each) or artist images (160 px) would pass the card's art budget. So every PNG or JPEG
//! is also kept scaled down to [`THUMB_SIDE`] (64 px) and re-encoded as JPEG
//! ([`Art::thumb_uri`]) when that is smaller; the list rows embed that copy. An image over the
//! embed limit (a playlist's only cover is often 640 px) is still fetched, up to
//! [`FETCH_MAX_BYTES`], for its small copy alone.

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

/// The largest image fetched at all. One over the cache's embed limit is kept only as its
/// small copy (and its colours).
pub const FETCH_MAX_BYTES: usize = 512 * 1024;
/// The side a list row's art is scaled down to (Spotify's smallest size; the row draws it at
/// 40 px). With [`THUMB_QUALITY`], a detailed photograph comes to about 1.6 to 2.1 KB (measured
/// on two photographs; 80 px at quality 75 was 2.3 to 3.3 KB), so ten rows stay within the list
/// card's art budget ([`crate::svg::list_card::ART_BUDGET_BYTES`]).
pub const THUMB_SIDE: u32 = 64;
/// The JPEG quality of the small copy.
pub const THUMB_QUALITY: u8 = 70;

/// The image types a card may embed.
pub const ACCEPTED_TYPES: &[&str] = &["image/jpeg", "image/png", "image/webp", "image/gif"];

/// A fetched image as every card that embeds it shares it, each part computed once, when it is
/// fetched. At least one of the two URIs is there.
#[derive(Debug, PartialEq, Eq)]
pub struct Art {
    /// The image as fetched, as a `data:` URI, when it is within the embed limit.
    pub data_uri: Option<Arc<str>>,
    /// For a PNG or JPEG without transparency: the image scaled down to at most
    /// [`THUMB_SIDE`] on its longer side and re-encoded as JPEG, when that is fewer bytes.
    pub thumb_uri: Option<Arc<str>>,
    /// For a PNG or JPEG, its colours for `theme=art`.
    pub colors: Option<ArtColors>,
}

impl Art {
    /// What the now-playing card embeds: the image itself, else (one over the embed limit) the
    /// small copy, drawn a little larger than it is rather than not at all.
    pub fn card_uri(&self) -> Option<&str> {
        self.data_uri.as_deref().or(self.thumb_uri.as_deref())
    }

    /// What a list row embeds: the small copy, else the image itself.
    pub fn row_uri(&self) -> Option<&str> {
        self.thumb_uri.as_deref().or(self.data_uri.as_deref())
    }
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
    /// `max_bytes`: the largest image embedded as it is (before base64); a larger one, up to
    /// [`FETCH_MAX_BYTES`], is kept only as its small copy. `http_hosts`: the
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

    /// The image at `url` as `data:image/…;base64,…` (see [`Art`]), or `None` when it is not an
    /// `https` URL (or `http` from a plain-http host), cannot be fetched within [`TIMEOUT`], is
    /// not a `2xx` (a redirect is not followed), is over [`FETCH_MAX_BYTES`] (or over the embed
    /// limit with no small copy), or not an accepted image type, and no earlier fetch of it
    /// succeeded. Never errors: the card then draws its placeholder.
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
        let fetch_max = self.max_bytes.max(FETCH_MAX_BYTES);
        if resp.content_length().is_some_and(|n| n > fetch_max as u64) {
            return Err("Content-Length over the limit");
        }
        // Read chunk by chunk so a lying or missing Content-Length cannot make us buffer more.
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(|_| "body read failed")? {
            if body.len() + chunk.len() > fetch_max {
                return Err("body over the limit");
            }
            body.extend_from_slice(&chunk);
        }
        if body.is_empty() {
            return Err("empty body");
        }
        let data_uri = (body.len() <= self.max_bytes).then(|| to_data_uri(mime, &body).into());
        // Decoding is CPU work: off the async threads, once per fetch.
        let (colors, thumb) = tokio::task::spawn_blocking(move || {
            crate::color::decode_cover(&body)
                .map(|img| (ArtColors::from_decoded(&img), thumbnail(&img, body.len())))
                .unwrap_or_default()
        })
        .await
        .unwrap_or_default();
        let thumb_uri: Option<Arc<str>> = thumb.map(|t| to_data_uri("image/jpeg", &t).into());
        if data_uri.is_none() && thumb_uri.is_none() {
            return Err("over the embed limit and no small copy");
        }
        Ok(Art {
            data_uri,
            thumb_uri,
            colors,
        })
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

/// `img` scaled down to fit [`THUMB_SIDE`] (never up) and encoded as a JPEG of
/// [`THUMB_QUALITY`], when that is fewer bytes than the `original_len` it was decoded from.
/// `None` for an image with an alpha channel: JPEG has none, and a transparent cover would turn
/// black where it is clear.
fn thumbnail(img: &image::DynamicImage, original_len: usize) -> Option<Vec<u8>> {
    if img.color().has_alpha() {
        return None;
    }
    let small = if img.width() > THUMB_SIDE || img.height() > THUMB_SIDE {
        img.resize(
            THUMB_SIDE,
            THUMB_SIDE,
            image::imageops::FilterType::Triangle,
        )
    } else {
        img.clone()
    };
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, THUMB_QUALITY)
        .encode_image(&small.to_rgb8())
        .ok()?;
    (out.len() < original_len).then_some(out)
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
            data_uri: Some(uri.into()),
            thumb_uri: None,
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

    /// A deterministic image with a photograph's detail: smooth noise at six scales (each at
    /// 0.7 of the one before) and a little grain. Its weight is a real cover's: as JPEG at
    /// quality 90, 20 to 40 KB at 300 px and 2 to 4 KB at 64 px (checked below).
    fn photo_like(side: u32) -> image::DynamicImage {
        let mut state: u32 = 0x1234_5678;
        let mut rnd = move || {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            f64::from(state) / f64::from(u32::MAX)
        };
        let octaves: Vec<(u32, Vec<[f64; 3]>)> = [3u32, 6, 12, 24, 48, 96]
            .iter()
            .map(|&n| {
                (
                    n,
                    (0..(n + 1) * (n + 1))
                        .map(|_| [rnd(), rnd(), rnd()])
                        .collect(),
                )
            })
            .collect();
        let grain: Vec<f64> = (0..side * side).map(|_| (rnd() - 0.5) * 0.05).collect();
        image::DynamicImage::ImageRgb8(image::RgbImage::from_fn(side, side, |px, py| {
            let mut c = [0.0f64; 3];
            let mut amp = 0.5;
            for (n, grid) in &octaves {
                let fx = f64::from(px) / f64::from(side) * f64::from(*n);
                let fy = f64::from(py) / f64::from(side) * f64::from(*n);
                let (ix, iy) = (fx.floor() as u32, fy.floor() as u32);
                let (tx, ty) = (fx.fract(), fy.fract());
                let at = |i: u32, j: u32| grid[(j.min(*n) * (n + 1) + i.min(*n)) as usize];
                for (k, ck) in c.iter_mut().enumerate() {
                    let top = at(ix, iy)[k] * (1.0 - tx) + at(ix + 1, iy)[k] * tx;
                    let bottom = at(ix, iy + 1)[k] * (1.0 - tx) + at(ix + 1, iy + 1)[k] * tx;
                    *ck += amp * (top * (1.0 - ty) + bottom * ty);
                }
                amp *= 0.7;
            }
            let g = grain[(py * side + px) as usize];
            image::Rgb(c.map(|v| ((v + g) * 255.0).clamp(0.0, 255.0) as u8))
        }))
    }

    fn jpeg(img: &image::DynamicImage, quality: u8) -> Vec<u8> {
        let mut out = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, quality)
            .encode_image(&img.to_rgb8())
            .unwrap();
        out
    }

    #[test]
    fn the_small_copy_of_a_cover_fits_ten_rows_in_the_list_cards_art_budget() {
        let big = photo_like(300);
        let small = big.resize(64, 64, image::imageops::FilterType::Lanczos3);
        let (big_jpeg, small_jpeg) = (jpeg(&big, 90), jpeg(&small, 90));
        assert!(
            (20_000..=40_000).contains(&big_jpeg.len()),
            "{}",
            big_jpeg.len()
        );
        assert!(
            (2_000..=4_000).contains(&small_jpeg.len()),
            "{}",
            small_jpeg.len()
        );
        // Ten rows of base64 (4/3 of the bytes) within the card's art budget.
        let per_row = crate::svg::list_card::ART_BUDGET_BYTES / 10 * 3 / 4;
        for (name, original) in [("300 px", &big_jpeg), ("64 px", &small_jpeg)] {
            let decoded = crate::color::decode_cover(original).unwrap();
            let thumb = thumbnail(&decoded, original.len()).expect("a smaller copy");
            assert!(thumb.len() <= per_row, "{name}: {} bytes", thumb.len());
            let back = crate::color::decode_cover(&thumb).unwrap();
            assert_eq!((back.width(), back.height()), (64, 64), "{name}");
        }
    }

    #[test]
    fn the_small_copy_keeps_the_shape_is_never_larger_and_never_drops_transparency() {
        let wide = photo_like(300).crop_imm(0, 0, 300, 150);
        let thumb = thumbnail(&wide, usize::MAX).unwrap();
        let back = crate::color::decode_cover(&thumb).unwrap();
        assert_eq!((back.width(), back.height()), (64, 32));
        // Not scaled up: a 40 px image stays 40 px.
        let little = photo_like(40);
        let back = crate::color::decode_cover(&thumbnail(&little, usize::MAX).unwrap()).unwrap();
        assert_eq!((back.width(), back.height()), (40, 40));
        // Kept only when fewer bytes than the original: a 1 px PNG is smaller than any JPEG.
        let png = base64::engine::general_purpose::STANDARD
            .decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==")
            .unwrap();
        let decoded = crate::color::decode_cover(&png).unwrap();
        assert_eq!(thumbnail(&decoded, png.len()), None);
        // An image with an alpha channel keeps its own file.
        let clear = image::DynamicImage::ImageRgba8(image::RgbaImage::from_pixel(
            200,
            200,
            image::Rgba([255, 0, 0, 0]),
        ));
        assert_eq!(thumbnail(&clear, usize::MAX), None);
    }

    #[test]
    fn a_row_takes_the_small_copy_and_the_card_the_image_itself() {
        let both = Art {
            data_uri: Some("data:image/jpeg;base64,BIG".into()),
            thumb_uri: Some("data:image/jpeg;base64,SMALL".into()),
            colors: None,
        };
        assert_eq!(both.card_uri(), Some("data:image/jpeg;base64,BIG"));
        assert_eq!(both.row_uri(), Some("data:image/jpeg;base64,SMALL"));
        let over_the_limit = Art {
            data_uri: None,
            ..both
        };
        assert_eq!(
            over_the_limit.card_uri(),
            Some("data:image/jpeg;base64,SMALL")
        );
        let small_already = Art {
            data_uri: Some("data:image/png;base64,TINY".into()),
            thumb_uri: None,
            colors: None,
        };
        assert_eq!(small_already.row_uri(), Some("data:image/png;base64,TINY"));
    }
}
