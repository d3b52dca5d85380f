//! The now-playing card's unit tests: layout, truncation, art choice, escaping, the style.

use super::*;
use crate::svg::tests::assert_well_formed;

const NOW: Timestamp = Timestamp::from_millis(1_764_000_000_000);

fn np(name: &str) -> NowPlaying {
    NowPlaying {
        is_playing: true,
        status: Status::Playing,
        kind: ItemType::Track,
        name: name.to_string(),
        artists: "Artist One, Artist Two".to_string(),
        album: Some("An Album".to_string()),
        album_image: Some("https://i.scdn.co/image/abc".to_string()),
        album_images: Vec::new(),
        song_url: Some("https://open.spotify.com/track/abc".to_string()),
        track_id: Some("abc".to_string()),
        preview_url: None,
        progress: Some(Duration::from_secs(60)),
        duration: Some(Duration::from_secs(180)),
        timestamp: NOW - Duration::from_secs(30),
        played_at: None,
        stale: false,
        source: crate::model::Source::Spotify,
        facts: Default::default(),
    }
}

#[test]
fn escapes_script_quotes_and_ampersands() {
    let mut n = np("<script>alert(1)</script>");
    n.artists = r#""Quoted" & 'single' <b>"#.to_string();
    let svg = render_card(Some(&n), Theme::Light, None, NOW);
    assert_well_formed(&svg);
    assert!(
        svg.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{svg}"
    );
    assert!(
        svg.contains("&quot;Quoted&quot; &amp; &#39;single&#39; &lt;b&gt;"),
        "{svg}"
    );
    assert!(!svg.contains("<script"));
    assert!(!svg.contains("<b>"));
}

#[test]
fn nobody_known_means_no_empty_by() {
    // An episode cached with `artists: ""` (before the show's name stood in): the show.
    let mut ep = np("Episode 12");
    ep.kind = ItemType::Episode;
    ep.artists = " ".into();
    ep.album = Some("The Show".into());
    let svg = render_card(Some(&ep), Theme::Light, None, NOW);
    assert!(svg.contains("Episode 12 by The Show (on Spotify)"), "{svg}");
    // A track with no artist at all: no "by", and no empty artist line.
    let mut t = np("take.mp3");
    t.artists = String::new();
    let svg = render_card(Some(&t), Theme::Light, None, NOW);
    assert_well_formed(&svg);
    assert!(svg.contains(": take.mp3 (on Spotify)</title>"), "{svg}");
    assert!(!svg.contains(" by "), "{svg}");
    assert!(!svg.contains("></text>"), "{svg}");
}

#[test]
fn control_characters_are_dropped() {
    let svg = render_card(Some(&np("a\u{0}b\u{1b}c\u{FFFF}d")), Theme::Dark, None, NOW);
    assert_well_formed(&svg);
    assert!(svg.contains(">abcd<"), "{svg}");
}

#[test]
fn truncates_a_300_char_title() {
    let long = "x".repeat(300);
    let svg = render_card(Some(&np(&long)), Theme::Light, None, NOW);
    assert_well_formed(&svg);
    let shown = format!(">{}…<", "x".repeat(TITLE_BUDGET - 1));
    assert!(svg.contains(&shown), "{svg}");
    // Every drawn line fits; the accessible <title> is bounded too.
    for drawn in svg.split("<text ").skip(1) {
        let content = &drawn[drawn.find('>').unwrap() + 1..drawn.find("</text>").unwrap()];
        assert!(content.chars().count() <= LABEL_BUDGET, "{content}");
    }
    assert!(!svg.contains(&"x".repeat(A11Y_BUDGET)));
}

#[test]
fn rtl_and_emoji_survive() {
    let mut n = np("أغنية عربية 🎶");
    n.artists = "זמר עברי 🎸".to_string();
    let svg = render_card(Some(&n), Theme::Dark, None, NOW);
    assert_well_formed(&svg);
    assert!(svg.contains("أغنية عربية 🎶"), "{svg}");
    assert!(svg.contains("זמר עברי 🎸"), "{svg}");
}

#[test]
fn none_is_the_not_listening_card() {
    for theme in [Theme::Light, Theme::Dark] {
        let svg = render_card(None, theme, Some("data:image/png;base64,AAAA"), NOW);
        assert_well_formed(&svg);
        assert!(svg.contains("Not listening to Spotify"));
        assert!(svg.contains("Check back later"));
        assert!(!svg.contains("<image"), "no art without an answer");
        assert!(svg.contains(r#"width="400" height="120""#));
    }
}

#[test]
fn labels_for_each_state() {
    let playing = render_card(Some(&np("T")), Theme::Light, None, NOW);
    assert!(playing.contains(">Now playing<"));

    let mut paused = np("T");
    paused.is_playing = false;
    paused.status = Status::Paused;
    let svg = render_card(Some(&paused), Theme::Light, None, NOW);
    assert!(svg.contains(">Paused<"));
    // Paused: the bar does not advance.
    assert!(svg.contains(">1:00 / 3:00<"), "{svg}");

    let mut recent = np("T");
    recent.is_playing = false;
    recent.status = Status::Recent;
    recent.progress = None;
    recent.played_at = Some("2025-11-24T15:55:00Z".to_string()); // NOW is 16:00:00Z
    let svg = render_card(Some(&recent), Theme::Light, None, NOW);
    assert_well_formed(&svg);
    assert!(svg.contains(">Recently played · 5 minutes ago<"), "{svg}");
    assert!(svg.contains(">An Album<"), "album replaces the bar: {svg}");
    assert!(!svg.contains("np-progress"));

    let mut ep = np("Episode 12");
    ep.kind = ItemType::Episode;
    let svg = render_card(Some(&ep), Theme::Dark, None, NOW);
    assert!(svg.contains(">Now playing · Episode<"), "{svg}");
}

#[test]
fn progress_advances_while_playing_and_clamps() {
    // 60 s read 30 s ago → 1:30 of 3:00, half the bar.
    let svg = render_card(Some(&np("T")), Theme::Light, None, NOW);
    assert!(svg.contains(">1:30 / 3:00<"), "{svg}");
    let full = 300 - (PAD + ART + 14);
    assert!(
        svg.contains(&format!(r#"width="{:.1}""#, full as f64 / 2.0)),
        "{svg}"
    );
    let mut late = np("T");
    late.timestamp = NOW - Duration::from_secs(3600);
    let svg = render_card(Some(&late), Theme::Light, None, NOW);
    assert!(svg.contains(">3:00 / 3:00<"), "{svg}");
    let mut zero = np("T");
    zero.duration = Some(Duration::ZERO);
    assert_well_formed(&render_card(Some(&zero), Theme::Light, None, NOW));
}

#[test]
fn the_art_closest_to_the_drawn_size_is_chosen() {
    let img = |url: &str, w: Option<u32>, h: Option<u32>| Image {
        url: url.to_string(),
        width: w,
        height: h,
    };
    let mut n = np("Song");
    n.album_image = Some("largest".into());
    // No sizes listed: albumImage.
    assert_eq!(card_art_url(&n), Some("largest"));
    // Spotify's three sizes, in any order: the 300 px one (the 64 px is too small for 200).
    n.album_images = vec![
        img("640", Some(640), Some(640)),
        img("64", Some(64), Some(64)),
        img("300", Some(300), Some(300)),
    ];
    assert_eq!(card_art_url(&n), Some("300"));
    // Exactly the device size is enough; a wide image counts by its shorter side.
    n.album_images = vec![
        img("640", Some(640), Some(640)),
        img("200", Some(200), Some(200)),
        img("wide", Some(400), Some(150)),
    ];
    assert_eq!(card_art_url(&n), Some("200"));
    // None large enough: the largest there is.
    n.album_images = vec![
        img("64", Some(64), Some(64)),
        img("160", Some(160), Some(160)),
    ];
    assert_eq!(card_art_url(&n), Some("160"));
    // Images without sizes are skipped; with none sized, albumImage.
    n.album_images = vec![img("unsized", None, None), img("zero", Some(0), Some(300))];
    assert_eq!(card_art_url(&n), Some("largest"));
    n.album_image = None;
    n.album_images.clear();
    assert_eq!(card_art_url(&n), None);
}

#[test]
fn art_is_embedded_only_as_a_data_uri() {
    let svg = render_card(
        Some(&np("T")),
        Theme::Light,
        Some("data:image/jpeg;base64,/9j/4AAQ+Zg=="),
        NOW,
    );
    assert_well_formed(&svg);
    assert!(
        svg.contains(r#"href="data:image/jpeg;base64,/9j/4AAQ+Zg==""#),
        "{svg}"
    );
    for bad in [
        "https://i.scdn.co/image/abc",
        "data:image/svg+xml;base64,PHN2Zz4=",
        "data:image/png;base64,AA\"onload=\"x",
        "data:text/html;base64,AAAA",
        "data:image/png;base64,",
    ] {
        let svg = render_card(Some(&np("T")), Theme::Light, Some(bad), NOW);
        assert_well_formed(&svg);
        assert!(!svg.contains("<image"), "{bad} must not be embedded");
        assert!(svg.contains("<path"), "placeholder drawn for {bad}");
    }
}

#[test]
fn relative_times() {
    let at = "2025-11-24T16:00:00Z";
    assert_eq!(relative_time(at, NOW).as_deref(), Some("just now"));
    assert_eq!(
        relative_time(at, NOW + Duration::from_secs(61)).as_deref(),
        Some("1 minute ago")
    );
    assert_eq!(
        relative_time(at, NOW + Duration::from_secs(2 * 3600)).as_deref(),
        Some("2 hours ago")
    );
    assert_eq!(
        relative_time(at, NOW + Duration::from_secs(86_400)).as_deref(),
        Some("1 day ago")
    );
    assert_eq!(
        relative_time(at, NOW - Duration::from_secs(10)).as_deref(),
        Some("just now")
    );
    assert_eq!(relative_time("yesterday", NOW), None);
    assert_eq!(clock(Duration::from_millis(3_725_000)), "62:05");
}
