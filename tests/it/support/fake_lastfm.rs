//! A fake Last.fm API (`/2.0/?method=...&format=json`) on 127.0.0.1, scriptable per method: the
//! body (Last.fm's JSON with its quirks), an error code with any HTTP status, garbage, delays.
//! It checks the API key (else error 10) and the user (else error 6) like Last.fm, counts the
//! calls per method and records every query (without the key) for the tests to look at.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use axum::extract::{Query, State};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use serde_json::json;

use super::fake_spotify::Scripted;

pub const API_KEY: &str = "0123456789abcdef0123456789abcdef";
pub const USER: &str = "scrobbler";

/// The methods, as the client sends them.
pub const RECENT: &str = "user.getrecenttracks";
pub const TOP_TRACKS: &str = "user.gettoptracks";
pub const TOP_ARTISTS: &str = "user.gettopartists";
pub const LOVED: &str = "user.getlovedtracks";

struct Inner {
    answers: HashMap<String, Scripted>,
    once: HashMap<String, VecDeque<Scripted>>,
    calls: HashMap<String, u64>,
    /// Every query, the key left out, in order.
    queries: Vec<HashMap<String, String>>,
    /// Whether a request ever came without `format=json` or with another key.
    bad_requests: u64,
    /// A scrobble history served page by page (see [`FakeLastfm::set_scrobbles`]).
    scrobbles: Option<Vec<serde_json::Value>>,
    /// Answers served once each, in order, for a page of the scrobble history.
    page_once: HashMap<u32, VecDeque<Scripted>>,
}

#[derive(Clone)]
pub struct FakeLastfm {
    /// The API root, as `LASTFM_API_BASE_URL` takes it (`http://127.0.0.1:PORT/2.0/`).
    pub base: String,
    inner: Arc<Mutex<Inner>>,
}

impl FakeLastfm {
    pub async fn start() -> FakeLastfm {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind fake last.fm");
        let base = format!("http://{}/2.0/", listener.local_addr().unwrap());
        let mut answers = HashMap::new();
        answers.insert(RECENT.to_string(), Scripted::json(bodies::now_playing()));
        answers.insert(TOP_TRACKS.to_string(), Scripted::json(bodies::top_tracks()));
        answers.insert(
            TOP_ARTISTS.to_string(),
            Scripted::json(bodies::top_artists()),
        );
        answers.insert(LOVED.to_string(), Scripted::json(bodies::loved()));
        let fake = FakeLastfm {
            base,
            inner: Arc::new(Mutex::new(Inner {
                answers,
                once: HashMap::new(),
                calls: HashMap::new(),
                queries: Vec::new(),
                bad_requests: 0,
                scrobbles: None,
                page_once: HashMap::new(),
            })),
        };
        let app = Router::new()
            .route("/2.0/", get(api))
            .route("/2.0", get(api))
            .with_state(fake.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        fake
    }

    /// The answer of `method` from now on.
    pub fn set(&self, method: &str, s: Scripted) {
        let mut i = self.inner.lock().unwrap();
        i.answers.insert(method.to_string(), s);
        i.once.remove(method);
    }

    /// Answers served once each, in order, before the default one.
    pub fn queue(&self, method: &str, s: Scripted) {
        self.inner
            .lock()
            .unwrap()
            .once
            .entry(method.to_string())
            .or_default()
            .push_back(s);
    }

    /// An error body as Last.fm sends it, with `status`.
    pub fn set_error(&self, method: &str, status: u16, code: u32) {
        self.set(method, error(status, code));
    }

    /// Serves `user.getRecentTracks` from `scrobbles` (entries of [`bodies::scrobble`], any
    /// order) as Last.fm does: those with `from <= uts <= to` (both optional, inclusive), newest
    /// first, `limit` a page (default 50, at most 200), `page` from 1, with `@attr.totalPages`.
    pub fn set_scrobbles(&self, scrobbles: Vec<serde_json::Value>) {
        self.inner.lock().unwrap().scrobbles = Some(scrobbles);
    }

    /// An answer served once for `page` of the scrobble history, before the computed one
    /// (queued answers of one page are served in order).
    pub fn queue_page(&self, page: u32, s: Scripted) {
        self.inner
            .lock()
            .unwrap()
            .page_once
            .entry(page)
            .or_default()
            .push_back(s);
    }

    pub fn calls(&self, method: &str) -> u64 {
        *self.inner.lock().unwrap().calls.get(method).unwrap_or(&0)
    }

    pub fn total_calls(&self) -> u64 {
        self.inner.lock().unwrap().calls.values().sum()
    }

    pub fn queries(&self) -> Vec<HashMap<String, String>> {
        self.inner.lock().unwrap().queries.clone()
    }

    pub fn bad_requests(&self) -> u64 {
        self.inner.lock().unwrap().bad_requests
    }
}

/// `{"error": code, "message": ...}` with `status`.
pub fn error(status: u16, code: u32) -> Scripted {
    let message = match code {
        6 => "User not found",
        8 => "Operation failed - Most likely the backend service failed. Please try again.",
        10 => "Invalid API key - You must be granted a valid key by last.fm",
        11 => "Service Offline - This service is temporarily offline. Try again later.",
        16 => "There was a temporary error processing your request. Please try again",
        17 => "Login: User required to be logged in",
        26 => {
            "Suspended API key - Access for your account has been suspended, please contact Last.fm"
        }
        29 => "Rate Limit Exceeded - Your IP has made too many requests in a short period",
        _ => "error",
    };
    Scripted::status_json(
        status,
        json!({"error": code, "message": message, "links": []}),
    )
}

async fn api(
    State(fake): State<FakeLastfm>,
    Query(mut q): Query<HashMap<String, String>>,
) -> Response {
    let method = q
        .get("method")
        .map(|m| m.to_ascii_lowercase())
        .unwrap_or_default();
    let key = q.remove("api_key");
    let scripted = {
        let mut i = fake.inner.lock().unwrap();
        *i.calls.entry(method.clone()).or_default() += 1;
        i.queries.push(q.clone());
        if q.get("format").map(String::as_str) != Some("json") {
            i.bad_requests += 1;
        }
        if key.as_deref() != Some(API_KEY) {
            Some(error(403, 10))
        } else if q.get("user").map(String::as_str) != Some(USER) {
            Some(error(200, 6))
        } else if method == RECENT && i.scrobbles.is_some() {
            let page = q.get("page").and_then(|p| p.parse().ok()).unwrap_or(1u32);
            match i.page_once.get_mut(&page).and_then(VecDeque::pop_front) {
                Some(s) => Some(s),
                None => Some(Scripted::json(history_page(
                    i.scrobbles.as_deref().unwrap_or_default(),
                    &q,
                ))),
            }
        } else {
            match i.once.get_mut(&method).and_then(VecDeque::pop_front) {
                Some(s) => Some(s),
                None => i.answers.get(&method).cloned(),
            }
        }
    };
    let s = scripted.unwrap_or_else(|| error(400, 3));
    super::fake_spotify::respond_scripted(s).await
}

/// One page of a scrobble history, as `user.getRecentTracks` answers it.
fn history_page(all: &[serde_json::Value], q: &HashMap<String, String>) -> serde_json::Value {
    let num = |k: &str| q.get(k).and_then(|v| v.parse::<u64>().ok());
    let uts = |t: &serde_json::Value| {
        t["date"]["uts"]
            .as_str()
            .and_then(|u| u.parse::<u64>().ok())
            .unwrap_or(0)
    };
    let (from, to) = (num("from").unwrap_or(0), num("to").unwrap_or(u64::MAX));
    let limit = num("limit").unwrap_or(50).clamp(1, 200) as usize;
    let page = num("page").unwrap_or(1).max(1) as usize;
    let mut hits: Vec<&serde_json::Value> = all
        .iter()
        .filter(|t| (from..=to).contains(&uts(t)))
        .collect();
    hits.sort_by_key(|t| std::cmp::Reverse(uts(t)));
    let total = hits.len();
    let pages = total.div_ceil(limit);
    let tracks: Vec<&serde_json::Value> = hits
        .into_iter()
        .skip((page - 1) * limit)
        .take(limit)
        .collect();
    json!({"recenttracks": {"track": tracks, "@attr": {
        "user": USER, "page": page.to_string(), "perPage": limit.to_string(),
        "totalPages": pages.to_string(), "total": total.to_string()}}})
}

/// Last.fm's bodies, with its quirks.
pub mod bodies {
    use serde_json::{json, Value};

    pub const PLACEHOLDER: &str =
        "https://lastfm.freetls.fastly.net/i/u/300x300/2a96cbd8b46e442fc41c2b86b821562f.png";
    pub const COVER: &str = "https://lastfm.freetls.fastly.net/i/u/300x300/cover.png";

    pub fn images(url: &str) -> Value {
        json!([
            {"size": "small", "#text": url.replace("300x300", "34s")},
            {"size": "medium", "#text": url.replace("300x300", "64s")},
            {"size": "large", "#text": url.replace("300x300", "174s")},
            {"size": "extralarge", "#text": url}
        ])
    }

    /// A scrobble (`uts` epoch seconds, as a string); `extended=1` style artist.
    pub fn scrobble(name: &str, uts: u64) -> Value {
        json!({
            "artist": {"url": "https://www.last.fm/music/Scroobius", "name": "Scroobius", "image": [], "mbid": ""},
            "mbid": "", "loved": "0", "streamable": "0",
            "album": {"mbid": "", "#text": "Distraction Pieces"},
            "name": name,
            "url": format!("https://www.last.fm/music/Scroobius/_/{}", name.replace(' ', "+")),
            "image": images(COVER),
            "date": {"uts": uts.to_string(), "#text": "18 Nov 2026, 11:06"}
        })
    }

    pub fn playing(name: &str) -> Value {
        let mut t = scrobble(name, 0);
        t.as_object_mut().unwrap().remove("date");
        t["@attr"] = json!({"nowplaying": "true"});
        t
    }

    fn recent(tracks: Value) -> Value {
        json!({"recenttracks": {"track": tracks,
            "@attr": {"user": super::USER, "totalPages": "100", "page": "1", "perPage": "1", "total": "100"}}})
    }

    /// A track playing now, in addition to the newest scrobble.
    pub fn now_playing() -> Value {
        recent(json!([
            playing("Now Song"),
            scrobble("Earlier Song", 1_795_000_000)
        ]))
    }

    /// Only scrobbles (newest first).
    pub fn recent_only() -> Value {
        recent(json!([
            scrobble("Last Song", 1_795_000_000),
            scrobble("Last Song", 1_794_999_700),
            scrobble("Before That", 1_794_999_400)
        ]))
    }

    /// A single scrobble, as an object instead of a list.
    pub fn single_object() -> Value {
        recent(scrobble("Only Song", 1_795_000_000))
    }

    /// A track playing now whose images are the grey star placeholder.
    pub fn placeholder_images() -> Value {
        let mut t = playing("Starred");
        t["image"] = images(PLACEHOLDER);
        recent(json!([t]))
    }

    /// A track playing now without images: empty URLs, or no `image` at all, and no album.
    pub fn missing_images() -> Value {
        let mut t = playing("Bare");
        t["image"] = json!([{"size": "small", "#text": ""}, {"size": "extralarge", "#text": ""}]);
        t["album"] = json!({"mbid": "", "#text": ""});
        recent(json!([t]))
    }

    /// Nothing scrobbled yet.
    pub fn empty() -> Value {
        json!({"recenttracks": {"track": [], "@attr": {"user": super::USER, "total": "0"}}})
    }

    pub fn top_tracks() -> Value {
        json!({"toptracks": {"track": [
            {"name": "Top One", "duration": "215", "playcount": "40", "@attr": {"rank": "1"},
             "artist": {"name": "Scroobius", "url": "https://www.last.fm/music/Scroobius", "mbid": ""},
             "url": "https://www.last.fm/music/Scroobius/_/Top+One", "image": images(PLACEHOLDER)},
            {"name": "Top Two", "duration": "0", "playcount": "30", "@attr": {"rank": "2"},
             "artist": {"name": "Pip", "url": "https://www.last.fm/music/Pip", "mbid": ""},
             "url": "https://www.last.fm/music/Pip/_/Top+Two", "image": images(PLACEHOLDER)}
        ], "@attr": {"user": super::USER, "total": "2"}}})
    }

    pub fn top_artists() -> Value {
        json!({"topartists": {"artist": [
            {"name": "Scroobius", "playcount": "99", "@attr": {"rank": "1"}, "mbid": "",
             "url": "https://www.last.fm/music/Scroobius", "image": images(PLACEHOLDER)},
            {"name": "", "playcount": "1"},
            {"name": "Pip", "playcount": "50", "@attr": {"rank": "2"},
             "url": "https://www.last.fm/music/Pip", "image": images(COVER)}
        ]}})
    }

    pub fn loved() -> Value {
        json!({"lovedtracks": {"track": [
            {"name": "Loved One", "artist": {"name": "Scroobius", "url": "u", "mbid": ""},
             "url": "https://www.last.fm/music/Scroobius/_/Loved+One", "image": images(COVER),
             "date": {"uts": "1794000000", "#text": "07 Nov 2026"}}
        ]}})
    }

    pub fn garbage() -> [&'static str; 5] {
        [
            "<html><body>502 Bad Gateway</body></html>",
            "{\"recenttracks\": {\"track\": [",
            "[1, 2, 3]",
            "\"lfm\"",
            "{\"recenttracks\": \"nope\"}",
        ]
    }
}
