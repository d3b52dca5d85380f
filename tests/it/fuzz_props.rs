//! Property tests (fuzzing): arbitrary and mutated Spotify JSON through the wire types
//! and the mapping never panic and always give contract-shaped answers; odd requests through the
//! Router never get a 5xx.
use crate::support;

use axum::body::Body;
use axum::http::{header, HeaderValue, Method, Request, StatusCode, Uri};
use http_body_util::BodyExt;
use nowplaying::clock::Timestamp;
use nowplaying::model::{NowPlaying, Status};
use nowplaying::spotify::{map, wire};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::{json, Map, Value};
use support::*;
use tower::ServiceExt;

const READ_AT: Timestamp = Timestamp::from_millis(1_795_000_000_123);

/// A length as the contract's number of milliseconds.
fn millis(d: std::time::Duration) -> u64 {
    d.as_millis() as u64
}

/// Field names Spotify uses, so arbitrary objects often hit the real fields.
const KEYS: &[&str] = &[
    "is_playing",
    "progress_ms",
    "currently_playing_type",
    "item",
    "type",
    "id",
    "name",
    "is_local",
    "duration_ms",
    "preview_url",
    "external_urls",
    "spotify",
    "artists",
    "album",
    "images",
    "url",
    "width",
    "height",
    "show",
    "publisher",
    "items",
    "track",
    "played_at",
];

fn arb_key() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => proptest::sample::select(KEYS).prop_map(str::to_string),
        1 => ".{0,12}",
    ]
}

fn arb_leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<u64>().prop_map(|n| json!(n)),
        (-1e20f64..1e20).prop_map(|f| json!(f)),
        proptest::sample::select(&["track", "episode", "ad", "unknown", "", " ", "\u{0}"][..])
            .prop_map(|s| json!(s)),
        ".{0,40}".prop_map(Value::String),
    ]
}

/// Any JSON value, nested a few levels, with Spotify's field names most of the time.
fn arb_json() -> impl Strategy<Value = Value> {
    arb_leaf().prop_recursive(6, 96, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((arb_key(), inner), 0..8)
                .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// Real bodies, as the fake Spotify serves them.
fn real_bodies() -> Vec<Value> {
    vec![
        bodies::playing(bodies::track("t1", "Song"), true, 1_000),
        bodies::playing(bodies::track("t2", "Paused song"), false, 250_000),
        bodies::playing(bodies::episode(), true, 60_000),
        bodies::playing(bodies::local_file(), true, 5_000),
        bodies::recent(bodies::track("t3", "Earlier"), "2026-11-23T10:00:00.000Z"),
        bodies::recent(bodies::local_file(), "2026-11-23T10:00:00.000Z"),
        bodies::recent(bodies::episode(), "2026-11-23T10:00:00.000Z"),
    ]
}

#[derive(Debug, Clone)]
enum Mutation {
    Drop,
    Replace(Value),
    Null,
    Huge(usize),
    Nest(usize),
    Dup,
}

fn arb_mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        3 => Just(Mutation::Drop),
        3 => arb_leaf().prop_map(Mutation::Replace),
        1 => arb_json().prop_map(Mutation::Replace),
        2 => Just(Mutation::Null),
        1 => (10_000usize..200_000).prop_map(Mutation::Huge),
        1 => (1usize..100).prop_map(Mutation::Nest),
        1 => Just(Mutation::Dup),
    ]
}

/// Applies a mutation at the node chosen by `path` (each step picks a child by index modulo
/// the number of children; the walk stops at a leaf).
fn mutate(v: &mut Value, path: &[usize], m: &Mutation) {
    let (children, is_obj) = match v {
        Value::Object(o) => (o.len(), true),
        Value::Array(a) => (a.len(), false),
        _ => (0, false),
    };
    if let (Some((&step, rest)), true) = (path.split_first(), children > 0) {
        let i = step % children;
        // Stop here sometimes, so containers get mutated as a whole too.
        if !rest.is_empty() || step % 5 != 0 {
            let child = match v {
                Value::Object(o) => o.values_mut().nth(i),
                Value::Array(a) => a.get_mut(i),
                _ => None,
            };
            if let Some(child) = child {
                if matches!(m, Mutation::Drop)
                    && !matches!(child, Value::Object(_) | Value::Array(_))
                {
                    // Drop the field itself from its parent.
                    match v {
                        Value::Object(o) => {
                            let k = o.keys().nth(i).cloned().unwrap();
                            o.remove(&k);
                        }
                        Value::Array(a) => {
                            a.remove(i);
                        }
                        _ => {}
                    }
                    return;
                }
                return mutate(child, rest, m);
            }
        }
    }
    match m {
        Mutation::Drop if is_obj => {
            if let Value::Object(o) = v {
                if let Some(k) = o.keys().next().cloned() {
                    o.remove(&k);
                }
            }
        }
        Mutation::Drop | Mutation::Null => *v = Value::Null,
        Mutation::Replace(r) => *v = r.clone(),
        Mutation::Huge(n) => *v = Value::String("ÿ".repeat(*n / 2)),
        Mutation::Nest(depth) => {
            let mut inner = v.take();
            for _ in 0..*depth {
                inner = json!([inner]);
            }
            *v = inner;
        }
        Mutation::Dup => {
            if let Value::Array(a) = v {
                let copy = a.clone();
                for _ in 0..50 {
                    a.extend(copy.iter().cloned());
                }
            }
        }
    }
}

fn is_kept_kind(kind: Option<&str>) -> bool {
    matches!(kind, None | Some("track") | Some("episode"))
}

/// What the contract says of every answer object, whatever Spotify sent.
fn check_common(np: &NowPlaying) -> Result<(), TestCaseError> {
    prop_assert!(!np.name.trim().is_empty(), "empty name");
    prop_assert_eq!(np.timestamp, READ_AT);
    prop_assert!(!np.stale);
    prop_assert_eq!(np.is_playing, np.status == Status::Playing);
    for link in [&np.album_image, &np.song_url, &np.track_id, &np.preview_url]
        .into_iter()
        .flatten()
    {
        prop_assert!(!link.trim().is_empty(), "empty link instead of null");
    }
    // The public JSON has every field with its type, and reads back the same.
    let v = serde_json::to_value(np).unwrap();
    let o = v.as_object().unwrap();
    for (k, ok) in [
        ("isPlaying", o["isPlaying"].is_boolean()),
        ("status", o["status"].is_string()),
        ("type", o["type"].is_string()),
        ("name", o["name"].is_string()),
        ("artists", o["artists"].is_string()),
        // null for an untagged local file ("" from Spotify).
        (
            "album",
            o["album"].as_str().is_some_and(|a| !a.trim().is_empty()) || o["album"].is_null(),
        ),
        (
            "albumImage",
            o["albumImage"].is_string() || o["albumImage"].is_null(),
        ),
        (
            "songUrl",
            o["songUrl"].is_string() || o["songUrl"].is_null(),
        ),
        (
            "trackId",
            o["trackId"].is_string() || o["trackId"].is_null(),
        ),
        (
            "previewUrl",
            o["previewUrl"].is_string() || o["previewUrl"].is_null(),
        ),
        (
            "progressMs",
            o["progressMs"].is_u64() || o["progressMs"].is_null(),
        ),
        ("durationMs", o["durationMs"].is_u64()),
        ("source", o["source"] == "spotify"),
        ("timestamp", o["timestamp"].is_u64()),
        (
            "playedAt",
            o["playedAt"].is_string() || o["playedAt"].is_null(),
        ),
        ("stale", o["stale"].is_boolean()),
    ] {
        prop_assert!(ok, "field {} has the wrong type: {}", k, v);
    }
    // `albumImages` only when the source listed images: each with a URL, one of them albumImage.
    match o.get("albumImages") {
        None => prop_assert_eq!(o.len(), 16),
        Some(images) => {
            prop_assert_eq!(o.len(), 17);
            let images = images.as_array().unwrap();
            prop_assert!(
                !images.is_empty(),
                "empty albumImages instead of none: {}",
                v
            );
            for i in images {
                prop_assert!(
                    i["url"].as_str().is_some_and(|u| !u.trim().is_empty()),
                    "image without a URL: {}",
                    v
                );
                for side in ["width", "height"] {
                    prop_assert!(i[side].is_u64() || i[side].is_null(), "{}: {}", side, v);
                }
            }
            prop_assert!(
                images.iter().any(|i| i["url"] == o["albumImage"]),
                "albumImage is one of albumImages: {}",
                v
            );
        }
    }
    let back: NowPlaying = serde_json::from_value(v).unwrap();
    // What the rules look at (`facts`) never goes on the wire.
    let mut wire = np.clone();
    wire.facts = Default::default();
    prop_assert_eq!(&back, &wire);
    Ok(())
}

/// Parses as the Spotify client does (a JSON object, else an upstream failure), maps, checks.
fn check_body(v: &Value) -> Result<(), TestCaseError> {
    let bytes = serde_json::to_vec(v).unwrap();
    check_bytes(&bytes)
}

fn check_bytes(bytes: &[u8]) -> Result<(), TestCaseError> {
    let Ok(value) = serde_json::from_slice::<Value>(bytes) else {
        return Ok(()); // not JSON: the client reports an upstream failure
    };
    if !value.is_object() {
        return Ok(());
    }
    // Any object is accepted: a wrong field never fails the whole answer.
    let cp: wire::CurrentlyPlaying =
        serde_json::from_value(value.clone()).map_err(|e| TestCaseError::fail(e.to_string()))?;
    let rp: wire::RecentlyPlayed =
        serde_json::from_value(value).map_err(|e| TestCaseError::fail(e.to_string()))?;

    let local = cp.item.as_ref().map(|i| i.is_local);
    let shown = cp
        .item
        .as_ref()
        .is_some_and(|i| is_kept_kind(i.kind.as_deref()));
    let is_playing = cp.is_playing;
    let progress_in = cp.progress_ms;
    match map::current(cp, READ_AT) {
        None => prop_assert!(!shown, "an item to show was dropped"),
        Some(np) => {
            prop_assert!(shown);
            check_common(&np)?;
            prop_assert_eq!(np.is_playing, is_playing);
            prop_assert_eq!(
                np.status,
                if is_playing {
                    Status::Playing
                } else {
                    Status::Paused
                }
            );
            let progress = np.progress.map(millis).expect("current has a position");
            let duration = np
                .duration
                .map(millis)
                .expect("Spotify answers always carry a duration");
            if duration > 0 {
                prop_assert!(progress <= duration, "progress past the end");
            }
            if progress_in.is_none() {
                prop_assert_eq!(progress, 0);
            }
            prop_assert!(np.played_at.is_none());
            if local == Some(true) {
                prop_assert!(np.song_url.is_none() && np.track_id.is_none());
                prop_assert!(np.album_image.is_none());
            }
        }
    }

    let locals: Vec<bool> = rp
        .items
        .iter()
        .filter_map(|h| h.track.as_ref())
        .filter(|t| is_kept_kind(t.kind.as_deref()))
        .map(|t| t.is_local)
        .collect();
    let recent = map::recent(rp, READ_AT);
    prop_assert_eq!(recent.len(), locals.len());
    for (np, local) in recent.iter().zip(locals) {
        check_common(np)?;
        prop_assert_eq!(np.status, Status::Recent);
        prop_assert!(!np.is_playing);
        prop_assert!(np.progress.is_none());
        if local {
            prop_assert!(np.song_url.is_none() && np.track_id.is_none());
            prop_assert!(np.album_image.is_none());
        }
    }
    Ok(())
}

fn config(cases: u32) -> Config {
    Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    }
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn arbitrary_json_maps_to_the_contract(v in arb_json()) {
        check_body(&v)?;
        // The same value in the shapes the endpoints wrap it in.
        check_body(&json!({"is_playing": true, "item": v.clone()}))?;
        check_body(&json!({"items": [{"track": v.clone(), "played_at": "x"}]}))?;
        check_body(&json!({"items": v}))?;
    }

    #[test]
    fn mutated_real_bodies_map_to_the_contract(
        which in 0usize..7,
        edits in prop::collection::vec(
            (prop::collection::vec(any::<usize>(), 0..6), arb_mutation()), 1..5),
    ) {
        let mut v = real_bodies().swap_remove(which);
        for (path, m) in &edits {
            mutate(&mut v, path, m);
        }
        check_body(&v)?;
    }

    #[test]
    fn truncated_and_corrupted_bytes_never_panic(
        which in 0usize..7,
        cut in any::<prop::sample::Index>(),
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..4),
    ) {
        let mut bytes = serde_json::to_vec(&real_bodies()[which]).unwrap();
        for (at, b) in flips {
            let i = at.index(bytes.len());
            bytes[i] = b;
        }
        bytes.truncate(cut.index(bytes.len() + 1));
        check_bytes(&bytes)?;
    }
}

#[test]
fn real_bodies_map_to_the_contract() {
    for v in real_bodies() {
        check_body(&v).unwrap();
    }
}

#[test]
fn very_deep_json_is_refused_not_a_crash() {
    let depth = 100_000;
    let text = format!("{{\"item\":{}1{}}}", "[".repeat(depth), "]".repeat(depth));
    check_bytes(text.as_bytes()).unwrap();
}

// --- The HTTP surface ------------------------------------------------------------------------

#[derive(Debug, Clone)]
struct OddRequest {
    method: String,
    path: String,
    query: Option<String>,
    if_none_match: Option<Vec<u8>>,
    origin: Option<Vec<u8>>,
    extra: Vec<(String, Vec<u8>)>,
}

/// Percent-encodes everything outside the unreserved set and `/`.
fn encode_path(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn arb_method() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => Just("GET".to_string()),
        1 => Just("HEAD".to_string()),
        1 => Just("OPTIONS".to_string()),
        2 => proptest::sample::select(
            &["POST", "PUT", "DELETE", "PATCH", "TRACE", "CONNECT", "PROPFIND", "get", "M-SEARCH"][..]
        ).prop_map(str::to_string),
        1 => "[A-Za-z0-9!#$%&'*+.^_|~-]{1,24}",
    ]
}

fn arb_path() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => Just("/api/spotify".to_string()),
        1 => proptest::sample::select(&[
            "/", "/api", "/api/", "/api/spotify/", "/API/SPOTIFY", "/api//spotify", "//api/spotify",
            "/api/spotify/..", "/api/%73potify", "/api/spotify%00", "/%zz", "/%", "/%ff%fe",
            "/api/spotify/%2e%2e", "/favicon.ico", "/_admin/stats",
        ][..]).prop_map(str::to_string),
        2 => prop::collection::vec(".{0,16}", 0..6)
            .prop_map(|segs| format!("/{}", encode_path(&segs.join("/")))),
        1 => (1usize..20_000).prop_map(|n| format!("/{}", "a".repeat(n))),
        1 => (1usize..3_000).prop_map(|n| format!("/api/spotify/{}", "%F0%9F%8E%B5".repeat(n))),
    ]
}

fn arb_query() -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        3 => Just(None),
        1 => proptest::sample::select(&[
            "", "&&==", "a=%zz", "a", "=", "limit=-1", "limit=99999999999999999999", "%00=%00",
            "callback=alert(1)", "a=1&a=2&a=3",
        ][..]).prop_map(|s| Some(s.to_string())),
        2 => prop::collection::vec((".{0,12}", ".{0,24}"), 0..5).prop_map(|kv| Some(
            kv.into_iter()
                .map(|(k, v)| format!("{}={}", encode_path(&k), encode_path(&v)))
                .collect::<Vec<_>>()
                .join("&"),
        )),
        1 => (1usize..20_000).prop_map(|n| Some(format!("q={}", "x".repeat(n)))),
    ]
}

/// Bytes a header value may carry (visible ASCII, space, tab, obs-text).
fn arb_header_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(
            prop_oneof![
                0x20u8..0x7f,
                0x80u8..=0xff,
                Just(b'\t'),
                Just(b'"'),
                Just(b',')
            ],
            0..64,
        ),
        proptest::sample::select(
            &[
                "*",
                "W/\"x\"",
                "\"\"",
                ",,,",
                "W/",
                "\"unterminated",
                "null",
                "https://evil.example",
                "http://localhost:3000",
                "null, *",
            ][..]
        )
        .prop_map(|s| s.as_bytes().to_vec()),
        (1usize..8_000).prop_map(|n| vec![b'W'; n]),
    ]
}

fn arb_request() -> impl Strategy<Value = OddRequest> {
    (
        arb_method(),
        arb_path(),
        arb_query(),
        prop::option::of(arb_header_bytes()),
        prop::option::of(arb_header_bytes()),
        prop::collection::vec(
            (
                proptest::sample::select(
                    &[
                        "accept",
                        "access-control-request-method",
                        "access-control-request-headers",
                        "content-type",
                        "x-forwarded-for",
                        "cookie",
                        "range",
                    ][..],
                )
                .prop_map(str::to_string),
                arb_header_bytes(),
            ),
            0..3,
        ),
    )
        .prop_map(
            |(method, path, query, if_none_match, origin, extra)| OddRequest {
                method,
                path,
                query,
                if_none_match,
                origin,
                extra,
            },
        )
}

async fn send(app: &TestApp, r: &OddRequest) -> Result<(), TestCaseError> {
    let Ok(method) = Method::from_bytes(r.method.as_bytes()) else {
        return Ok(());
    };
    let target = match &r.query {
        Some(q) => format!("{}?{q}", r.path),
        None => r.path.clone(),
    };
    let Ok(uri) = target.parse::<Uri>() else {
        return Ok(()); // hyper would refuse it before the Router
    };
    let mut req = Request::builder().method(method.clone()).uri(uri.clone());
    let headers = req.headers_mut().unwrap();
    let mut put = |name: &str, bytes: &[u8]| {
        if let Ok(v) = HeaderValue::from_bytes(bytes) {
            headers.append(header::HeaderName::from_bytes(name.as_bytes()).unwrap(), v);
        }
    };
    if let Some(v) = &r.if_none_match {
        put("if-none-match", v);
    }
    if let Some(v) = &r.origin {
        put("origin", v);
    }
    for (k, v) in &r.extra {
        put(k, v);
    }
    let req = req.body(Body::empty()).unwrap();
    let resp = nowplaying::http::router(app.app.clone())
        .oneshot(req)
        .await
        .unwrap();
    let status = resp.status();
    let content_type = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = resp.into_body().collect().await.unwrap().to_bytes();

    prop_assert!(!status.is_server_error(), "{} for {:?}", status, r);
    // HEAD answers carry no body (RFC 9110), whatever the status.
    if method == Method::HEAD {
        prop_assert!(body.is_empty());
    } else if status == StatusCode::NOT_FOUND || status == StatusCode::METHOD_NOT_ALLOWED {
        prop_assert_eq!(content_type.as_deref(), Some("application/json"));
        let v: Value = serde_json::from_slice(&body).map_err(|e| {
            TestCaseError::fail(format!("{status} body is not JSON ({e}) for {r:?}"))
        })?;
        prop_assert!(v["error"].is_string());
    }
    if uri.path() == "/api/spotify" {
        if method == Method::GET || method == Method::HEAD {
            prop_assert!(
                status == StatusCode::OK || status == StatusCode::NOT_MODIFIED,
                "{} for {:?}",
                status,
                r
            );
            if status == StatusCode::OK && method == Method::GET {
                let v: Value = serde_json::from_slice(&body).unwrap();
                prop_assert!(v.is_object() || v.is_null());
            } else {
                prop_assert!(body.is_empty());
            }
        } else if method == Method::OPTIONS {
            prop_assert_eq!(status, StatusCode::NO_CONTENT);
        } else {
            prop_assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
        }
    }
    Ok(())
}

fn http_fuzz(extra: &[(&str, &str)], cases: u32) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let app = rt.block_on(async {
        let app = TestApp::start(extra).await;
        app.fake.set_current(Scripted::json(bodies::playing(
            bodies::track("t1", "Song"),
            true,
            10,
        )));
        app
    });
    let mut runner = TestRunner::new(config(cases));
    let result = runner.run(&arb_request(), |r| rt.block_on(send(&app, &r)));
    if let Err(e) = result {
        panic!("{e}");
    }
}

#[test]
fn odd_requests_never_get_a_5xx() {
    http_fuzz(&[], 256);
}

#[test]
fn odd_requests_with_an_origin_list_and_no_cache() {
    http_fuzz(
        &[
            (
                "ALLOWED_ORIGINS",
                "https://me.example,http://localhost:3000",
            ),
            ("CACHE_TTL_SECONDS", "0"),
        ],
        128,
    );
}

// --- Fields development-mode apps no longer receive ------------------------------------------

/// What becomes of one removed field in an answer.
#[derive(Debug, Clone)]
enum Removed {
    Absent,
    Null,
    /// Any value: the old one's type or not.
    Value(Value),
}

fn arb_removed() -> impl Strategy<Value = Removed> {
    prop_oneof![
        1 => Just(Removed::Absent),
        1 => Just(Removed::Null),
        1 => arb_leaf().prop_map(Removed::Value),
        1 => arb_json().prop_map(Removed::Value),
    ]
}

/// The answers of every endpoint the service reads, in today's development-mode shape.
fn dev_mode_answers() -> Vec<Value> {
    let at = "2026-11-23T10:00:00.000Z";
    vec![
        bodies::playing(bodies::track("t1", "Song"), true, 1_000),
        bodies::playing(bodies::episode(), true, 60_000),
        bodies::history(&[
            (bodies::track("t2", "Earlier"), at),
            (bodies::episode(), at),
        ]),
        bodies::page(vec![
            bodies::track("t3", "Top"),
            bodies::track("t4", "Next"),
        ]),
        bodies::page(vec![
            bodies::artist("a1", "One"),
            bodies::artist("a2", "Two"),
        ]),
        bodies::saved(&[(bodies::track("t5", "Saved"), at)]),
    ]
}

/// The public JSON the service makes of answer `which`.
fn mapped(which: usize, v: &Value) -> Value {
    fn j<T: serde::de::DeserializeOwned>(v: &Value) -> T {
        serde_json::from_value(v.clone()).expect("a lenient wire type parses any object")
    }
    let out = match which {
        0 | 1 => serde_json::to_value(map::current(j(v), READ_AT)),
        2 => serde_json::to_value(map::recent(j(v), READ_AT)),
        3 => serde_json::to_value(map::top_tracks(j(v), READ_AT)),
        4 => serde_json::to_value(map::top_artists(j(v))),
        _ => serde_json::to_value(map::saved(j(v), READ_AT)),
    };
    out.unwrap()
}

fn set(o: &mut Map<String, Value>, field: &str, change: &Removed) {
    match change {
        Removed::Absent => {
            o.remove(field);
        }
        Removed::Null => {
            o.insert(field.into(), Value::Null);
        }
        Removed::Value(x) => {
            o.insert(field.into(), x.clone());
        }
    }
}

/// Applies `changes` (one per [`bodies::REMOVED_FIELDS`]) to every track, episode, album,
/// artist and show in `v`.
fn apply_removed(v: &mut Value, changes: &[Removed]) {
    match v {
        Value::Array(a) => a.iter_mut().for_each(|x| apply_removed(x, changes)),
        Value::Object(o) => {
            let kind = o.get("type").and_then(Value::as_str).map(str::to_string);
            let on = |part: &str, o: &mut Map<String, Value>| {
                for ((p, field), change) in bodies::REMOVED_FIELDS.iter().zip(changes) {
                    if *p == part {
                        set(o, field, change);
                    }
                }
            };
            match kind.as_deref() {
                Some("track") | Some("episode") => {
                    on("item", o);
                    if let Some(Value::Object(album)) = o.get_mut("album") {
                        on("album", album);
                    }
                    if let Some(Value::Object(show)) = o.get_mut("show") {
                        on("show", show);
                    }
                    if let Some(Value::Array(artists)) = o.get_mut("artists") {
                        for a in artists.iter_mut().filter_map(Value::as_object_mut) {
                            on("artist", a);
                        }
                    }
                }
                Some("artist") => on("artist", o),
                _ => o.values_mut().for_each(|x| apply_removed(x, changes)),
            }
        }
        _ => {}
    }
}

/// What an episode's `artists` must be: a non-blank publisher string, else the show's name.
fn expected_by(publisher: &Removed) -> Option<String> {
    match publisher {
        Removed::Value(Value::String(p)) if !p.trim().is_empty() => Some(p.clone()),
        _ => None,
    }
}

/// Sets `artists` of every episode in a mapped answer.
fn with_episode_artists(v: &mut Value, by: &str) {
    match v {
        Value::Array(a) => a.iter_mut().for_each(|x| with_episode_artists(x, by)),
        Value::Object(o) if o.get("type") == Some(&json!("episode")) => {
            o.insert("artists".into(), json!(by));
        }
        Value::Object(o) => o.values_mut().for_each(|x| with_episode_artists(x, by)),
        _ => {}
    }
}

proptest! {
    #![proptest_config(config(256))]

    /// Any of the fields development-mode apps lost may be absent, null or of any type: the
    /// answer is the one today's shape gives, field for field; only a real publisher (a
    /// non-blank string) changes an episode's `artists`, from the show's name to it.
    #[test]
    fn removed_fields_change_nothing_else(
        which in 0usize..6,
        changes in prop::collection::vec(arb_removed(), bodies::REMOVED_FIELDS.len()),
    ) {
        let base = dev_mode_answers().swap_remove(which);
        let mut expected = mapped(which, &base);
        let publisher = &changes[bodies::REMOVED_FIELDS.len() - 1];
        if let Some(by) = expected_by(publisher) {
            with_episode_artists(&mut expected, &by);
        }
        let mut changed = base.clone();
        apply_removed(&mut changed, &changes);
        prop_assert_eq!(mapped(which, &changed), expected);
    }
}

/// The table: each removed field alone, absent, null and of each unexpected type, in every
/// answer, against today's shape; and the older, fuller shape ([`bodies::full`]).
#[test]
fn removed_fields_one_by_one() {
    let odd = [
        Removed::Absent,
        Removed::Null,
        Removed::Value(json!("")),
        Removed::Value(json!("a string")),
        Removed::Value(json!(-1)),
        Removed::Value(json!(1.5)),
        Removed::Value(json!(true)),
        Removed::Value(json!([1, "x", null])),
        Removed::Value(json!({"total": "many"})),
    ];
    let mut checked = 0;
    for (which, base) in dev_mode_answers().into_iter().enumerate() {
        let today = mapped(which, &base);
        assert_ne!(today, Value::Null, "answer {which} maps to something");
        for (i, (part, field)) in bodies::REMOVED_FIELDS.iter().enumerate() {
            for change in &odd {
                let mut changes = vec![Removed::Absent; bodies::REMOVED_FIELDS.len()];
                changes[i] = change.clone();
                let mut v = base.clone();
                apply_removed(&mut v, &changes);
                let mut expected = today.clone();
                if *field == "publisher" {
                    if let Some(by) = expected_by(change) {
                        with_episode_artists(&mut expected, &by);
                    }
                }
                assert_eq!(
                    mapped(which, &v),
                    expected,
                    "answer {which}, {part}.{field} = {change:?}"
                );
                checked += 1;
            }
        }
    }
    assert_eq!(checked, 6 * 7 * 9);
    // The older, fuller shape: the same answer, but an episode is by its publisher.
    let full = bodies::playing(bodies::full(bodies::episode()), true, 60_000);
    let mut expected = mapped(1, &dev_mode_answers()[1]);
    assert_eq!(expected["artists"], "The Show");
    expected["artists"] = json!("The Publisher");
    assert_eq!(mapped(1, &full), expected);
    let track = bodies::full(bodies::track("t1", "Song"));
    assert_eq!(track["popularity"], 63);
    assert_eq!(
        mapped(0, &bodies::playing(track, true, 1_000)),
        mapped(0, &dev_mode_answers()[0])
    );
}
