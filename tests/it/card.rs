//! The README card (`/api/spotify.svg`), the widget and the preview page, served by the Router.
use crate::support;

use std::time::Duration;

use serde_json::{json, Value};
use support::*;

fn track_with_art(art: &str, name: &str) -> Value {
    let mut t = bodies::track("t1", name);
    t["album"]["images"] = json!([{"url": art, "width": 640, "height": 640}]);
    bodies::playing(t, true, 60_000)
}

#[tokio::test]
async fn card_inlines_the_album_art_fetched_server_side() {
    let app = TestApp::start(&[]).await;
    let art = format!("{}/img/cover.png", app.fake.base);
    app.fake
        .set_current(Scripted::json(track_with_art(&art, "Card Song")));
    let r = app.get("/api/spotify.svg").await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "image/svg+xml; charset=utf-8");
    assert!(r.headers()["cache-control"]
        .to_str()
        .unwrap()
        .contains("no-cache"));
    let svg = r.text().await.unwrap();
    assert!(svg.starts_with("<svg") || svg.starts_with("<?xml"), "{svg}");
    assert!(svg.contains("Card Song"));
    assert!(svg.contains(&format!(
        "data:image/png;base64,{}",
        fake_spotify::COVER_PNG_BASE64
    )));
    assert!(!svg.contains(&art), "no external reference");
    // The card and the JSON share one cached answer.
    app.get("/api/spotify").await;
    app.get("/api/spotify.svg?theme=dark").await;
    assert_eq!(app.fake.stats().currently_playing, 1);
}

#[tokio::test]
async fn card_refuses_oversized_wrong_type_and_foreign_art() {
    for art in [
        "/img/huge.png",
        "/img/page.html",
        "http://198.51.100.7/x.png",
    ] {
        let app = TestApp::start(&[]).await;
        let url = if art.starts_with('/') {
            format!("{}{art}", app.fake.base)
        } else {
            art.to_string()
        };
        app.fake
            .set_current(Scripted::json(track_with_art(&url, "Song")));
        let svg = app.get("/api/spotify.svg").await.text().await.unwrap();
        assert!(svg.contains("Song"), "{art}");
        assert!(
            !svg.contains("data:image/png"),
            "{art}: art must not be inlined"
        );
        assert!(!svg.contains(&url), "{art}: no external reference");
    }
}

#[tokio::test]
async fn card_themes_and_bad_theme() {
    let app = TestApp::start(&[]).await;
    app.fake.set_current(Scripted::status(204));
    let light = app
        .get("/api/spotify.svg?theme=light")
        .await
        .text()
        .await
        .unwrap();
    let dark = app
        .get("/api/spotify.svg?theme=dark")
        .await
        .text()
        .await
        .unwrap();
    assert_ne!(light, dark);
    assert!(light.contains("Not listening"));
    let r = app.get("/api/spotify.svg?theme=neon").await;
    assert_eq!(r.status(), 400);
    assert_eq!(r.headers()["content-type"], "image/svg+xml; charset=utf-8");
    let svg = r.text().await.unwrap();
    let msg = error_title(&svg);
    assert!(
        msg.contains("theme") && msg.contains("light") && msg.contains("dark"),
        "{msg}"
    );
    // A 64 KB value (about the longest URL a client sends) is cut like every other
    // parameter's: 60 characters of it, not the whole.
    let long = "x".repeat(64_000);
    let r = app.get(&format!("/api/spotify.svg?theme={long}")).await;
    assert_eq!(r.status(), 400);
    let body = r.text().await.unwrap();
    assert!(body.len() < 2_000, "{} bytes", body.len());
    let msg = error_title(&body);
    assert!(
        msg.contains(&"x".repeat(60)) && !msg.contains(&"x".repeat(61)),
        "{msg}"
    );
}

/// The accessible title of an SVG error card: its whole message.
fn error_title(svg: &str) -> String {
    let doc = roxmltree::Document::parse(svg).expect("well-formed error card");
    doc.descendants()
        .find(|n| n.has_tag_name("title"))
        .and_then(|n| n.text())
        .unwrap_or_default()
        .to_string()
}

#[tokio::test]
async fn card_escapes_nasty_titles() {
    let app = TestApp::start(&[]).await;
    let nasty = format!(
        "<script>alert(1)</script> \"quoted\" & 'single' 🎧 שלום مرحبا {}",
        "x".repeat(300)
    );
    // Art from the fake (the plain track's lives on Spotify's CDN, which tests never reach).
    app.fake.set_current(Scripted::json(bodies::playing(
        bodies::track_with_covers(&app.fake.base, "nasty", "t1", &nasty),
        true,
        10,
    )));
    let svg = app.get("/api/spotify.svg").await.text().await.unwrap();
    assert!(!svg.contains("<script"));
    assert!(svg.contains("&lt;script&gt;"));
    assert!(svg.contains("&amp;"));
    assert!(!svg.contains(&"x".repeat(300)), "truncated");
}

#[tokio::test]
async fn widget_and_preview_page_are_served() {
    let app = TestApp::start(&[]).await;
    let r = app.get("/widget.js").await;
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .contains("javascript"));
    assert!(r
        .text()
        .await
        .unwrap()
        .contains("customElements.define('spotify-now-playing'"));
    let r = app.get("/").await;
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    assert!(r.text().await.unwrap().contains("spotify-now-playing"));
}

/// An episode as development-mode apps receive it (no `show.publisher`): the card's artist line
/// and its accessible title name the show, never an empty "by".
#[tokio::test]
async fn card_of_an_episode_without_a_publisher_names_the_show() {
    let app = TestApp::start(&[]).await;
    let mut ep = bodies::episode();
    ep["images"] = json!([]);
    ep["show"]["images"] = json!([]);
    app.fake
        .set_current(Scripted::json(bodies::playing(ep, true, 60_000)));
    let svg = app.get("/api/spotify.svg").await.text().await.unwrap();
    assert!(
        svg.contains(": Episode Title by The Show (on Spotify)</title>"),
        "{svg}"
    );
    // The artist line (13 px, under the title) is the show.
    assert!(svg.contains(">The Show</text>"), "{svg}");
    assert!(!svg.contains("></text>"), "no empty line: {svg}");
    assert!(!svg.contains(" by  ") && !svg.contains(" by (on"), "{svg}");
}

/// The base64 payload of the one `data:` image a card embeds.
fn embedded_payload(svg: &str) -> Option<&str> {
    let start = svg.find("href=\"data:image/")?;
    let rest = &svg[start..];
    let payload = &rest[rest.find(";base64,")? + ";base64,".len()..];
    Some(&payload[..payload.find('"')?])
}

fn base64_len(bytes: usize) -> usize {
    bytes.div_ceil(3) * 4
}

#[tokio::test]
async fn card_embeds_the_cover_closest_to_its_size_and_stays_small() {
    let app = TestApp::start(&[]).await;
    let track = bodies::track_with_covers(&app.fake.base, "sized", "t1", "Sized Song");
    app.fake
        .set_current(Scripted::json(bodies::playing(track, true, 60_000)));
    // The JSON lists every size; albumImage stays the largest.
    let v = app.now().await;
    assert_eq!(
        v["albumImage"],
        format!("{}/img/sized-640.jpg", app.fake.base)
    );
    assert_eq!(v["albumImages"].as_array().map(Vec::len), Some(3), "{v}");
    assert_eq!(v["albumImages"][1]["width"], 300);

    let r = app.get("/api/spotify.svg").await;
    assert_eq!(r.status(), 200);
    let svg = r.text().await.unwrap();
    let payload = embedded_payload(&svg).expect("the card embeds art");
    let side_300 = fake_spotify::cover_jpeg_bytes(300).unwrap();
    assert_eq!(payload.len(), base64_len(side_300), "the 300 px cover");
    assert!(
        svg.len() < 40_000,
        "a card with art is under 40 KB: {} bytes",
        svg.len()
    );
    assert_eq!(app.fake.image_calls_to("/img/sized-300.jpg"), 1);
    assert_eq!(app.fake.image_calls_to("/img/sized-640.jpg"), 0);
    assert_eq!(app.fake.image_calls_to("/img/sized-64.jpg"), 0);
}

#[tokio::test]
async fn card_with_only_a_640_px_cover_draws_its_small_copy() {
    // A lone 640 px cover (150 KB here) is over the embedding cap: the card draws the cover's
    // small copy (a 64 px JPEG, made once when it was fetched) and stays small.
    use base64::Engine as _;
    let app = TestApp::start(&[]).await;
    let mut track = bodies::track_with_covers(&app.fake.base, "big", "t1", "Big Song");
    track["album"]["images"] = json!([track["album"]["images"][0].clone()]);
    app.fake
        .set_current(Scripted::json(bodies::playing(track, true, 60_000)));
    let svg = app.get("/api/spotify.svg").await.text().await.unwrap();
    assert!(svg.contains("Big Song"));
    assert!(svg.contains("href=\"data:image/jpeg;base64,"), "{svg}");
    let payload = embedded_payload(&svg).expect("the small copy");
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(payload)
        .unwrap();
    let img = image::load_from_memory(&bytes).unwrap();
    assert_eq!((img.width(), img.height()), (64, 64));
    assert!(svg.len() < 15_000, "{} bytes", svg.len());
    app.get("/api/spotify.svg?theme=dark").await;
    assert_eq!(app.fake.image_calls_to("/img/big-640.jpg"), 1);
}

#[tokio::test]
async fn one_art_fetch_for_a_hundred_concurrent_cards() {
    let app = TestApp::start(&[]).await;
    let track = bodies::track_with_covers(&app.fake.base, "burst", "t1", "Burst Song");
    app.fake
        .set_current(Scripted::json(bodies::playing(track, true, 60_000)));
    // The image takes a while, so every card below asks while the first fetch is under way.
    app.fake.set_image_delay(Duration::from_millis(400));
    let mut cards = tokio::task::JoinSet::new();
    for _ in 0..100 {
        let (http, url) = (app.http.clone(), format!("{}/api/spotify.svg", app.url));
        cards.spawn(async move {
            let r = http.get(url).send().await.unwrap();
            assert_eq!(r.status(), 200);
            r.text().await.unwrap()
        });
    }
    let all = tokio::time::timeout(Duration::from_secs(30), cards.join_all())
        .await
        .expect("100 cards within 30 s");
    let side_300 = base64_len(fake_spotify::cover_jpeg_bytes(300).unwrap());
    for svg in &all {
        assert_eq!(embedded_payload(svg).map(str::len), Some(side_300));
    }
    assert_eq!(all.len(), 100);
    assert_eq!(
        app.fake.image_calls_to("/img/burst-300.jpg"),
        1,
        "one fetch for every card"
    );
    assert_eq!(app.fake.stats().image_calls.len(), 1);
}

#[tokio::test]
async fn a_failed_art_fetch_keeps_the_good_copy_in_the_card() {
    let app = TestApp::start(&[]).await;
    let track = bodies::track_with_covers(&app.fake.base, "flaky", "t1", "Flaky Song");
    app.fake
        .set_current(Scripted::json(bodies::playing(track, true, 60_000)));
    let first = app.get("/api/spotify.svg").await.text().await.unwrap();
    let good = embedded_payload(&first).expect("art").to_string();
    assert_eq!(app.fake.image_calls_to("/img/flaky-300.jpg"), 1);

    // The copy expires and the next fetch fails: the card keeps the art it had.
    app.fake.fail_images(true);
    app.clock
        .advance(nowplaying::art::HIT_TTL + Duration::from_secs(1));
    let second = app.get("/api/spotify.svg").await.text().await.unwrap();
    assert_eq!(
        app.fake.image_calls_to("/img/flaky-300.jpg"),
        2,
        "asked again"
    );
    assert_eq!(embedded_payload(&second), Some(good.as_str()));
    // The failure is remembered for a minute: no new fetch, the good copy still shown.
    app.clock.advance(nowplaying::art::MISS_TTL / 2);
    let third = app.get("/api/spotify.svg").await.text().await.unwrap();
    assert_eq!(app.fake.image_calls_to("/img/flaky-300.jpg"), 2);
    assert_eq!(embedded_payload(&third), Some(good.as_str()));
}
