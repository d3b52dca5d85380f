//! The files the service serves as they are, compiled into the binary: the widget
//! (`GET /widget.js`) and the preview page (`GET /`).
//!
//! The widget is written as a few plain scripts under `widget/`, joined here in name order into
//! one ES module with no build tool. Each part ends with a newline; a top-level name is declared
//! in one part only; everything a `customElements.define` may run at once (the element upgrades
//! synchronously) is declared in an earlier part. The browser tests' static server joins the same
//! files the same way (tests/browser/harness.mjs).

/// `GET /widget.js`: the custom elements `<spotify-now-playing>`, `<spotify-recent-tracks>`,
/// `<spotify-top-artists>`, `<spotify-playlists>` and `<spotify-history>`.
pub const WIDGET_JS: &str = concat!(
    include_str!("widget/10-base.js"),
    include_str!("widget/20-styles.js"),
    include_str!("widget/30-now-playing.js"),
    include_str!("widget/40-lists.js"),
    include_str!("widget/45-playlists.js"),
    include_str!("widget/50-history.js"),
);

/// `GET /`: the preview page.
pub const INDEX_HTML: &str = include_str!("index.html");

#[cfg(test)]
mod tests {
    use super::*;

    /// Every `widget/*.js` is in `WIDGET_JS`, in name order (the order the browser tests'
    /// server joins them in), and each ends with a newline so no line runs into the next part.
    #[test]
    fn widget_js_is_every_part_in_name_order() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/assets/widget");
        let mut names: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.ends_with(".js"))
            .collect();
        names.sort();
        assert!(names.len() > 1, "{names:?}");
        let mut joined = String::new();
        for name in &names {
            let part = std::fs::read_to_string(dir.join(name)).unwrap();
            assert!(part.ends_with('\n'), "{name} must end with a newline");
            joined.push_str(&part);
        }
        assert!(WIDGET_JS == joined, "src/assets/mod.rs must list {names:?}");
    }

    #[test]
    fn widget_js_defines_each_element_once() {
        for tag in [
            "spotify-now-playing",
            "spotify-recent-tracks",
            "spotify-top-artists",
            "spotify-history",
        ] {
            let define = format!("customElements.define('{tag}'");
            assert_eq!(WIDGET_JS.matches(&define).count(), 1, "{tag}");
        }
    }
}
