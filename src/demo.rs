//! `nowplaying serve --demo`: a simulated Spotify on a loopback port, reached through the real
//! client code, that moves through every state: playing, paused, an episode, nothing playing
//! (the recently played track) and a local file. It answers in today's development-mode shape
//! (no `show.publisher`, track `popularity`, album `label`, ...). The same server simulates Last.fm's API at
//! `/2.0/` (`--demo --source lastfm`): a scrobble playing now, or only recent ones (paused and
//! nothing playing look alike there).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

/// How long the demo stays in each state.
pub const STATE_SECONDS: u64 = 12;
pub const DEMO_ACCESS_TOKEN: &str = "demo-access-token";
pub const DEMO_REFRESH_TOKEN: &str = "demo-refresh-token";
pub const DEMO_CLIENT_ID: &str = "demo-client";
pub const DEMO_CLIENT_SECRET: &str = "demo-secret";
pub const DEMO_LASTFM_USER: &str = "demo";
pub const DEMO_LASTFM_API_KEY: &str = "demo0000000000000000000000000000";

/// The states, in the order the demo shows them.
pub const STATES: [&str; 5] = ["playing", "paused", "episode", "recent", "local"];

struct Demo {
    started: Instant,
    base: String,
    /// The demo stays this long in each state (at least a millisecond).
    step: Duration,
    /// The art drawn so far, by `NAME-SIDE`.
    art: Mutex<HashMap<String, axum::body::Bytes>>,
}

impl Demo {
    /// Returns the state shown now and how far into it the demo is, in milliseconds (for the
    /// wire's `progress_ms`).
    fn phase(&self) -> (usize, u64) {
        let ms = self.started.elapsed().as_millis() as u64;
        let step = self.step.as_millis() as u64;
        (((ms / step) as usize) % STATES.len(), ms % step)
    }
}

/// Starts the simulated Spotify on 127.0.0.1 and returns its base URL.
pub async fn start() -> std::io::Result<String> {
    start_with_step(Duration::from_secs(STATE_SECONDS)).await
}

/// The same, staying `step` in each state.
pub async fn start_with_step(step: Duration) -> std::io::Result<String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let demo = Arc::new(Demo {
        started: Instant::now(),
        base: base.clone(),
        step: step.max(Duration::from_millis(1)),
        art: Mutex::default(),
    });
    let app = Router::new()
        .route("/api/token", post(token))
        .route("/v1/me/player/currently-playing", get(currently_playing))
        // The player's state is currently-playing's answer with the device (never private here).
        .route("/v1/me/player", get(currently_playing))
        .route("/v1/me/player/recently-played", get(recently_played))
        .route("/v1/me/top/{kind}", get(top))
        .route("/v1/me/tracks", get(saved))
        .route("/v1/me", get(me))
        .route("/v1/me/playlists", get(playlists))
        .route("/art/{name}", get(art))
        .route("/2.0", get(lastfm))
        .route("/2.0/", get(lastfm))
        .with_state(demo);
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok(base)
}

async fn token() -> Json<Value> {
    Json(json!({
        "access_token": DEMO_ACCESS_TOKEN,
        "token_type": "Bearer",
        "expires_in": 3600,
        "scope": "user-read-currently-playing user-read-recently-played user-top-read user-library-read"
    }))
}

fn authorized(headers: &HeaderMap) -> bool {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        == Some(&format!("Bearer {DEMO_ACCESS_TOKEN}"))
}

fn track(
    base: &str,
    id: &str,
    name: &str,
    artists: &[&str],
    album: &str,
    art: &str,
    ms: u64,
) -> Value {
    json!({
        "type": "track", "id": id, "name": name, "duration_ms": ms, "is_local": false,
        "preview_url": null,
        "external_urls": {"spotify": format!("https://open.spotify.com/track/{id}")},
        "artists": artists.iter().map(|a| json!({"name": a})).collect::<Vec<_>>(),
        "album": {"name": album, "images": art_images(base, art)}
    })
}

async fn currently_playing(State(demo): State<Arc<Demo>>, headers: HeaderMap) -> Response {
    if !authorized(&headers) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let (state, elapsed) = demo.phase();
    let base = &demo.base;
    let body = match STATES[state] {
        "playing" => json!({
            "is_playing": true, "progress_ms": 30_000 + elapsed, "currently_playing_type": "track",
            "item": track(base, "4uLU6hMCjMI75M1A2tKUQC", "Simulated Sunrise",
                &["The Loopbacks", "Localhost Trio"], "Demo Sessions", "sunrise", 215_000)
        }),
        "paused" => json!({
            "is_playing": false, "progress_ms": 95_000, "currently_playing_type": "track",
            "item": track(base, "4uLU6hMCjMI75M1A2tKUQC", "Simulated Sunrise",
                &["The Loopbacks", "Localhost Trio"], "Demo Sessions", "sunrise", 215_000)
        }),
        "episode" => json!({
            "is_playing": true, "progress_ms": 600_000 + elapsed, "currently_playing_type": "episode",
            "item": {
                "type": "episode", "id": "512ojhOuo1ktJprKbVcKyQ", "name": "Caching, Leases and Other Stories",
                "duration_ms": 2_400_000,
                "external_urls": {"spotify": "https://open.spotify.com/episode/512ojhOuo1ktJprKbVcKyQ"},
                "images": art_images(base, "podcast"),
                "show": {"name": "The Serverless Hour", "images": []}
            }
        }),
        "recent" => return StatusCode::NO_CONTENT.into_response(),
        _ => json!({
            "is_playing": true, "progress_ms": 12_000 + elapsed, "currently_playing_type": "track",
            "item": {
                "type": "track", "id": null, "name": "bedroom-demo-take-3.mp3", "is_local": true,
                "duration_ms": 184_000, "external_urls": {}, "preview_url": null,
                "artists": [{"name": "Me, Myself"}], "album": {"name": "Local Files", "images": []}
            }
        }),
    };
    Json(body).into_response()
}

/// One demo track: id, title, artists, album, art, duration in ms.
type DemoTrack = (
    &'static str,
    &'static str,
    &'static [&'static str],
    &'static str,
    &'static str,
    u64,
);

/// A few tracks for the history, the top lists and the library.
const CATALOGUE: [DemoTrack; 5] = [
    (
        "0VjIjW4GlUZAMYd2vXMi3b",
        "Yesterday's Deploy",
        &["The Rollbacks"],
        "Green Builds",
        "dusk",
        201_000,
    ),
    (
        "4uLU6hMCjMI75M1A2tKUQC",
        "Simulated Sunrise",
        &["The Loopbacks", "Localhost Trio"],
        "Demo Sessions",
        "sunrise",
        215_000,
    ),
    (
        "1h2ljNfC1PMdrWWtdu9Ooy",
        "Cache Me If You Can",
        &["TTL Five"],
        "Five Seconds",
        "podcast",
        187_000,
    ),
    (
        "6f3SNmvPnzrnzZxuGqjdbx",
        "Lease Expired",
        &["The Rollbacks"],
        "Green Builds",
        "dusk",
        233_000,
    ),
    (
        "2Z8WuEywRWYTKe1NybPQEW",
        "Cold Start",
        &["Localhost Trio"],
        "Demo Sessions",
        "sunrise",
        176_000,
    ),
];

fn catalogue_track(base: &str, i: usize) -> Value {
    let (id, name, artists, album, art, ms) = CATALOGUE[i % CATALOGUE.len()];
    track(base, id, name, artists, album, art, ms)
}

/// `minutes` before now, on a five-minute grid: the same play keeps its time for five minutes,
/// so the demo's history collects each play once (two new ones every five minutes).
fn ago(minutes: i64) -> String {
    let now = time::OffsetDateTime::now_utc();
    let grid = now.unix_timestamp() - now.unix_timestamp().rem_euclid(300);
    (time::OffsetDateTime::from_unix_timestamp(grid).unwrap_or(now)
        - time::Duration::minutes(minutes))
    .format(&time::format_description::well_known::Rfc3339)
    .unwrap_or_default()
}

#[derive(serde::Deserialize)]
struct Limit {
    limit: Option<usize>,
}

async fn recently_played(
    State(demo): State<Arc<Demo>>,
    headers: HeaderMap,
    axum::extract::Query(q): axum::extract::Query<Limit>,
) -> Response {
    if !authorized(&headers) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    // The newest first; the second and third plays are one track played twice in a row.
    let plays = [(0, 7), (1, 11), (1, 15), (2, 19), (3, 24), (4, 30), (0, 36)];
    let items: Vec<Value> = plays
        .iter()
        .take(q.limit.unwrap_or(20).clamp(1, 50))
        .map(|(i, m)| json!({"played_at": ago(*m), "track": catalogue_track(&demo.base, *i)}))
        .collect();
    Json(json!({ "items": items })).into_response()
}

async fn top(
    State(demo): State<Arc<Demo>>,
    headers: HeaderMap,
    Path(kind): Path<String>,
) -> Response {
    if !authorized(&headers) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let items: Vec<Value> = match kind.as_str() {
        "tracks" => (0..CATALOGUE.len())
            .map(|i| catalogue_track(&demo.base, i))
            .collect(),
        "artists" => [
            ("The Rollbacks", "dusk"),
            ("The Loopbacks", "sunrise"),
            ("Localhost Trio", "podcast"),
            ("TTL Five", "sunrise"),
        ]
        .iter()
        .map(|(name, art)| {
            json!({
                "type": "artist", "name": name, "genres": ["demo pop"],
                "external_urls": {"spotify": "https://open.spotify.com/"},
                "images": art_images(&demo.base, art)
            })
        })
        .collect(),
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    Json(json!({ "items": items })).into_response()
}

async fn saved(State(demo): State<Arc<Demo>>, headers: HeaderMap) -> Response {
    if !authorized(&headers) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let items: Vec<Value> = (0..3)
        .map(|i| json!({"added_at": ago(60 * 24 * (i as i64 + 1)), "track": catalogue_track(&demo.base, i + 2)}))
        .collect();
    Json(json!({ "items": items })).into_response()
}

/// The demo owner's Spotify user id (`GET /v1/me`).
const DEMO_USER_ID: &str = "demo-owner";

/// `GET /v1/me`: who signed in.
async fn me(headers: HeaderMap) -> Response {
    if !authorized(&headers) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    Json(json!({"id": DEMO_USER_ID, "display_name": "Demo Owner", "type": "user"})).into_response()
}

/// `GET /v1/me/playlists`: three public playlists of the owner's, one private and one followed
/// (which the service leaves out), on one page.
async fn playlists(State(demo): State<Arc<Demo>>, headers: HeaderMap) -> Response {
    if !authorized(&headers) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let lists = [
        (
            "37i9dQZF1DXdemo0000001",
            "Morning Commit",
            "sunrise",
            true,
            DEMO_USER_ID,
            24,
        ),
        (
            "37i9dQZF1DXdemo0000002",
            "Late Deploys",
            "dusk",
            true,
            DEMO_USER_ID,
            17,
        ),
        (
            "37i9dQZF1DXdemo0000003",
            "Talks & Tapes",
            "podcast",
            true,
            DEMO_USER_ID,
            9,
        ),
        (
            "37i9dQZF1DXdemo0000004",
            "Drafts",
            "dusk",
            false,
            DEMO_USER_ID,
            3,
        ),
        (
            "37i9dQZF1DXdemo0000005",
            "Someone Else's Mix",
            "sunrise",
            true,
            "someone-else",
            50,
        ),
    ];
    let items: Vec<Value> = lists
        .iter()
        .map(|(id, name, art, public, owner, total)| {
            json!({
                "id": id, "name": name, "public": public, "collaborative": false,
                "description": format!("A demo playlist: {name}"),
                "owner": {"id": owner}, "images": art_images(&demo.base, art),
                "external_urls": {"spotify": format!("https://open.spotify.com/playlist/{id}")},
                "items": {"href": "", "total": total}, "type": "playlist"
            })
        })
        .collect();
    Json(json!({"items": items, "next": null, "total": items.len()})).into_response()
}

/// The simulated Last.fm: `user.getRecentTracks` (a track playing now while the Spotify demo
/// plays something, else only scrobbles), `user.getTopTracks`, `user.getTopArtists` and
/// `user.getLovedTracks`, in Last.fm's JSON with its quirks (numbers as strings, `#text`).
async fn lastfm(
    State(demo): State<Arc<Demo>>,
    axum::extract::Query(q): axum::extract::Query<std::collections::HashMap<String, String>>,
) -> Response {
    if q.get("api_key").map(String::as_str) != Some(DEMO_LASTFM_API_KEY) {
        return lastfm_error(
            10,
            "Invalid API key - You must be granted a valid key by last.fm",
        );
    }
    if q.get("user").map(String::as_str) != Some(DEMO_LASTFM_USER) {
        return lastfm_error(6, "User not found");
    }
    let base = &demo.base;
    let body = match q.get("method").map(|m| m.to_ascii_lowercase()).as_deref() {
        Some("user.getrecenttracks") => {
            let limit: usize = q.get("limit").and_then(|l| l.parse().ok()).unwrap_or(50);
            lastfm_recent_tracks(&demo, limit)
        }
        Some("user.gettoptracks") => lastfm_top_tracks(base),
        Some("user.gettopartists") => lastfm_top_artists(base),
        Some("user.getlovedtracks") => lastfm_loved_tracks(base),
        _ => {
            return lastfm_error(
                3,
                "Invalid Method - No method with that name in this package",
            )
        }
    };
    Json(body).into_response()
}

/// Answers with a Last.fm error: `403` with the error's code and message.
fn lastfm_error(code: u32, message: &str) -> Response {
    (
        StatusCode::FORBIDDEN,
        Json(json!({"error": code, "message": message, "links": []})),
    )
        .into_response()
}

/// Lists the catalogue's track `i` as Last.fm shows a scrobble `minutes` ago.
fn lastfm_scrobble(base: &str, i: usize, minutes: i64) -> Value {
    let (_, name, artists, album, art, _) = CATALOGUE[i % CATALOGUE.len()];
    let uts = (time::OffsetDateTime::now_utc() - time::Duration::minutes(minutes)).unix_timestamp();
    json!({
        "artist": {"#text": artists[0], "mbid": ""},
        "album": {"#text": album, "mbid": ""},
        "name": name, "mbid": "", "streamable": "0",
        "url": format!("https://www.last.fm/music/{}/_/{}", artists[0].replace(' ', "+"), name.replace(' ', "+")),
        "image": [
            {"size": "small", "#text": format!("{base}/art/{art}-64.jpg")},
            {"size": "extralarge", "#text": format!("{base}/art/{art}-300.jpg")}
        ],
        "date": {"uts": uts.to_string(), "#text": ""}
    })
}

/// Answers `user.getRecentTracks` with up to `limit` scrobbles, after the track playing now
/// while the Spotify demo plays something.
fn lastfm_recent_tracks(demo: &Demo, limit: usize) -> Value {
    let base = &demo.base;
    let mut tracks: Vec<Value> = [(0, 7), (1, 11), (1, 15), (2, 19), (3, 24), (4, 30), (0, 36)]
        .iter()
        .take(limit.clamp(1, 50))
        .map(|(i, m)| lastfm_scrobble(base, *i, *m))
        .collect();
    let (state, _) = demo.phase();
    if matches!(STATES[state], "playing" | "episode" | "local") {
        let mut now = lastfm_scrobble(base, 1 + state, 0);
        now.as_object_mut().unwrap().remove("date");
        now["@attr"] = json!({"nowplaying": "true"});
        tracks.insert(0, now);
    }
    json!({"recenttracks": {"track": tracks, "@attr": {"user": DEMO_LASTFM_USER, "page": "1", "total": "7"}}})
}

/// Answers `user.getTopTracks` with the whole catalogue, ranked, with durations in seconds.
fn lastfm_top_tracks(base: &str) -> Value {
    json!({"toptracks": {"track": (0..CATALOGUE.len()).map(|i| {
        let mut t = lastfm_scrobble(base, i, 0);
        t.as_object_mut().unwrap().remove("date");
        t["@attr"] = json!({"rank": (i + 1).to_string()});
        t["playcount"] = json!((50 - 7 * i).to_string());
        t["duration"] = json!((CATALOGUE[i].5 / 1000).to_string());
        t
    }).collect::<Vec<_>>()}})
}

/// Answers `user.getTopArtists` with four artists, ranked.
fn lastfm_top_artists(base: &str) -> Value {
    let artists: Vec<Value> = [
        ("The Rollbacks", "dusk"),
        ("The Loopbacks", "sunrise"),
        ("Localhost Trio", "podcast"),
        ("TTL Five", "sunrise"),
    ]
    .iter()
    .enumerate()
    .map(|(i, (name, art))| {
        json!({
            "name": name, "playcount": (40 - 5 * i).to_string(), "@attr": {"rank": (i + 1).to_string()},
            "url": format!("https://www.last.fm/music/{}", name.replace(' ', "+")),
            "image": [{"size": "extralarge", "#text": format!("{base}/art/{art}-300.jpg")}]
        })
    })
    .collect();
    json!({"topartists": {"artist": artists}})
}

/// Answers `user.getLovedTracks` with three tracks loved a day apart, without albums.
fn lastfm_loved_tracks(base: &str) -> Value {
    json!({"lovedtracks": {"track": (0..3).map(|i| {
        let mut t = lastfm_scrobble(base, i + 2, 60 * 24 * (i as i64 + 1));
        t.as_object_mut().unwrap().remove("album");
        t
    }).collect::<Vec<_>>()}})
}

/// The sides Spotify lists its art in, largest first.
const ART_SIDES: [u32; 3] = [640, 300, 64];

/// An item's `images` as Spotify lists them: the demo's art `art` in 640, 300 and 64 px.
fn art_images(base: &str, art: &str) -> Value {
    ART_SIDES
        .iter()
        .map(|side| json!({"url": format!("{base}/art/{art}-{side}.jpg"), "width": side, "height": side}))
        .collect()
}

/// The two colours of the demo's art `art` (the gradient's ends), or `None` for no such art.
fn art_colors(art: &str) -> Option<([u8; 3], [u8; 3])> {
    Some(match art {
        "sunrise" => ([0xff, 0x7e, 0x5f], [0xfe, 0xb4, 0x7b]),
        "podcast" => ([0x45, 0x68, 0xdc], [0xb0, 0x6a, 0xb3]),
        "dusk" => ([0x0f, 0x20, 0x27], [0x2c, 0x53, 0x64]),
        _ => return None,
    })
}

/// Draws the art `art` at `side` px as a JPEG: a diagonal gradient with a pale ring, like a
/// record, so the art filter (JPEG and PNG only) accepts it and `theme=art` has colours to pick.
fn draw_art(art: &str, side: u32) -> Option<Vec<u8>> {
    let (a, b) = art_colors(art)?;
    let c = side as f32 / 2.0;
    let img = image::RgbImage::from_fn(side, side, |x, y| {
        let t = (x + y) as f32 / (2 * side.max(1)) as f32;
        let mut px = [0u8; 3];
        for i in 0..3 {
            px[i] = (f32::from(a[i]) * (1.0 - t) + f32::from(b[i]) * t) as u8;
        }
        let r = ((x as f32 - c).powi(2) + (y as f32 - c).powi(2)).sqrt() / side as f32;
        let light = if (0.215..0.25).contains(&r) {
            0.5
        } else if r < 0.05 {
            0.7
        } else {
            0.0
        };
        image::Rgb(px.map(|v| (f32::from(v) + (255.0 - f32::from(v)) * light) as u8))
    });
    let mut jpeg = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 85)
        .encode_image(&img)
        .ok()?;
    Some(jpeg)
}

/// Album art drawn on the fly (`/art/NAME-SIDE.jpg`, SIDE one of [`ART_SIDES`]), so the demo
/// needs no network; each is drawn once and kept.
async fn art(State(demo): State<Arc<Demo>>, Path(name): Path<String>) -> Response {
    let Some((art, side)) = name
        .strip_suffix(".jpg")
        .and_then(|stem| stem.rsplit_once('-'))
        .and_then(|(art, side)| Some((art, side.parse::<u32>().ok()?)))
        .filter(|(_, side)| ART_SIDES.contains(side))
    else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let key = format!("{art}-{side}");
    let cached = demo
        .art
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(&key)
        .cloned();
    let jpeg = match cached {
        Some(jpeg) => jpeg,
        None => {
            let Some(jpeg) = draw_art(art, side) else {
                return StatusCode::NOT_FOUND.into_response();
            };
            let jpeg = axum::body::Bytes::from(jpeg);
            demo.art
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(key, jpeg.clone());
            jpeg
        }
    };
    (
        [
            (header::CONTENT_TYPE, "image/jpeg"),
            (header::CACHE_CONTROL, "public, max-age=86400"),
        ],
        jpeg,
    )
        .into_response()
}
