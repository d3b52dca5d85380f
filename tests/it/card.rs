//! The README card (`/api/spotify.svg`), the widget and the preview page, served by the Router.
use crate::support;

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
    let v: Value = r.json().await.unwrap();
    let msg = v["error"].as_str().unwrap();
    assert!(msg.contains("light") && msg.contains("dark"), "{msg}");
    assert_eq!(v["parameter"], "theme", "{v}");
    // A 64 KB value (about the longest URL a client sends) is cut like every other
    // parameter's: 60 characters of it, not the whole.
    let long = "x".repeat(64_000);
    let r = app.get(&format!("/api/spotify.svg?theme={long}")).await;
    assert_eq!(r.status(), 400);
    let body = r.text().await.unwrap();
    assert!(
        body.len() < 400,
        "{} bytes: {}",
        body.len(),
        &body[..200.min(body.len())]
    );
    let v: Value = serde_json::from_str(&body).unwrap();
    let msg = v["error"].as_str().unwrap();
    assert!(
        msg.contains(&"x".repeat(60)) && !msg.contains(&"x".repeat(61)),
        "{msg}"
    );
}

#[tokio::test]
async fn card_escapes_nasty_titles() {
    let app = TestApp::start(&[]).await;
    let nasty = format!(
        "<script>alert(1)</script> \"quoted\" & 'single' 🎧 שלום مرحبا {}",
        "x".repeat(300)
    );
    app.fake.set_current(Scripted::json(bodies::playing(
        bodies::track("t1", &nasty),
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
