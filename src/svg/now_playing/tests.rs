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
fn truncates_a_300_char_title_that_does_not_scroll() {
    let long = "x".repeat(300);
    // A recent track and a card with `hide_progress` do not move: the title is cut.
    let mut recent = np(&long);
    recent.is_playing = false;
    recent.status = Status::Recent;
    let hidden = CardStyle {
        hide_progress: true,
        ..CardStyle::default()
    };
    for svg in [
        render_card(Some(&recent), Theme::Light, None, NOW),
        render_card_with(Some(&np(&long)), &hidden, None, None, NOW),
    ] {
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

/// The card parsed, and the text of its `<style>` (empty without one).
fn parsed_style(svg: &str) -> String {
    let doc = roxmltree::Document::parse(svg).expect("well-formed");
    doc.descendants()
        .filter(|n| n.has_tag_name("style"))
        .filter_map(|n| n.text())
        .collect()
}

/// The elements whose `class` holds `class`.
fn with_class<'a>(doc: &'a roxmltree::Document<'a>, class: &str) -> Vec<roxmltree::Node<'a, 'a>> {
    doc.descendants()
        .filter(|n| {
            n.attribute("class")
                .is_some_and(|c| c.split_whitespace().any(|c| c == class))
        })
        .collect()
}

#[test]
fn the_bar_moves_only_while_playing_with_a_known_duration() {
    let playing = render_card(Some(&np("T")), Theme::Light, None, NOW);
    assert_well_formed(&playing);
    let doc = roxmltree::Document::parse(&playing).unwrap();
    assert_eq!(with_class(&doc, "np-live").len(), 1, "{playing}");
    assert_eq!(with_class(&doc, "np-eq").len(), 1, "{playing}");
    let css = parsed_style(&playing);
    assert!(css.contains("@keyframes np-fill"), "{css}");
    assert!(css.contains("@keyframes np-eq"), "{css}");

    let mut paused = np("T");
    paused.is_playing = false;
    paused.status = Status::Paused;
    let mut no_duration = np("T");
    no_duration.duration = None;
    let mut no_progress = np("T");
    no_progress.progress = None;
    let mut recent = np("T");
    recent.is_playing = false;
    recent.status = Status::Recent;
    let mut ended = np("T");
    ended.timestamp = NOW - Duration::from_secs(3600);
    for still in [paused, no_duration, no_progress, recent, ended] {
        let svg = render_card(Some(&still), Theme::Light, None, NOW);
        assert_well_formed(&svg);
        let doc = roxmltree::Document::parse(&svg).unwrap();
        assert!(with_class(&doc, "np-live").is_empty(), "{svg}");
        assert!(with_class(&doc, "np-eq").is_empty(), "{svg}");
        assert!(!svg.contains("<style>"), "nothing moves: {svg}");
    }
    // The paused card still shows its equalizer, standing still, and its bar at the position.
    let mut paused = np("T");
    paused.is_playing = false;
    paused.status = Status::Paused;
    let svg = render_card(Some(&paused), Theme::Light, None, NOW);
    let doc = roxmltree::Document::parse(&svg).unwrap();
    let bar = with_class(&doc, "np-progress");
    assert_eq!(bar.len(), 1);
    let full = 400 - 14 - 86 - (PAD + ART + 14);
    assert_eq!(
        bar[0].attribute("width"),
        Some(format!("{:.1}", full as f64 / 3.0).as_str())
    );
}

#[test]
fn the_bar_grows_to_the_end_in_the_time_left() {
    // 61.5 s read 0.7 s ago: at 62 s (whole seconds) of 200.25 s, 138.25 s left.
    let mut n = np("T");
    n.progress = Some(Duration::from_millis(61_500));
    n.duration = Some(Duration::from_millis(200_250));
    n.timestamp = NOW - Duration::from_millis(700);
    let svg = render_card(Some(&n), Theme::Dark, None, NOW);
    assert_well_formed(&svg);
    let css = parsed_style(&svg);
    assert!(
        css.contains(".np-progress.np-live{animation:np-fill 138.250s linear forwards}"),
        "{css}"
    );
    // From the drawn width to the whole bar.
    let doc = roxmltree::Document::parse(&svg).unwrap();
    let drawn = with_class(&doc, "np-live")[0]
        .attribute("width")
        .unwrap()
        .to_string();
    let full = 400 - 14 - 86 - (PAD + ART + 14);
    assert!(
        css.contains(&format!("from{{width:{drawn}px}}to{{width:{full}px}}")),
        "{css} / {drawn}"
    );
    // On a wider card the bar is longer; the time left is the same.
    let wide = CardStyle {
        width: 600,
        ..CardStyle::default()
    };
    let css = parsed_style(&render_card_with(Some(&n), &wide, None, None, NOW));
    assert!(
        css.contains(&format!("to{{width:{}px}}", full + 200)),
        "{css}"
    );
    assert!(css.contains("np-fill 138.250s"), "{css}");
}

#[test]
fn nothing_moves_with_hide_progress() {
    let hidden = CardStyle {
        hide_progress: true,
        ..CardStyle::default()
    };
    let svg = render_card_with(
        Some(&np(&"long title ".repeat(10))),
        &hidden,
        None,
        None,
        NOW,
    );
    assert_well_formed(&svg);
    assert!(!svg.contains("<style>"), "{svg}");
    assert!(!svg.contains("np-progress"), "no bar at all: {svg}");
    assert!(!svg.contains("np-marquee"), "{svg}");
    assert!(!svg.contains("np-eq"), "{svg}");
}

#[test]
fn reduced_motion_stops_every_animation() {
    let svg = render_card(
        Some(&np(&"long title ".repeat(10))),
        Theme::Light,
        None,
        NOW,
    );
    let css = parsed_style(&svg);
    let (_, reduced) = css
        .split_once("@media (prefers-reduced-motion:reduce){")
        .expect("the reduced-motion rule");
    let rule = reduced.split('}').next().unwrap();
    for selector in [".np-progress.np-live", ".np-eq rect", ".np-marquee"] {
        assert!(
            css.contains(&format!("{selector}{{")),
            "{selector} animates: {css}"
        );
        assert!(rule.contains(selector), "{selector} not stopped: {rule}");
    }
    assert!(rule.ends_with("{animation:none"), "{rule}");
}

#[test]
fn a_long_title_scrolls_and_a_short_one_does_not() {
    let long = "A Title Too Long For This Card (Remastered)";
    let svg = render_card(Some(&np(long)), Theme::Light, None, NOW);
    assert_well_formed(&svg);
    let doc = roxmltree::Document::parse(&svg).unwrap();
    let group = with_class(&doc, "np-marquee");
    assert_eq!(group.len(), 1, "{svg}");
    // Two whole copies, the second hidden from screen readers; clipped to the column.
    let copies: Vec<_> = group[0]
        .children()
        .filter(|n| n.has_tag_name("text"))
        .collect();
    assert_eq!(copies.len(), 2);
    assert!(copies.iter().all(|t| t.text() == Some(long)));
    assert_eq!(copies[1].attribute("aria-hidden"), Some("true"));
    let clip = group[0].parent().unwrap();
    assert_eq!(clip.attribute("clip-path"), Some("url(#np-title-clip)"));
    // The loop moves by exactly the distance between the copies, so it is seamless.
    let x = |t: &roxmltree::Node| t.attribute("x").unwrap().parse::<f64>().unwrap();
    let shift = x(&copies[1]) - x(&copies[0]);
    assert!(
        parsed_style(&svg).contains(&format!("translateX(-{shift:.1}px)")),
        "{svg}"
    );
    assert!(svg.contains(&format!("<title id=\"np-title\">Now playing: {long} by")));
    assert!(!svg.contains('…'), "nothing cut: {svg}");

    // A short title, and the same long one on a card wide enough for it: drawn once, still.
    let short = render_card(Some(&np("Short Song")), Theme::Light, None, NOW);
    let wide = CardStyle {
        width: 600,
        ..CardStyle::default()
    };
    let roomy = render_card_with(Some(&np(long)), &wide, None, None, NOW);
    for svg in [short, roomy] {
        assert_well_formed(&svg);
        assert!(!svg.contains("np-marquee"), "{svg}");
        assert!(!svg.contains("np-title-clip"), "{svg}");
    }

    // Paused: the long title still scrolls (so it can be read), the bar does not move.
    let mut paused = np(long);
    paused.is_playing = false;
    paused.status = Status::Paused;
    let svg = render_card(Some(&paused), Theme::Light, None, NOW);
    assert_well_formed(&svg);
    assert!(svg.contains("np-marquee"), "{svg}");
    assert!(
        !svg.contains("np-fill") && !svg.contains("np-live"),
        "{svg}"
    );
}

#[test]
fn the_same_answer_draws_the_same_card_within_a_second() {
    let n = np("T");
    let at = |ms: u64| {
        render_card(
            Some(&n),
            Theme::Light,
            None,
            NOW + Duration::from_millis(ms),
        )
    };
    assert_eq!(at(0), at(999));
    assert_ne!(at(0), at(1000), "the next second advances the bar");
}
