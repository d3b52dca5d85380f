//! The owner's playlists: `GET /v1/me/playlists` (scope `playlist-read-private`), its wire type
//! and the mapping to [`Playlist`], keeping only the owner's own public playlists.
//!
//! Spotify's February 2026 changes for development-mode apps renamed a playlist's `tracks`
//! (`{href, total}`) to `items`; both are read, `items` first.

use serde::Deserialize;

use super::map::{largest_image, sized};
use super::wire::{lenient, ExternalUrls, Image};
use crate::model::{Playlist, Source};

/// One page of `GET /v1/me/playlists`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Page {
    #[serde(deserialize_with = "lenient")]
    pub items: Vec<Option<Simplified>>,
    /// The next page's URL; null on the last page.
    #[serde(deserialize_with = "lenient")]
    pub next: Option<String>,
}

/// A playlist as the list shows it.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Simplified {
    #[serde(deserialize_with = "lenient")]
    pub id: Option<String>,
    #[serde(deserialize_with = "lenient")]
    pub name: Option<String>,
    #[serde(deserialize_with = "lenient")]
    pub description: Option<String>,
    /// `true` public, `false` private, `null` (collaborative or unknown): only `true` shows.
    #[serde(deserialize_with = "lenient")]
    pub public: Option<bool>,
    #[serde(deserialize_with = "lenient")]
    pub collaborative: Option<bool>,
    #[serde(deserialize_with = "lenient")]
    pub owner: Option<Owner>,
    #[serde(deserialize_with = "lenient")]
    pub images: Option<Vec<Image>>,
    #[serde(deserialize_with = "lenient")]
    pub external_urls: ExternalUrls,
    /// The count since February 2026 (`items.total`).
    #[serde(deserialize_with = "lenient")]
    pub items: Option<Count>,
    /// The count before (`tracks.total`).
    #[serde(deserialize_with = "lenient")]
    pub tracks: Option<Count>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Owner {
    #[serde(deserialize_with = "lenient")]
    pub id: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Count {
    #[serde(deserialize_with = "lenient")]
    pub total: Option<u64>,
}

/// The playlists of `page` that `owner_id` owns and that are public, not collaborative, with a
/// name and an id fit for a URL (Spotify's base-62 ids).
pub fn own_public(page: Page, owner_id: &str) -> Vec<Playlist> {
    page.items
        .into_iter()
        .flatten()
        .filter(|p| {
            p.public == Some(true)
                && p.collaborative != Some(true)
                && p.owner.as_ref().and_then(|o| o.id.as_deref()) == Some(owner_id)
        })
        .filter_map(|p| {
            let id =
                p.id.filter(|id| !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric()))?;
            let name = p.name.filter(|n| !n.trim().is_empty())?;
            let images = p.images.unwrap_or_default();
            Some(Playlist {
                embed_url: format!("https://open.spotify.com/embed/playlist/{id}"),
                url: p
                    .external_urls
                    .spotify
                    .filter(|u| !u.trim().is_empty())
                    .or_else(|| Some(format!("https://open.spotify.com/playlist/{id}"))),
                id,
                name,
                description: p
                    .description
                    .map(|d| plain_text(&d))
                    .filter(|d| !d.is_empty()),
                image: largest_image(&images),
                images: sized(images),
                tracks: p
                    .items
                    .and_then(|c| c.total)
                    .or_else(|| p.tracks.and_then(|c| c.total))
                    .and_then(|t| u32::try_from(t).ok()),
                source: Source::Spotify,
            })
        })
        .collect()
}

/// A description as Spotify sends it (HTML: entities such as `&amp;` and `&#x27;`, links as
/// `<a href=…>`) as plain text: tags dropped, entities decoded, runs of whitespace made one space.
pub fn plain_text(html: &str) -> String {
    let mut untagged = String::with_capacity(html.len());
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => in_tag = false,
            c if !in_tag => untagged.push(c),
            _ => {}
        }
    }
    let decoded = decode_entities(&untagged);
    decoded.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Decodes the named entities Spotify uses and every numeric one; anything else stays as is.
fn decode_entities(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        let tail = &rest[at..];
        let decoded = tail.find(';').filter(|end| *end <= 10).and_then(|end| {
            let c = match &tail[1..end] {
                "amp" => '&',
                "lt" => '<',
                "gt" => '>',
                "quot" => '"',
                "apos" => '\'',
                "nbsp" => ' ',
                e => {
                    let n = match e.strip_prefix("#x").or_else(|| e.strip_prefix("#X")) {
                        Some(hex) => u32::from_str_radix(hex, 16).ok(),
                        None => e.strip_prefix('#').and_then(|d| d.parse().ok()),
                    };
                    char::from_u32(n?)?
                }
            };
            Some((c, end + 1))
        });
        match decoded {
            Some((c, len)) => {
                out.push(c);
                rest = &tail[len..];
            }
            None => {
                out.push('&');
                rest = &tail[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn page(items: serde_json::Value) -> Page {
        serde_json::from_value(json!({ "items": items, "next": null })).unwrap()
    }

    fn playlist(id: &str, owner: &str, public: serde_json::Value) -> serde_json::Value {
        json!({
            "id": id, "name": format!("List {id}"), "public": public, "collaborative": false,
            "owner": {"id": owner}, "description": "",
            "images": [{"url": format!("https://i.scdn.co/image/{id}"), "width": 640, "height": 640}],
            "external_urls": {"spotify": format!("https://open.spotify.com/playlist/{id}")},
            "items": {"href": "x", "total": 12}
        })
    }

    #[test]
    fn only_the_owners_public_playlists_are_kept() {
        let mut collaborative = playlist("c0ll4b", "me", json!(false));
        collaborative["collaborative"] = json!(true);
        let got = own_public(
            page(json!([
                playlist("mine", "me", json!(true)),
                playlist("priv4te", "me", json!(false)),
                playlist("unkn0wn", "me", json!(null)),
                playlist("theirs", "someone", json!(true)),
                collaborative,
                null,
                playlist("bad/id", "me", json!(true)),
            ])),
            "me",
        );
        assert_eq!(got.len(), 1, "{got:?}");
        let p = &got[0];
        assert_eq!(p.id, "mine");
        assert_eq!(p.embed_url, "https://open.spotify.com/embed/playlist/mine");
        assert_eq!(p.tracks, Some(12));
        assert_eq!(p.description, None);
        assert_eq!(p.image.as_deref(), Some("https://i.scdn.co/image/mine"));
    }

    #[test]
    fn the_count_is_read_from_items_or_from_the_older_tracks() {
        let mut old = playlist("old", "me", json!(true));
        old.as_object_mut().unwrap().remove("items");
        old["tracks"] = json!({"href": "x", "total": 7});
        let mut none = playlist("none", "me", json!(true));
        none.as_object_mut().unwrap().remove("items");
        none["images"] = json!(null);
        let got = own_public(page(json!([old, none])), "me");
        assert_eq!(got[0].tracks, Some(7));
        assert_eq!(got[1].tracks, None);
        assert_eq!(got[1].image, None);
        assert!(got[1].images.is_empty());
    }

    #[test]
    fn descriptions_become_plain_text() {
        assert_eq!(
            plain_text("Rock &amp; roll &#x27;n&#x27; &quot;more&quot; &#x2F; <a href=\"spotify:playlist:x\">this one</a>&nbsp;&lt;3"),
            "Rock & roll 'n' \"more\" / this one <3"
        );
        assert_eq!(
            plain_text("a &unknown; b & c &#xZZ;"),
            "a &unknown; b & c &#xZZ;"
        );
        assert_eq!(plain_text("  <b></b>  "), "");
    }
}
