//! Which links and image URLs may leave the service: `https:` ones, and plain `http:` ones only
//! on the configured API hosts (emulators, the demo). Anything else a source sends
//! (`javascript:`, `data:`, another scheme, a relative path) becomes `null`, as a missing value is
//! in the public JSON.

use serde_json::Value;

/// The fields of the public JSON that hold a URL: a track's or episode's link, image and preview,
/// an artist's image and link.
const URL_FIELDS: &[&str] = &["songUrl", "albumImage", "previewUrl", "image", "url"];

/// The URL rule, built once per process from the configured API bases.
#[derive(Debug, Clone, Default)]
pub struct UrlPolicy {
    /// `host:port` (or `host`) of the API bases configured with plain `http:`.
    plain_http_hosts: Vec<String>,
}

impl UrlPolicy {
    /// The rule for a deployment whose API bases include `plain_http_hosts` over plain `http:`.
    pub fn new(plain_http_hosts: Vec<String>) -> UrlPolicy {
        UrlPolicy { plain_http_hosts }
    }

    /// The plain-`http:` origins (`http://host:port`) whose URLs are allowed, for the preview
    /// page's Content-Security-Policy.
    pub fn plain_http_origins(&self) -> impl Iterator<Item = String> + '_ {
        self.plain_http_hosts.iter().map(|h| format!("http://{h}"))
    }

    /// Whether `url` may leave the service.
    pub fn allows(&self, url: &str) -> bool {
        let Ok(u) = url::Url::parse(url) else {
            return false;
        };
        let Some(host) = u.host_str().filter(|h| !h.is_empty()) else {
            return false;
        };
        match u.scheme() {
            "https" => true,
            "http" => {
                let host = match u.port() {
                    Some(p) => format!("{host}:{p}"),
                    None => host.to_string(),
                };
                self.plain_http_hosts.contains(&host)
            }
            _ => false,
        }
    }

    /// Sets every URL field of an answer (at any depth: a list's items too) that this rule does
    /// not allow to `null`.
    pub fn scrub(&self, value: &mut Value) {
        match value {
            Value::Object(map) => {
                for (key, v) in map.iter_mut() {
                    match v {
                        // The sized covers: one whose URL may not leave is left out (the list
                        // holds no nulls; a card takes the next size, or `albumImage`).
                        Value::Array(images) if key == "albumImages" || key == "images" => images
                            .retain(|i| {
                                i.get("url")
                                    .and_then(Value::as_str)
                                    .is_some_and(|u| self.allows(u))
                            }),
                        Value::String(s) if URL_FIELDS.contains(&key.as_str()) => {
                            if !self.allows(s) {
                                *v = Value::Null;
                            }
                        }
                        _ => self.scrub(v),
                    }
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|v| self.scrub(v)),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_https_and_the_configured_plain_hosts_pass() {
        let p = UrlPolicy::new(vec!["127.0.0.1:9000".into()]);
        for ok in [
            "https://open.spotify.com/track/1",
            "https://i.scdn.co/image/ab",
            "HTTPS://www.last.fm/music/x",
            "http://127.0.0.1:9000/image/1",
        ] {
            assert!(p.allows(ok), "{ok}");
        }
        for bad in [
            "javascript:alert(1)",
            "JavaScript:alert(document.cookie)",
            " javascript:alert(1)",
            "data:text/html,<script>alert(1)</script>",
            "vbscript:msgbox",
            "http://open.spotify.com/track/1",
            "http://127.0.0.1:9001/image/1",
            "ftp://example.com/x",
            "/relative/path",
            "//evil.example/x",
            "https:",
            "",
        ] {
            assert!(!p.allows(bad), "{bad}");
        }
    }

    #[test]
    fn scrub_nulls_bad_urls_at_any_depth_and_leaves_the_rest() {
        let p = UrlPolicy::default();
        let mut v = json!({
            "name": "javascript:alert(1)",
            "songUrl": "javascript:alert(1)",
            "albumImage": "https://i.scdn.co/image/a",
            "previewUrl": "data:audio/mp3;base64,AAAA",
            "items": [
                {"item": {"songUrl": "https://open.spotify.com/track/1", "albumImage": "vbscript:x"}},
                {"name": "A", "url": "javascript:void(0)", "image": null, "genres": ["javascript:x"]}
            ]
        });
        p.scrub(&mut v);
        assert_eq!(v["name"], "javascript:alert(1)", "text is not a URL field");
        assert_eq!(v["songUrl"], Value::Null);
        assert_eq!(v["albumImage"], "https://i.scdn.co/image/a");
        assert_eq!(v["previewUrl"], Value::Null);
        assert_eq!(
            v["items"][0]["item"]["songUrl"],
            "https://open.spotify.com/track/1"
        );
        assert_eq!(v["items"][0]["item"]["albumImage"], Value::Null);
        assert_eq!(v["items"][1]["url"], Value::Null);
        assert_eq!(v["items"][1]["genres"][0], "javascript:x");
    }

    #[test]
    fn scrub_leaves_a_sized_cover_out_rather_than_nulling_its_url() {
        let p = UrlPolicy::default();
        let mut v = json!({"albumImages": [
            {"url": "http://198.51.100.7/640.png", "width": 640, "height": 640},
            {"url": "https://i.scdn.co/image/300", "width": 300, "height": 300},
            {"url": null, "width": 64, "height": 64}
        ]});
        p.scrub(&mut v);
        assert_eq!(
            v["albumImages"],
            json!([{"url": "https://i.scdn.co/image/300", "width": 300, "height": 300}])
        );
    }
}
