//! The card parameters (`bg`, `text`, `accent`, `radius`, `width`, `hide_art`, `hide_progress`,
//! `hide_source`, `transparent`, `idle_text`, `theme`) on every card (now playing, idle, the
//! recent plays, top tracks and top artists, each list with art of Spotify's real weight),
//! through the HTTP surface:
//! every parameter alone and random combinations keep the card well-formed, self-contained,
//! escaped and small, with an `ETag` that follows the parameters; a bad one is a `400` SVG error
//! card; `theme=art` draws with the cover's own colours and keeps the text readable.
use crate::support;

use std::collections::BTreeMap;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::{json, Value};
use support::*;

/// The three cards the parameters are tried on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Card {
    /// `/api/spotify.svg` while a track with the fake's covers plays.
    Playing,
    /// `/api/spotify.svg` with nothing to show.
    Idle,
    /// `/api/spotify/top.svg` (tracks, with covers).
    Top,
    /// `/api/spotify/top.svg?kind=artists` (with images).
    TopArtists,
    /// `/api/spotify/recent.svg` (with covers).
    Recent,
    /// `/api/spotify/playlists.svg` (with covers).
    Playlists,
}

const CARDS: [Card; 6] = [
    Card::Playing,
    Card::Idle,
    Card::Top,
    Card::TopArtists,
    Card::Recent,
    Card::Playlists,
];

/// The list cards, which draw a row per entry with its art.
const LISTS: [Card; 4] = [Card::Top, Card::TopArtists, Card::Recent, Card::Playlists];

/// Names that must come through as text: markup characters, and a long unicode one.
fn hostile_name(i: usize) -> String {
    match i {
        0 => "<script>alert(1)</script> & \"co\" 'x'".to_string(),
        1 => "long title ".repeat(30),
        2 => "أغنية طويلة جدا 🎶 日本語のとても長い曲名 ".repeat(6),
        n => format!("Song {n} <b>&amp;</b>"),
    }
}

/// One app playing a track with covers (and the top list on), one with nothing to show.
struct Apps {
    playing: TestApp,
    idle: TestApp,
}

impl Apps {
    async fn start() -> Apps {
        let playing = TestApp::start(&[("PROFILE_ENDPOINTS", "top,playlists")]).await;
        playing.fake.grant_scopes(
            "user-read-currently-playing user-read-recently-played playlist-read-private",
        );
        let track = bodies::track_with_covers(&playing.fake.base, "prop", "t1", "Card Song");
        playing
            .fake
            .set_current(Scripted::json(bodies::playing(track, true, 60_000)));
        let base = playing.fake.base.clone();
        let covered = |i: usize| {
            bodies::track_with_covers(&base, &format!("c{i}"), &format!("t{i}"), &hostile_name(i))
        };
        playing.fake.set_path(
            "/v1/me/top/tracks",
            Scripted::json(bodies::page((0..10).map(covered).collect())),
        );
        let artists = (0..10)
            .map(|i| {
                let mut a = bodies::artist(&format!("a{i}"), &hostile_name(i));
                a["genres"] = json!(["<i>trip hop</i>", "électronique"]);
                a["images"] = json!([640, 300, 64].map(|side| json!({
                    "url": format!("{base}/img/a{i}-{side}.jpg"), "width": side, "height": side
                })));
                a
            })
            .collect();
        playing
            .fake
            .set_path("/v1/me/top/artists", Scripted::json(bodies::page(artists)));
        // Played 30 s, 5 min, 3 h, 2 d, ... before the test clock's start.
        let ago_secs = [
            30,
            300,
            3 * 3600,
            2 * 86_400,
            3 * 86_400,
            4 * 86_400,
            5 * 86_400,
        ];
        let plays: Vec<(Value, String)> = (0..10)
            .map(|i| {
                let secs = ago_secs.get(i).copied().unwrap_or(6 * 86_400 + i as u64);
                let at = time::OffsetDateTime::from_unix_timestamp(
                    (T0.as_millis() / 1000 - secs) as i64,
                )
                .unwrap()
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap();
                (covered(i), at)
            })
            .collect();
        let plays: Vec<(Value, &str)> = plays
            .iter()
            .map(|(t, at)| (t.clone(), at.as_str()))
            .collect();
        playing
            .fake
            .set_recent(Scripted::json(bodies::history(&plays)));
        let covers = |art: &str| {
            [640, 300, 64].map(|side| {
                json!({"url": format!("{base}/img/{art}-{side}.jpg"), "width": side, "height": side})
            })
        };
        let lists: Vec<Value> = (0..10)
            .map(|i| {
                json!({
                    "id": format!("pl{i}"), "name": hostile_name(i), "public": true,
                    "collaborative": false, "owner": {"id": support::fake_spotify::OWNER_ID},
                    "description": "<b>bold</b> &amp; more",
                    "images": covers(&format!("p{i}")),
                    "external_urls": {"spotify": format!("https://open.spotify.com/playlist/pl{i}")},
                    "items": {"href": "", "total": i * 7 + 1}
                })
            })
            .collect();
        playing.fake.set_path(
            "/v1/me/playlists",
            Scripted::json(json!({"items": lists, "next": null})),
        );
        let idle = TestApp::start(&[("SHOW_RECENT", "false")]).await;
        idle.fake.set_current(Scripted::status(204));
        Apps { playing, idle }
    }

    fn app(&self, card: Card) -> &TestApp {
        match card {
            Card::Idle => &self.idle,
            Card::Playing | Card::Top | Card::TopArtists | Card::Recent | Card::Playlists => {
                &self.playing
            }
        }
    }
}

fn path(card: Card) -> &'static str {
    match card {
        Card::Playing | Card::Idle => "/api/spotify.svg",
        Card::Top => "/api/spotify/top.svg",
        Card::TopArtists => "/api/spotify/top.svg?kind=artists",
        Card::Recent => "/api/spotify/recent.svg",
        Card::Playlists => "/api/spotify/playlists.svg",
    }
}

/// The card's path with `query` (the card parameters) after its own.
fn with_query(card: Card, query: &str) -> String {
    let sep = if path(card).contains('?') { '&' } else { '?' };
    format!("{}{sep}{query}", path(card))
}

fn query(pairs: &[(String, String)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

/// A card's answer: status, ETag and body.
async fn fetch(apps: &Apps, card: Card, pairs: &[(String, String)]) -> (u16, String, String) {
    let r = apps.app(card).get(&with_query(card, &query(pairs))).await;
    let status = r.status().as_u16();
    let etag = r
        .headers()
        .get("etag")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    (status, etag, r.text().await.unwrap())
}

/// What every card must be: well-formed XML, no script, nothing it refers to outside itself
/// (every `href` a `data:image/` URI, every `url(` a fragment), and under 40 KB.
fn check_card(svg: &str) -> Result<(), TestCaseError> {
    check_card_within(svg, 40_000)
}

/// [`check_card`] with another size bound.
fn check_card_within(svg: &str, max_bytes: usize) -> Result<(), TestCaseError> {
    let doc = roxmltree::Document::parse(svg)
        .map_err(|e| TestCaseError::fail(format!("not well-formed XML ({e}): {svg}")))?;
    prop_assert!(!svg.to_ascii_lowercase().contains("<script"), "{}", svg);
    for node in doc.descendants().filter(|n| n.is_element()) {
        let tag = node.tag_name().name().to_ascii_lowercase();
        prop_assert!(
            !matches!(
                tag.as_str(),
                "script" | "foreignobject" | "iframe" | "use" | "a"
            ),
            "<{}> in {}",
            tag,
            svg
        );
        for a in node.attributes() {
            if a.name() == "href" {
                prop_assert!(a.value().starts_with("data:image/"), "href {}", a.value());
            }
            if a.value().contains("url(") {
                prop_assert!(a.value().starts_with("url(#"), "{}={}", a.name(), a.value());
            }
            prop_assert!(!a.name().starts_with("on"), "event handler {}", a.name());
        }
    }
    // Nor in a style sheet: every url( is a fragment, nothing is imported.
    for (i, _) in svg.match_indices("url(") {
        prop_assert!(
            svg[i..].starts_with("url(#"),
            "{}",
            &svg[i..(i + 40).min(svg.len())]
        );
    }
    prop_assert!(!svg.contains("@import"), "{}", svg);
    prop_assert!(svg.len() < max_bytes, "{} bytes", svg.len());
    Ok(())
}

/// The list's names arrive as text, never as markup: the first row's (markup characters) in
/// the accessible title, whole, and every drawn line a single text node.
fn check_names_are_text(svg: &str) -> Result<(), TestCaseError> {
    let doc = roxmltree::Document::parse(svg).unwrap();
    let title = doc
        .descendants()
        .find(|n| n.has_tag_name("title"))
        .and_then(|n| n.text())
        .unwrap_or_default();
    prop_assert!(title.contains(&hostile_name(0)), "{}", title);
    for t in doc.descendants().filter(|n| n.has_tag_name("text")) {
        prop_assert!(
            t.children().all(|c| c.is_text()),
            "markup inside a text: {}",
            svg
        );
    }
    prop_assert!(!doc
        .descendants()
        .any(|n| n.has_tag_name("b") || n.has_tag_name("i")));
    Ok(())
}

/// The values tried for each parameter: every one is valid.
fn arb_value(name: &'static str) -> BoxedStrategy<String> {
    match name {
        "theme" => prop::sample::select(&["light", "dark", "art", "DARK"][..])
            .prop_map(str::to_string)
            .boxed(),
        "bg" | "text" | "accent" => (
            prop::sample::select(&["", "#"][..]),
            prop_oneof!["[0-9a-fA-F]{3}", "[0-9a-fA-F]{6}"],
        )
            .prop_map(|(hash, hex)| format!("{hash}{hex}"))
            .boxed(),
        "radius" => (0u32..=30).prop_map(|n| n.to_string()).boxed(),
        "width" => (300u32..=600).prop_map(|n| n.to_string()).boxed(),
        "idle_text" => "[a-z<&é]([a-zA-Z0-9<>&\"' é🎵]{0,58}[a-z<&'])?".boxed(),
        _ => prop::sample::select(&["true", "false", "1", "0"][..])
            .prop_map(str::to_string)
            .boxed(),
    }
}

const NAMES: [&str; 11] = [
    "theme",
    "bg",
    "text",
    "accent",
    "radius",
    "width",
    "hide_art",
    "hide_progress",
    "hide_source",
    "transparent",
    "idle_text",
];

/// A random set of card parameters, each at most once.
fn arb_params() -> impl Strategy<Value = BTreeMap<String, String>> {
    prop::collection::vec(
        prop::sample::select(&NAMES[..]).prop_flat_map(|n| (Just(n.to_string()), arb_value(n))),
        0..8,
    )
    .prop_map(|pairs| pairs.into_iter().collect())
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// Every card with `params` (and again in the reverse order, and with `other`): a checked card,
/// the same ETag for the same parameters, another for other parameters, `304` for its own.
async fn one_case(
    apps: &Apps,
    params: &BTreeMap<String, String>,
    other: &BTreeMap<String, String>,
) -> Result<(), TestCaseError> {
    let pairs: Vec<(String, String)> = params.clone().into_iter().collect();
    let reversed: Vec<(String, String)> = pairs.iter().rev().cloned().collect();
    let other_pairs: Vec<(String, String)> = other.clone().into_iter().collect();
    for card in CARDS {
        let (status, etag, svg) = fetch(apps, card, &pairs).await;
        prop_assert_eq!(status, 200, "{:?} {:?}: {}", card, pairs, svg);
        check_card(&svg)?;
        let hide_art = matches!(
            params.get("hide_art").map(String::as_str),
            Some("true" | "1")
        );
        if card == Card::Playing || LISTS.contains(&card) {
            prop_assert_eq!(svg.contains("<image"), !hide_art, "art embedded: {}", svg);
        }
        if LISTS.contains(&card) {
            check_names_are_text(&svg)?;
        }
        prop_assert!(!etag.is_empty());
        let (_, again, svg_again) = fetch(apps, card, &reversed).await;
        prop_assert_eq!(&svg_again, &svg, "same answer, same parameters, same card");
        prop_assert_eq!(&again, &etag, "same parameters, same ETag");
        let (_, other_etag, _) = fetch(apps, card, &other_pairs).await;
        if other != params {
            prop_assert_ne!(&other_etag, &etag, "{:?} vs {:?}", params, other);
        }
        let r = apps
            .app(card)
            .http
            .get(format!(
                "{}{}",
                apps.app(card).url,
                with_query(card, &query(&pairs))
            ))
            .header("if-none-match", &etag)
            .send()
            .await
            .unwrap();
        prop_assert_eq!(r.status().as_u16(), 304);
    }
    Ok(())
}

#[test]
fn random_parameter_combinations_keep_every_card_safe_and_its_etag_right() {
    let rt = runtime();
    let apps = rt.block_on(Apps::start());
    let mut runner = TestRunner::new(Config {
        cases: 48,
        failure_persistence: None,
        ..Config::default()
    });
    let result = runner.run(&(arb_params(), arb_params()), |(params, other)| {
        rt.block_on(async {
            tokio::time::timeout(
                std::time::Duration::from_secs(20),
                one_case(&apps, &params, &other),
            )
            .await
            .map_err(|_| TestCaseError::fail("one case took over 20 s"))?
        })
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}

/// The attribute `attr` of the first element named `tag` with class `class` (any when empty).
fn attr(svg: &str, tag: &str, class: &str, attr: &str) -> Option<String> {
    let doc = roxmltree::Document::parse(svg).unwrap();
    doc.descendants()
        .find(|n| n.has_tag_name(tag) && (class.is_empty() || n.attribute("class") == Some(class)))
        .and_then(|n| n.attribute(attr).map(str::to_string))
}

/// Every parameter alone, with a few values each, on every card: checked, and doing what it says.
#[tokio::test]
async fn every_parameter_alone_does_what_it_says() {
    let apps = Apps::start().await;
    let one = |name: &str, value: &str| vec![(name.to_string(), value.to_string())];
    for card in CARDS {
        let (status, _, plain) = fetch(&apps, card, &[]).await;
        assert_eq!(status, 200);
        check_card(&plain).unwrap();
        for name in NAMES {
            let values: &[&str] = match name {
                "theme" => &["light", "dark", "art"],
                "bg" | "text" | "accent" => &["#a1b2c3", "a1b2c3", "#abc", "ABC"],
                "radius" => &["0", "7", "30"],
                "width" => &["300", "512", "600"],
                "idle_text" => &["On a break", "<script>&\"'", "🎵 back soon 🎵"],
                _ => &["true", "1", "false", "0"],
            };
            for value in values {
                let (status, _, svg) = fetch(&apps, card, &one(name, value)).await;
                assert_eq!(status, 200, "{card:?} {name}={value}: {svg}");
                check_card(&svg).unwrap();
                let on = matches!(*value, "true" | "1");
                let hex = |v: &str| {
                    let h = v.trim_start_matches('#').to_ascii_lowercase();
                    if h.len() == 3 {
                        h.chars().flat_map(|c| [c, c]).collect::<String>()
                    } else {
                        h
                    }
                };
                match name {
                    "width" => assert_eq!(attr(&svg, "svg", "", "width").as_deref(), Some(*value)),
                    "radius" => {
                        assert_eq!(attr(&svg, "rect", "np-bg", "rx").as_deref(), Some(*value))
                    }
                    "bg" => assert_eq!(
                        attr(&svg, "rect", "np-bg", "fill"),
                        Some(format!("#{}", hex(value)))
                    ),
                    "text" => assert!(
                        svg.contains(&format!("font-weight=\"700\" fill=\"#{}\"", hex(value))),
                        "{svg}"
                    ),
                    "accent" => assert!(
                        svg.contains(&format!("font-weight=\"600\" fill=\"#{}\"", hex(value))),
                        "{svg}"
                    ),
                    "transparent" => assert_eq!(!svg.contains("np-bg"), on, "{svg}"),
                    "hide_source" if card != Card::Idle => {
                        assert_eq!(!svg.contains("np-source"), on, "{svg}")
                    }
                    "hide_art" if card == Card::Playing => {
                        assert_eq!(!svg.contains("<image"), on, "{svg}");
                        assert_eq!(!svg.contains("np-art-clip"), on, "{svg}");
                    }
                    "hide_art" if LISTS.contains(&card) => {
                        assert_eq!(svg.matches("<image").count(), if on { 0 } else { 5 });
                        assert_eq!(!svg.contains("np-list-art"), on, "{svg}");
                    }
                    "hide_progress" if card == Card::Playing => {
                        assert_eq!(!svg.contains("np-progress"), on, "{svg}");
                        assert_eq!(svg.contains(">The Album<"), on, "album instead: {svg}");
                    }
                    "theme" if *value == "dark" => assert_eq!(
                        attr(&svg, "rect", "np-bg", "fill").as_deref(),
                        Some("#0d1117")
                    ),
                    "idle_text" if card == Card::Idle => {
                        let doc = roxmltree::Document::parse(&svg).unwrap();
                        assert!(
                            doc.descendants().any(|n| n.text() == Some(*value)),
                            "{value} drawn: {svg}"
                        );
                    }
                    _ => {}
                }
                if name == "idle_text" && *value == "<script>&\"'" && card == Card::Idle {
                    assert!(svg.contains("&lt;script&gt;&amp;&quot;&#39;"), "{svg}");
                }
                if name == "width" && card == Card::Playing {
                    // The layout follows the width: the time ends 14 px from the right edge.
                    let right = value.parse::<u32>().unwrap() - 14;
                    assert!(svg.contains(&format!("x=\"{right}\" y=\"97\"")), "{svg}");
                }
            }
        }
    }
}

/// A long title that does not scroll (`hide_progress`) is cut by the real width: a wider card
/// shows more of it. While it plays, the whole title scrolls instead.
#[tokio::test]
async fn truncation_follows_the_width() {
    let app = TestApp::start(&[]).await;
    let name = "Wordy ".repeat(40);
    app.fake.set_current(Scripted::json(bodies::playing(
        bodies::track("t1", &name),
        true,
        1000,
    )));
    let titles = |svg: &str| -> Vec<String> {
        let doc = roxmltree::Document::parse(svg).unwrap();
        doc.descendants()
            .filter(|n| n.has_tag_name("text") && n.attribute("font-size") == Some("16"))
            .filter_map(|n| n.text())
            .map(str::to_string)
            .collect()
    };
    let card = |query: &'static str| {
        let app = &app;
        async move {
            let path = format!("/api/spotify.svg?hide_progress=1{query}");
            app.get(&path).await.text().await.unwrap()
        }
    };
    let title_len = |svg: &str| titles(svg)[0].chars().count();
    let narrow = title_len(&card("&width=300").await);
    let normal = title_len(&card("").await);
    let wide = title_len(&card("&width=600").await);
    let no_art = title_len(&card("&hide_art=1").await);
    assert!(narrow < normal && normal < wide, "{narrow} {normal} {wide}");
    assert!(no_art > normal, "{no_art} {normal}");
    // 16 px text at about 0.55 em a character: the 600 px card's title still fits its column.
    assert!(wide as f64 * 16.0 * 0.55 <= 600.0 - 14.0 - 124.0, "{wide}");

    // Playing, with the bar: the whole title, twice (the scrolling loop), nothing cut.
    let svg = app.get("/api/spotify.svg").await.text().await.unwrap();
    assert!(svg.contains(r#"class="np-marquee""#), "{svg}");
    assert_eq!(titles(&svg), vec![name.trim().to_string(); 2], "{svg}");
}

/// Bad and unknown parameters: a `400` SVG error card naming the parameter and what it accepts,
/// the value cut at 60 characters and escaped; the JSON endpoints keep answering JSON.
#[tokio::test]
async fn a_bad_parameter_is_a_400_svg_error_card() {
    let apps = Apps::start().await;
    let long = format!("<script>{}", "z".repeat(5_000));
    for card in [Card::Playing, Card::Top, Card::TopArtists, Card::Recent] {
        for (q, param, accepted) in [
            ("bg=red".to_string(), "bg", "hex colour"),
            ("text=%23ffff".to_string(), "text", "hex colour"),
            ("accent=".to_string(), "accent", "hex colour"),
            ("radius=31".to_string(), "radius", "0 to 30"),
            ("width=1000".to_string(), "width", "300 to 600"),
            (
                "hide_art=yes".to_string(),
                "hide_art",
                "true, false, 1 or 0",
            ),
            (
                "hide_progress=2".to_string(),
                "hide_progress",
                "true, false",
            ),
            ("hide_source=no".to_string(), "hide_source", "true, false"),
            ("transparent=on".to_string(), "transparent", "true, false"),
            ("theme=neon".to_string(), "theme", "light, dark or art"),
            (
                format!("idle_text={}", "a".repeat(61)),
                "idle_text",
                "1 to 60",
            ),
            ("colour=red".to_string(), "colour", "bg, text, accent"),
            ("bg=fff&bg=000".to_string(), "bg", "more than once"),
            (
                format!(
                    "idle_text={}",
                    url::form_urlencoded::byte_serialize(long.as_bytes()).collect::<String>()
                ),
                "idle_text",
                "1 to 60",
            ),
        ] {
            let r = apps.app(card).get(&with_query(card, &q)).await;
            assert_eq!(r.status(), 400, "{card:?} {q}");
            assert_eq!(r.headers()["content-type"], "image/svg+xml; charset=utf-8");
            assert_eq!(r.headers()["cache-control"], "no-store");
            assert_eq!(
                r.headers()["content-security-policy"],
                nowplaying::http::CARD_POLICY
            );
            let svg = r.text().await.unwrap();
            check_card(&svg).unwrap();
            let doc = roxmltree::Document::parse(&svg).unwrap();
            let title = doc
                .descendants()
                .find(|n| n.has_tag_name("title"))
                .and_then(|n| n.text())
                .unwrap();
            assert!(title.contains(param), "{q}: {title}");
            assert!(title.contains(accepted), "{q}: {title}");
            let drawn: String = doc
                .descendants()
                .filter(|n| n.has_tag_name("text"))
                .filter_map(|n| n.text())
                .collect::<Vec<_>>()
                .join(" ");
            assert!(drawn.contains(&format!("error: {param}")), "{q}: {drawn}");
            if q.contains("script") {
                assert!(title.contains("<script>"), "the value shown: {title}");
                assert!(svg.contains("&lt;script&gt;"), "escaped: {svg}");
                assert!(!title.contains(&"z".repeat(53)), "cut at 60: {title}");
            }
        }
    }
    // The JSON endpoints' errors stay JSON.
    let r = apps.playing.get("/api/spotify/top/tracks?limit=0").await;
    assert_eq!(r.status(), 400);
    assert_eq!(r.headers()["content-type"], "application/json");
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["parameter"], "limit");
}

/// `(r, g, b)` of `#rrggbb`.
fn rgb(hex: &str) -> (u8, u8, u8) {
    let h = hex.trim_start_matches('#');
    let p = |i: usize| u8::from_str_radix(&h[i..i + 2], 16).unwrap();
    (p(0), p(2), p(4))
}

/// The WCAG 2 contrast ratio of two `#rrggbb` colours.
fn contrast(a: &str, b: &str) -> f64 {
    let lum = |hex: &str| {
        let (r, g, b) = rgb(hex);
        let lin = |c: u8| {
            let c = c as f64 / 255.0;
            if c <= 0.04045 {
                c / 12.92
            } else {
                ((c + 0.055) / 1.055).powf(2.4)
            }
        };
        0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b)
    };
    let (x, y) = (lum(a), lum(b));
    (x.max(y) + 0.05) / (x.min(y) + 0.05)
}

/// The background's fill and every text's fill of a card.
fn fills(svg: &str) -> (String, Vec<String>) {
    let doc = roxmltree::Document::parse(svg).unwrap();
    let bg = doc
        .descendants()
        .find(|n| n.attribute("class") == Some("np-bg"))
        .and_then(|n| n.attribute("fill"))
        .unwrap()
        .to_string();
    let texts = doc
        .descendants()
        .filter(|n| n.has_tag_name("text"))
        .map(|n| n.attribute("fill").unwrap().to_string())
        .collect();
    (bg, texts)
}

#[tokio::test]
async fn theme_art_draws_with_each_covers_colours_and_keeps_text_readable() {
    let app = TestApp::start(&[]).await;
    let mut backgrounds = Vec::new();
    for art in ["red", "blue", "white", "black"] {
        let track = bodies::track_with_covers(&app.fake.base, art, "t1", "Art Song");
        app.fake
            .set_current(Scripted::json(bodies::playing(track, true, 60_000)));
        app.expire_cache();
        let svg = app
            .get("/api/spotify.svg?theme=art")
            .await
            .text()
            .await
            .unwrap();
        assert!(svg.contains("<image"), "{art}: the cover is embedded");
        let (bg, texts) = fills(&svg);
        assert!(texts.len() >= 4, "{svg}");
        for fill in &texts {
            let ratio = contrast(fill, &bg);
            assert!(ratio >= 4.5, "{art}: {fill} on {bg} is {ratio:.2}:1");
        }
        // Taken from the cover: the red one's background is red, the blue one's blue.
        let (r, g, b) = rgb(&bg);
        match art {
            "red" => assert!(r > 2 * g.max(b), "{bg}"),
            "blue" => assert!(b > 2 * r.max(g), "{bg}"),
            _ => {}
        }
        backgrounds.push(bg);
    }
    let distinct: std::collections::HashSet<_> = backgrounds.iter().collect();
    assert_eq!(distinct.len(), backgrounds.len(), "{backgrounds:?}");
    assert_eq!(
        app.fake.image_calls_to("/img/red-300.jpg"),
        1,
        "colours computed once, with the fetch"
    );

    // Explicit colours win over the cover's; without art, art is light.
    let svg = app
        .get("/api/spotify.svg?theme=art&bg=123456&accent=fedcba")
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(fills(&svg).0, "#123456");
    assert!(svg.contains("fill=\"#fedcba\""), "{svg}");
    let svg = app
        .get("/api/spotify.svg?theme=art&hide_art=true")
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(fills(&svg).0, "#ffffff");
    let mut no_art = bodies::track("t1", "No Art");
    no_art["album"]["images"] = json!([]);
    app.fake
        .set_current(Scripted::json(bodies::playing(no_art, true, 60_000)));
    app.expire_cache();
    let svg = app
        .get("/api/spotify.svg?theme=art")
        .await
        .text()
        .await
        .unwrap();
    assert!(!svg.contains("<image"));
    assert_eq!(fills(&svg).0, "#ffffff", "the placeholder: light");
}

/// The list cards' `limit`: 1 to 10 rows, each with its art, still under 40 KB at the widest;
/// a bad `limit` is a `400` error card. Prints each card's size at limits 5 and 10.
#[tokio::test]
async fn list_cards_draw_limit_rows_with_art_under_40_kb() {
    let apps = Apps::start().await;
    for card in LISTS {
        for limit in [1usize, 5, 10] {
            let q = format!("limit={limit}&width=600");
            let r = apps.app(card).get(&with_query(card, &q)).await;
            assert_eq!(r.status(), 200, "{card:?} {q}");
            assert_eq!(
                r.headers()["content-security-policy"],
                nowplaying::http::CARD_POLICY
            );
            let svg = r.text().await.unwrap();
            check_card(&svg).unwrap();
            let rows = svg.matches(r#"font-size="14" font-weight="600""#).count();
            assert_eq!(rows, limit, "{card:?} {q}: {svg}");
            // Every row with its art: the 64 px covers (3 KB each, so only seven would fit
            // the card's art budget as they are) are embedded as their small copies.
            assert_eq!(row_art(&svg).len(), limit, "{card:?} {q}");
            if limit > 1 {
                let art: usize = svg
                    .split("href=\"data:")
                    .skip(1)
                    .map(|rest| rest.find('"').unwrap_or(0))
                    .sum();
                println!(
                    "{card:?} limit={limit} width=600: {} bytes ({art} of art)",
                    svg.len()
                );
            }
        }
        for bad in ["limit=0", "limit=11", "limit=x"] {
            let r = apps.app(card).get(&with_query(card, bad)).await;
            assert_eq!(r.status(), 400, "{card:?} {bad}");
            let svg = r.text().await.unwrap();
            check_card(&svg).unwrap();
            assert!(svg.contains("limit") && svg.contains("1 to 10"), "{svg}");
        }
    }
    // The 64 px size is the one embedded, not the 300 or 640 px one.
    assert!(apps.playing.fake.image_calls_to("/img/c0-64.jpg") >= 1);
    assert_eq!(apps.playing.fake.image_calls_to("/img/c0-300.jpg"), 0);
    assert_eq!(apps.playing.fake.image_calls_to("/img/c0-640.jpg"), 0);
    assert_eq!(apps.playing.fake.image_calls_to("/img/a0-640.jpg"), 0);
}

/// The art a card embeds, each decoded: its type and its size in pixels.
fn row_art(svg: &str) -> Vec<(String, u32, u32)> {
    use base64::Engine as _;
    let doc = roxmltree::Document::parse(svg).unwrap();
    doc.descendants()
        .filter(|n| n.has_tag_name("image"))
        .map(|n| {
            let href = n.attribute("href").expect("an image with its href");
            let (head, data) = href.split_once(";base64,").expect("a base64 data: URI");
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(data)
                .unwrap();
            let img = image::load_from_memory(&bytes).expect("a picture");
            (head.to_string(), img.width(), img.height())
        })
        .collect()
}

/// Art over the embed limit still reaches the rows: ten playlists whose only cover is 640 px
/// (150 KB, and no size given, as Spotify lists a custom cover) and ten artists with images of
/// 640, 320 and 160 px (the 160 px one is picked, 12 KB). Every row is drawn with the small
/// copy (a JPEG of 64 px) and the card stays under 40 KB.
#[tokio::test]
async fn every_row_gets_a_small_copy_of_its_art_even_of_a_large_image() {
    let app = TestApp::start(&[("PROFILE_ENDPOINTS", "top,playlists")]).await;
    app.fake.grant_scopes(
        "user-read-currently-playing user-read-recently-played playlist-read-private",
    );
    let base = app.fake.base.clone();
    let artists: Vec<Value> = (0..10)
        .map(|i| {
            let mut a = bodies::artist(&format!("a{i}"), &format!("Artist {i}"));
            a["images"] = json!([640, 320, 160].map(|side| json!({
                "url": format!("{base}/img/a{i}-{side}.jpg"), "width": side, "height": side
            })));
            a
        })
        .collect();
    app.fake
        .set_path("/v1/me/top/artists", Scripted::json(bodies::page(artists)));
    let lists: Vec<Value> = (0..10)
        .map(|i| {
            json!({
                "id": format!("pl{i}"), "name": format!("Playlist {i}"), "public": true,
                "collaborative": false, "owner": {"id": support::fake_spotify::OWNER_ID},
                "images": [{"url": format!("{base}/img/p{i}-640.jpg"), "width": null, "height": null}],
                "external_urls": {"spotify": format!("https://open.spotify.com/playlist/pl{i}")},
                "items": {"href": "", "total": 3}
            })
        })
        .collect();
    app.fake.set_path(
        "/v1/me/playlists",
        Scripted::json(json!({"items": lists, "next": null})),
    );
    for path in [
        "/api/spotify/top.svg?kind=artists&limit=10",
        "/api/spotify/playlists.svg?limit=10",
    ] {
        let r = app.get(path).await;
        assert_eq!(r.status(), 200, "{path}");
        let svg = r.text().await.unwrap();
        check_card(&svg).unwrap();
        let art = row_art(&svg);
        assert_eq!(art.len(), 10, "{path}: {svg}");
        for (head, w, h) in art {
            assert_eq!((head.as_str(), w, h), ("data:image/jpeg", 64, 64), "{path}");
        }
        println!("{path}: {} bytes", svg.len());
    }
    assert_eq!(app.fake.image_calls_to("/img/a0-160.jpg"), 1);
    assert_eq!(app.fake.image_calls_to("/img/a0-640.jpg"), 0);
}

/// The recent card: the last plays newest first, with artists and how long ago, read from the
/// same cached list as `/api/spotify/recent`; `404` (JSON) when the recent list is off.
#[tokio::test]
async fn the_recent_card_shows_the_last_plays_and_how_long_ago() {
    let apps = Apps::start().await;
    let json: Value = apps
        .playing
        .get("/api/spotify/recent?limit=3")
        .await
        .json()
        .await
        .unwrap();
    let items = json["items"].as_array().unwrap();
    assert_eq!(items[0]["albumImages"].as_array().map(Vec::len), Some(3));
    let svg = apps
        .playing
        .get("/api/spotify/recent.svg?limit=3&hide_art=1")
        .await
        .text()
        .await
        .unwrap();
    let doc = roxmltree::Document::parse(&svg).unwrap();
    let texts: Vec<&str> = doc
        .descendants()
        .filter(|n| n.has_tag_name("text"))
        .filter_map(|n| n.text())
        .collect();
    assert_eq!(texts[0], "Recently played", "{texts:?}");
    assert!(texts.contains(&"Artist One, Artist Two"), "{texts:?}");
    let notes: Vec<&str> = texts
        .iter()
        .copied()
        .filter(|t| t.ends_with(" ago") || *t == "just now")
        .collect();
    assert_eq!(notes, ["just now", "5 min ago", "3 h ago"], "{texts:?}");
    let svg = apps
        .playing
        .get("/api/spotify/recent.svg?limit=4")
        .await
        .text()
        .await
        .unwrap();
    assert!(svg.contains(">2 d ago</text>"), "{svg}");

    let r = apps.idle.get("/api/spotify/recent.svg").await;
    assert_eq!(r.status(), 404);
    assert_eq!(r.headers()["content-type"], "application/json");
}

/// The calendar card's parameters (those of the card parameters that apply to it: it has no art,
/// no progress and no source mark, and its theme is light or dark).
const CALENDAR_NAMES: [&str; 6] = ["theme", "bg", "text", "accent", "radius", "transparent"];

/// A year of squares is larger than the other cards (no art, one square per day): its bound.
const CALENDAR_MAX_BYTES: usize = 80_000;

fn arb_calendar_value(name: &'static str) -> BoxedStrategy<String> {
    match name {
        "theme" => prop::sample::select(&["light", "dark"][..])
            .prop_map(str::to_string)
            .boxed(),
        other => arb_value(other),
    }
}

fn arb_calendar_params() -> impl Strategy<Value = BTreeMap<String, String>> {
    prop::collection::vec(
        prop::sample::select(&CALENDAR_NAMES[..])
            .prop_flat_map(|n| (Just(n.to_string()), arb_calendar_value(n))),
        0..6,
    )
    .prop_map(|pairs| pairs.into_iter().collect())
}

/// The service with the history on, over a year of plays in memory.
async fn calendar_app() -> TestApp {
    use nowplaying::clock::Timestamp;
    use nowplaying::history::{memory::MemoryHistory, HistoryStore, Play, PlayKind, PlaySource};
    let history = std::sync::Arc::new(MemoryHistory::new());
    let day = 86_400_000;
    let plays: Vec<Play> = (0..400u64)
        .map(|i| Play {
            played_at: Timestamp::from_millis(T0.as_millis() - (i * 7 % 360) * day - i * 1_000),
            key: format!("spotify:track:h{i}"),
            name: hostile_name(i as usize % 4),
            artists: hostile_name(0),
            album: format!("Album {i}"),
            album_image: None,
            song_url: None,
            track_id: Some(format!("h{i}")),
            kind: PlayKind::Track,
            ms_played: Some(std::time::Duration::from_secs(180)),
            short: false,
            source: PlaySource::Spotify,
        })
        .collect();
    history.add(&plays).await.unwrap();
    TestApp::start_full(
        FakeSpotify::start().await,
        &[("PROFILE_ENDPOINTS", "history")],
        std::sync::Arc::new(nowplaying::store::memory::MemoryState::new()),
        Some(history),
    )
    .await
}

/// One calendar request: a checked card, the same bytes and `ETag` with the parameters in the
/// reverse order, another `ETag` for other parameters, `304` for its own.
async fn one_calendar_case(
    app: &TestApp,
    params: &BTreeMap<String, String>,
    other: &BTreeMap<String, String>,
) -> Result<(), TestCaseError> {
    let get = |pairs: Vec<(String, String)>| async move {
        let r = app
            .get(&format!("/api/spotify/history.svg?{}", query(&pairs)))
            .await;
        let status = r.status().as_u16();
        let etag = r.headers()["etag"].to_str().unwrap().to_string();
        (status, etag, r.text().await.unwrap())
    };
    let pairs: Vec<(String, String)> = params.clone().into_iter().collect();
    let (status, etag, svg) = get(pairs.clone()).await;
    prop_assert_eq!(status, 200, "{:?}: {}", pairs, svg);
    check_card_within(&svg, CALENDAR_MAX_BYTES)?;
    prop_assert!(svg.contains("400 plays"), "the year's plays are drawn");
    let (_, again, svg_again) = get(pairs.iter().rev().cloned().collect()).await;
    prop_assert_eq!(&svg_again, &svg);
    prop_assert_eq!(&again, &etag);
    if other != params {
        let (_, other_etag, _) = get(other.clone().into_iter().collect()).await;
        prop_assert_ne!(&other_etag, &etag, "{:?} vs {:?}", params, other);
    }
    let r = app
        .http
        .get(format!(
            "{}/api/spotify/history.svg?{}",
            app.url,
            query(&pairs)
        ))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    prop_assert_eq!(r.status().as_u16(), 304);
    Ok(())
}

/// The calendar card, for each of its parameters alone (every value class) and random
/// combinations, is as safe as the other cards, and a parameter it does not take is a `400` error
/// card that is itself safe.
#[test]
fn the_calendar_card_with_each_of_its_parameters_stays_safe_and_its_etag_right() {
    let rt = runtime();
    let app = rt.block_on(calendar_app());
    let none = BTreeMap::new();
    for name in CALENDAR_NAMES {
        let values: &[&str] = match name {
            "theme" => &["light", "dark"],
            "bg" | "text" | "accent" => &["fff", "#0a1b2c"],
            "radius" => &["0", "30"],
            _ => &["true", "0"],
        };
        for v in values {
            let alone = BTreeMap::from([(name.to_string(), v.to_string())]);
            rt.block_on(one_calendar_case(&app, &alone, &none))
                .unwrap_or_else(|e| panic!("{name}={v}: {e}"));
        }
    }
    for (name, v) in [
        ("theme", "art"),
        ("width", "400"),
        ("hide_art", "true"),
        ("bg", "red"),
        ("radius", "31"),
    ] {
        let r = rt.block_on(app.get(&format!("/api/spotify/history.svg?{name}={v}")));
        assert_eq!(r.status(), 400, "{name}={v}");
        let svg = rt.block_on(r.text()).unwrap();
        check_card(&svg).unwrap();
        assert!(svg.contains(name), "{svg}");
    }
    let mut runner = TestRunner::new(Config {
        cases: 24,
        failure_persistence: None,
        ..Config::default()
    });
    let result = runner.run(
        &(arb_calendar_params(), arb_calendar_params()),
        |(params, other)| rt.block_on(one_calendar_case(&app, &params, &other)),
    );
    if let Err(e) = result {
        panic!("{e}");
    }
}
