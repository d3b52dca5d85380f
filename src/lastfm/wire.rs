//! Last.fm's JSON, read leniently. It is generated from XML, with the quirks that brings: a list
//! of one comes as an object (`"track": {...}`), numbers come as strings (`"uts": "1700000000"`),
//! text sits under `"#text"` (or `"name"`, with `extended=1`), attributes under `"@attr"`, and an
//! empty string means absent. These helpers read a `serde_json::Value` that way, so no shape
//! Last.fm (or a proxy in front of it) sends can fail more than the field it is in.

use serde_json::Value;

use super::LastFmError;

/// The object under `key` (`recenttracks`, `toptracks`, ...); anything else is an upstream
/// failure (the answer is not what was asked for).
pub fn root<'a>(v: &'a Value, key: &str) -> Result<&'a Value, LastFmError> {
    match v.get(key) {
        Some(r) if r.is_object() => Ok(r),
        _ => Err(LastFmError::Upstream(format!("response without {key}"))),
    }
}

/// The entries under `key` of a list object: a list, a single object, or nothing.
pub fn entries<'a>(list: &'a Value, key: &str) -> Vec<&'a Value> {
    match list.get(key) {
        Some(Value::Array(items)) => items.iter().filter(|i| i.is_object()).collect(),
        Some(one @ Value::Object(_)) => vec![one],
        _ => Vec::new(),
    }
}

/// A text value: a non-blank string, a number, or an object's `#text` (else its `name`).
pub fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.trim().to_string()).filter(|s| !s.is_empty()),
        Value::Number(n) => Some(n.to_string()),
        Value::Object(o) => o
            .get("#text")
            .and_then(text)
            .or_else(|| o.get("name").and_then(text)),
        _ => None,
    }
}

/// A whole number, as a number or a string.
pub fn number(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// A flag as Last.fm writes them: `"true"`, `"1"`, `true`, `1`.
pub fn flag(v: &Value) -> bool {
    match v {
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_i64() == Some(1),
        Value::String(s) => matches!(s.trim(), "true" | "1"),
        _ => false,
    }
}

/// The error code of an error body (`{"error": 6, "message": ...}`), when it is one.
pub fn error_code(v: &Value) -> Option<i64> {
    v.as_object()?.get("error").and_then(number)
}

/// The grey star Last.fm serves when it has no picture (for every artist image since 2019).
pub const PLACEHOLDER_IMAGE_ID: &str = "2a96cbd8b46e442fc41c2b86b821562f";

/// The largest usable image of an `image` list (`small`, `medium`, `large`, `extralarge`,
/// `mega`); `None` when every one is empty or the placeholder star.
pub fn largest_image(v: &Value) -> Option<String> {
    let rank = |size: &str| match size {
        "small" => 1,
        "medium" => 2,
        "large" => 3,
        "extralarge" => 4,
        "mega" => 5,
        _ => 0,
    };
    let images: Vec<&Value> = match v {
        Value::Array(items) => items.iter().collect(),
        one @ Value::Object(_) => vec![one],
        _ => Vec::new(),
    };
    images
        .into_iter()
        .enumerate()
        .filter_map(|(i, img)| {
            let url = text(img)?;
            if url.contains(PLACEHOLDER_IMAGE_ID)
                || !(url.starts_with("https://") || url.starts_with("http://"))
            {
                return None;
            }
            let size = img.get("size").and_then(Value::as_str).unwrap_or_default();
            Some(((rank(size), i), url))
        })
        .max_by_key(|(r, _)| *r)
        .map(|(_, url)| url)
}

/// Every image Last.fm lists with a usable URL, in its order, with the nominal size of its
/// `size` name (`small` 34, `medium` 64, `large` 174, `extralarge` 300 px; others unknown).
/// The grey-star placeholder counts as no image.
pub fn sized_images(v: &Value) -> Vec<crate::model::Image> {
    let images: Vec<&Value> = match v {
        Value::Array(items) => items.iter().collect(),
        one @ Value::Object(_) => vec![one],
        _ => Vec::new(),
    };
    images
        .into_iter()
        .filter_map(|img| {
            let url = text(img)?;
            if url.contains(PLACEHOLDER_IMAGE_ID)
                || !(url.starts_with("https://") || url.starts_with("http://"))
            {
                return None;
            }
            let px = match img.get("size").and_then(Value::as_str).unwrap_or_default() {
                "small" => Some(34),
                "medium" => Some(64),
                "large" => Some(174),
                "extralarge" => Some(300),
                _ => None,
            };
            Some(crate::model::Image {
                url,
                width: px,
                height: px,
            })
        })
        .collect()
}

/// An http(s) link, else `None`.
pub fn link(v: &Value) -> Option<String> {
    text(v).filter(|u| u.starts_with("https://") || u.starts_with("http://"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn texts_numbers_and_flags() {
        assert_eq!(text(&json!("  a ")), Some("a".into()));
        assert_eq!(text(&json!("")), None);
        assert_eq!(text(&json!({"#text": "x", "mbid": ""})), Some("x".into()));
        assert_eq!(text(&json!({"name": "n", "url": "u"})), Some("n".into()));
        assert_eq!(text(&json!({"#text": ""})), None);
        assert_eq!(text(&json!(null)), None);
        assert_eq!(number(&json!("17")), Some(17));
        assert_eq!(number(&json!(17)), Some(17));
        assert_eq!(number(&json!("x")), None);
        assert!(flag(&json!("true")) && flag(&json!(true)) && flag(&json!("1")));
        assert!(!flag(&json!("false")) && !flag(&json!(null)));
    }

    #[test]
    fn entries_as_list_object_or_nothing() {
        let l = json!({"track": [{"name": "a"}, 5, {"name": "b"}]});
        assert_eq!(entries(&l, "track").len(), 2);
        assert_eq!(entries(&json!({"track": {"name": "a"}}), "track").len(), 1);
        assert!(entries(&json!({"track": ""}), "track").is_empty());
        assert!(entries(&json!({}), "track").is_empty());
    }

    #[test]
    fn sized_images_carry_the_nominal_sizes_and_skip_the_placeholder() {
        let star =
            format!("https://lastfm.freetls.fastly.net/i/u/300x300/{PLACEHOLDER_IMAGE_ID}.png");
        let imgs = json!([
            {"size": "small", "#text": "https://x/34s/a.png"},
            {"size": "medium", "#text": "https://x/64s/a.png"},
            {"size": "large", "#text": "https://x/174s/a.png"},
            {"size": "extralarge", "#text": "https://x/300x300/a.png"},
            {"size": "mega", "#text": ""},
            {"size": "huge", "#text": "https://x/other.png"},
            {"size": "large", "#text": star},
            {"size": "small", "#text": "javascript:alert(1)"}
        ]);
        let got: Vec<(String, Option<u32>)> = sized_images(&imgs)
            .into_iter()
            .map(|i| {
                assert_eq!(i.width, i.height);
                (i.url, i.width)
            })
            .collect();
        assert_eq!(
            got,
            vec![
                ("https://x/34s/a.png".into(), Some(34)),
                ("https://x/64s/a.png".into(), Some(64)),
                ("https://x/174s/a.png".into(), Some(174)),
                ("https://x/300x300/a.png".into(), Some(300)),
                ("https://x/other.png".into(), None),
            ]
        );
        assert!(sized_images(&json!(null)).is_empty());
    }

    #[test]
    fn largest_image_skips_the_placeholder_and_empty_urls() {
        let star =
            format!("https://lastfm.freetls.fastly.net/i/u/300x300/{PLACEHOLDER_IMAGE_ID}.png");
        let imgs = json!([
            {"size": "small", "#text": "https://x/34s/a.png"},
            {"size": "extralarge", "#text": "https://x/300x300/a.png"},
            {"size": "large", "#text": "https://x/174s/a.png"},
            {"size": "mega", "#text": ""}
        ]);
        assert_eq!(
            largest_image(&imgs).as_deref(),
            Some("https://x/300x300/a.png")
        );
        assert_eq!(
            largest_image(&json!([{"size": "extralarge", "#text": star}])),
            None
        );
        assert_eq!(
            largest_image(&json!([{"size": "small", "#text": ""}])),
            None
        );
        assert_eq!(largest_image(&json!("javascript:alert(1)")), None);
        assert_eq!(largest_image(&json!([{"#text": "javascript:1"}])), None);
    }
}
