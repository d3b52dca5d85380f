//! The privacy rules' variables, parsed into [`crate::rules::Rules`] with errors that name
//! the variable (see docs/privacy.md).

use std::time::Duration;

use super::ConfigError;
use crate::rules::{fold, is_spotify_id, Names, QuietHours, Rules};

/// Reads the rules through `get` (the environment); an error names the variable.
pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Rules, ConfigError> {
    let get = |name: &str| {
        get(name)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    };
    let quiet_hours = match get("QUIET_HOURS") {
        None => {
            if let Some(zone) = get("TIMEZONE") {
                zone_of(&zone)?;
            }
            None
        }
        Some(range) => {
            let zone_name = get("TIMEZONE").unwrap_or_else(|| "UTC".into());
            let zone = zone_of(&zone_name)?;
            let (start, end) = parse_range(&range).ok_or(ConfigError {
                variable: "QUIET_HOURS",
                value: range.clone(),
                expected: "a local time range HH:MM-HH:MM such as 23:00-07:00 (two different times; it may run across midnight)",
            })?;
            Some(QuietHours {
                start,
                end,
                zone,
                zone_name,
            })
        }
    };
    Ok(Rules {
        hide_explicit: flag(get("HIDE_EXPLICIT"), "HIDE_EXPLICIT", false)?,
        hide_podcasts: flag(get("HIDE_PODCASTS"), "HIDE_PODCASTS", false)?,
        artists: names(get("HIDE_ARTISTS"), "HIDE_ARTISTS", "artist")?,
        tracks: names(get("HIDE_TRACKS"), "HIDE_TRACKS", "track")?,
        shows: names(get("HIDE_SHOWS"), "HIDE_SHOWS", "show")?,
        quiet_hours,
        respect_private_session: flag(
            get("RESPECT_PRIVATE_SESSION"),
            "RESPECT_PRIVATE_SESSION",
            true,
        )?,
        publish_delay: match get("PUBLISH_DELAY_SECONDS") {
            None => Duration::ZERO,
            Some(v) => match v.parse::<u64>() {
                Ok(n) if n <= 3600 => Duration::from_secs(n),
                _ => {
                    return Err(ConfigError {
                        variable: "PUBLISH_DELAY_SECONDS",
                        value: v,
                        expected: "a whole number of seconds from 0 to 3600",
                    })
                }
            },
        },
    })
}

fn flag(value: Option<String>, name: &'static str, default: bool) -> Result<bool, ConfigError> {
    match value.as_deref().map(str::to_ascii_lowercase).as_deref() {
        None => Ok(default),
        Some("true" | "1" | "yes") => Ok(true),
        Some("false" | "0" | "no") => Ok(false),
        Some(_) => Err(ConfigError {
            variable: name,
            value: value.unwrap_or_default(),
            expected: "true or false",
        }),
    }
}

fn zone_of(name: &str) -> Result<jiff::tz::TimeZone, ConfigError> {
    jiff::tz::TimeZone::get(name).map_err(|_| ConfigError {
        variable: "TIMEZONE",
        value: name.to_string(),
        expected: "an IANA time zone name such as Europe/Berlin or America/New_York",
    })
}

/// `HH:MM-HH:MM` as minutes after midnight; `None` when malformed or empty (equal ends).
fn parse_range(text: &str) -> Option<(u16, u16)> {
    let (a, b) = text.split_once('-')?;
    let minute = |t: &str| -> Option<u16> {
        let (h, m) = t.trim().split_once(':')?;
        if h.is_empty() || h.len() > 2 || m.len() != 2 {
            return None;
        }
        let (h, m): (u16, u16) = (h.parse().ok()?, m.parse().ok()?);
        (h < 24 && m < 60).then_some(h * 60 + m)
    };
    let (start, end) = (minute(a)?, minute(b)?);
    (start != end).then_some((start, end))
}

/// One `HIDE_*` list. An entry is a Spotify id, a `spotify:<kind>:<id>` URI or an
/// `https://open.spotify.com/<kind>/<id>` link (of this list's kind), or else a name. An entry
/// that is a URI or link of another kind, or whose id is not a Spotify id, is refused.
fn names(
    value: Option<String>,
    variable: &'static str,
    kind: &'static str,
) -> Result<Names, ConfigError> {
    let mut out = Names::default();
    let Some(value) = value else {
        return Ok(out);
    };
    let expected = match kind {
        "artist" => "comma-separated Spotify artist ids, spotify:artist:ID URIs or open.spotify.com/artist/ID links, or artist names",
        "track" => "comma-separated Spotify track ids, spotify:track:ID URIs or open.spotify.com/track/ID links, or track titles",
        _ => "comma-separated Spotify show ids, spotify:show:ID URIs or open.spotify.com/show/ID links, or show names",
    };
    let bad = || ConfigError {
        variable,
        value: value.clone(),
        expected,
    };
    for entry in value.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let link = entry
            .strip_prefix("https://open.spotify.com/")
            .or_else(|| entry.strip_prefix("http://open.spotify.com/"));
        let id = if let Some(rest) = entry.strip_prefix("spotify:") {
            let (k, id) = rest.split_once(':').ok_or_else(bad)?;
            (k == kind).then_some(id).ok_or_else(bad)?
        } else if let Some(path) = link {
            let path = path.split(['?', '#']).next().unwrap_or("");
            let (k, id) = path.split_once('/').ok_or_else(bad)?;
            (k == kind)
                .then_some(id.trim_end_matches('/'))
                .ok_or_else(bad)?
        } else if is_spotify_id(entry) {
            entry
        } else {
            out.names.push(fold(entry));
            continue;
        };
        if !is_spotify_id(id) {
            return Err(bad());
        }
        out.ids.push(id.to_string());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(vars: &[(&str, &str)]) -> Result<Rules, ConfigError> {
        from_lookup(|k| {
            vars.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        })
    }

    const ID: &str = "4Z8W4fKeB5YxbusRsdQVPb";

    #[test]
    fn lists_take_ids_uris_links_and_names() {
        let r = rules(&[(
            "HIDE_ARTISTS",
            &format!(
                "{ID}, spotify:artist:{ID}, https://open.spotify.com/artist/{ID}?si=x,  The  Band "
            ),
        )])
        .unwrap();
        assert_eq!(r.artists.ids, vec![ID; 3]);
        assert_eq!(r.artists.names, vec!["the band".to_string()]);
        assert!(!r.hide_explicit && r.respect_private_session);
    }

    #[test]
    fn bad_values_name_their_variable() {
        for (var, val) in [
            ("HIDE_ARTISTS", "spotify:track:4Z8W4fKeB5YxbusRsdQVPb"),
            ("HIDE_TRACKS", "spotify:track:short"),
            (
                "HIDE_SHOWS",
                "https://open.spotify.com/episode/4Z8W4fKeB5YxbusRsdQVPb",
            ),
            ("HIDE_EXPLICIT", "maybe"),
            ("QUIET_HOURS", "23:00"),
            ("QUIET_HOURS", "25:00-07:00"),
            ("QUIET_HOURS", "07:00-07:00"),
            ("PUBLISH_DELAY_SECONDS", "soon"),
            ("RESPECT_PRIVATE_SESSION", "sometimes"),
        ] {
            let err = rules(&[(var, val)]).unwrap_err().to_string();
            assert!(err.starts_with(var), "{err}");
            assert!(err.contains(val), "{err}");
        }
        let err = rules(&[("QUIET_HOURS", "23:00-07:00"), ("TIMEZONE", "Mars/Base")])
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("TIMEZONE") && err.contains("Mars/Base"),
            "{err}"
        );
        let err = rules(&[("TIMEZONE", "Nowhere/City")])
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("TIMEZONE"), "{err}");
    }
}
