//! Query parameters: unknown and repeated names refused, values checked, every error naming the
//! parameter and what it accepts.

use std::collections::HashMap;

use serde_json::{json, Value};

use crate::color::Rgb;
use crate::lists::{TimeRange, TopKind};
use crate::svg::{CardStyle, Theme, IDLE_TEXT_MAX, RADIUS, RADIUS_MAX, WIDTH, WIDTH_RANGE};

/// A query parameter that cannot be used: the parameter and what it accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParamError {
    pub parameter: String,
    pub accepted: String,
    pub message: String,
}

impl ParamError {
    pub fn to_json(&self) -> Value {
        json!({
            "error": self.message,
            "parameter": self.parameter,
            "accepted": self.accepted,
        })
    }
}

/// The query string as name → value, refusing parameters not in `accepted` and repeated ones.
/// `accepted` pairs each name with what it accepts (for the error messages).
pub fn parse_query(
    raw: Option<&str>,
    accepted: &[(&'static str, &'static str)],
) -> Result<HashMap<String, String>, ParamError> {
    let names: Vec<&str> = accepted.iter().map(|(n, _)| *n).collect();
    let mut out = HashMap::new();
    for (k, v) in url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes()) {
        if k.is_empty() && v.is_empty() {
            continue; // "?" or "a=1&&b=2"
        }
        let Some((name, what)) = accepted.iter().find(|(n, _)| *n == k) else {
            let shown: String = k.chars().take(60).collect();
            return Err(ParamError {
                parameter: shown.clone(),
                accepted: names.join(", "),
                message: if names.is_empty() {
                    format!("unknown parameter {shown:?}: this endpoint takes no parameters")
                } else {
                    format!(
                        "unknown parameter {shown:?}: this endpoint accepts {}",
                        names.join(", ")
                    )
                },
            });
        };
        if out.insert(k.to_string(), v.trim().to_string()).is_some() {
            return Err(ParamError {
                parameter: name.to_string(),
                accepted: what.to_string(),
                message: format!(
                    "parameter {name:?} is given more than once: give it once, {what}"
                ),
            });
        }
    }
    Ok(out)
}

/// The error for a value a parameter does not accept.
pub fn bad_value(name: &str, value: &str, accepted: &str) -> ParamError {
    let shown: String = value.chars().take(60).collect();
    ParamError {
        parameter: name.to_string(),
        accepted: accepted.to_string(),
        message: format!("{name}={shown:?} is not valid: expected {accepted}"),
    }
}

/// The parameters every card takes, with what each accepts (docs/api.md lists them with
/// their defaults and bounds).
pub const CARD_PARAMETERS: &[(&str, &str)] = &[
    ("theme", "light, dark or art (default light)"),
    ("bg", HEX_ACCEPTED),
    ("text", HEX_ACCEPTED),
    ("accent", HEX_ACCEPTED),
    ("radius", "a whole number from 0 to 30 (default 12)"),
    ("width", "a whole number from 300 to 600 (default 400)"),
    ("hide_art", BOOL_ACCEPTED),
    ("hide_progress", BOOL_ACCEPTED),
    ("hide_source", BOOL_ACCEPTED),
    ("transparent", BOOL_ACCEPTED),
    ("idle_text", "text of 1 to 60 characters"),
];

const HEX_ACCEPTED: &str = crate::color::HEX_ACCEPTED;
const BOOL_ACCEPTED: &str = "true, false, 1 or 0 (default false)";

/// A card endpoint's own parameters followed by [`CARD_PARAMETERS`].
pub fn with_card(own: &[(&'static str, &'static str)]) -> Vec<(&'static str, &'static str)> {
    own.iter().chain(CARD_PARAMETERS).copied().collect()
}

/// What a card parameter accepts.
fn card_accepts(name: &str) -> &'static str {
    CARD_PARAMETERS
        .iter()
        .find(|(n, _)| *n == name)
        .map_or("", |(_, a)| *a)
}

/// The card parameters of a parsed query (see [`CARD_PARAMETERS`]); the rest are ignored.
pub fn card_style(params: &HashMap<String, String>) -> Result<CardStyle, ParamError> {
    let bad = |name: &str, v: &str| bad_value(name, v, card_accepts(name));
    let colour = |name: &str| -> Result<Option<Rgb>, ParamError> {
        params
            .get(name)
            .map(|v| v.parse::<Rgb>().map_err(|_| bad(name, v)))
            .transpose()
    };
    let number =
        |name: &str, range: std::ops::RangeInclusive<u32>, default: u32| match params.get(name) {
            None => Ok(default),
            Some(v) => match v.parse::<u32>() {
                Ok(n) if range.contains(&n) && !v.starts_with('+') => Ok(n),
                _ => Err(bad(name, v)),
            },
        };
    let flag = |name: &str| match params.get(name).map(String::as_str) {
        None | Some("false") | Some("0") => Ok(false),
        Some("true") | Some("1") => Ok(true),
        Some(v) => Err(bad(name, v)),
    };
    let theme = match params.get("theme") {
        None => Theme::default(),
        Some(v) => v.parse::<Theme>().map_err(|_| bad("theme", v))?,
    };
    let idle_text = match params.get("idle_text") {
        None => None,
        Some(v) if !v.is_empty() && v.chars().count() <= IDLE_TEXT_MAX => Some(v.clone()),
        Some(v) => return Err(bad("idle_text", v)),
    };
    Ok(CardStyle {
        theme,
        bg: colour("bg")?,
        text: colour("text")?,
        accent: colour("accent")?,
        radius: number("radius", 0..=RADIUS_MAX, RADIUS)?,
        width: number("width", WIDTH_RANGE, WIDTH)?,
        hide_art: flag("hide_art")?,
        hide_progress: flag("hide_progress")?,
        hide_source: flag("hide_source")?,
        transparent: flag("transparent")?,
        idle_text,
    })
}

/// The parsed parameters in one canonical string (sorted by name), for an `ETag` that covers
/// them.
pub fn canonical(params: &HashMap<String, String>) -> String {
    let mut pairs: Vec<_> = params.iter().collect();
    pairs.sort();
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

pub const LIMIT_ACCEPTED: &str = "a whole number from 1 to 50 (default 10)";
pub const RANGE_ACCEPTED: &str = "short_term, medium_term or long_term (default short_term)";

/// `limit`: 1 to `max`, `default` when absent.
pub fn limit(
    params: &HashMap<String, String>,
    max: u8,
    default: u8,
    accepted: &str,
) -> Result<u8, ParamError> {
    match params.get("limit") {
        None => Ok(default),
        Some(v) => match v.parse::<u8>() {
            Ok(n) if (1..=max).contains(&n) && !v.starts_with('+') => Ok(n),
            _ => Err(bad_value("limit", v, accepted)),
        },
    }
}

/// `range`: short_term (default), medium_term or long_term.
pub fn range(params: &HashMap<String, String>) -> Result<TimeRange, ParamError> {
    match params.get("range") {
        None => Ok(TimeRange::default()),
        Some(v) => v
            .parse::<TimeRange>()
            .map_err(|_| bad_value("range", v, RANGE_ACCEPTED)),
    }
}

/// `kind`: tracks (default) or artists.
pub fn kind(params: &HashMap<String, String>) -> Result<TopKind, ParamError> {
    match params.get("kind") {
        None => Ok(TopKind::Tracks),
        Some(v) => v
            .parse::<TopKind>()
            .map_err(|_| bad_value("kind", v, TopKind::ACCEPTED)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LR: &[(&str, &str)] = &[("limit", LIMIT_ACCEPTED), ("range", RANGE_ACCEPTED)];

    #[test]
    fn limits() {
        let ok = |q: &str| limit(&parse_query(Some(q), LR).unwrap(), 50, 10, LIMIT_ACCEPTED);
        assert_eq!(ok(""), Ok(10));
        assert_eq!(ok("limit=1"), Ok(1));
        assert_eq!(ok("limit=50"), Ok(50));
        assert_eq!(ok("limit=%2007"), Ok(7));
        for bad in [
            "limit=0",
            "limit=51",
            "limit=abc",
            "limit=",
            "limit=-1",
            "limit=1.5",
            "limit=%2B5",
            "limit=300",
        ] {
            let e = ok(bad).unwrap_err();
            assert_eq!(e.parameter, "limit", "{bad}");
            assert!(e.message.contains("1 to 50"), "{}", e.message);
        }
    }

    #[test]
    fn card_parameters_parse_with_bounds_and_defaults() {
        let all = with_card(&[]);
        let style = |q: &str| card_style(&parse_query(Some(q), &all)?);
        assert_eq!(style(""), Ok(CardStyle::default()));
        let s = style(
            "theme=art&bg=%23abc&text=112233&accent=%23FF0000&radius=0&width=600&hide_art=1\
             &hide_progress=true&hide_source=0&transparent=false&idle_text=On+a+break",
        )
        .unwrap();
        assert_eq!(s.theme, Theme::Art);
        assert_eq!(s.bg, Some(Rgb(0xaa, 0xbb, 0xcc)));
        assert_eq!(s.text, Some(Rgb(0x11, 0x22, 0x33)));
        assert_eq!(s.accent, Some(Rgb(255, 0, 0)));
        assert_eq!((s.radius, s.width), (0, 600));
        assert!(s.hide_art && s.hide_progress && !s.hide_source && !s.transparent);
        assert_eq!(s.idle_text.as_deref(), Some("On a break"));
        assert_eq!(style("width=300&radius=30").unwrap().width, 300);
        for (bad, name) in [
            ("bg=red", "bg"),
            ("text=%23ffff", "text"),
            ("accent=", "accent"),
            ("radius=31", "radius"),
            ("radius=-1", "radius"),
            ("width=299", "width"),
            ("width=601", "width"),
            ("width=%2B400", "width"),
            ("hide_art=yes", "hide_art"),
            ("hide_progress=", "hide_progress"),
            ("hide_source=2", "hide_source"),
            ("transparent=TRUE", "transparent"),
            ("idle_text=", "idle_text"),
            ("theme=neon", "theme"),
        ] {
            let e = style(bad).unwrap_err();
            assert_eq!(e.parameter, name, "{bad}");
            assert_eq!(e.accepted, card_accepts(name), "{bad}");
        }
        let long = "é".repeat(61);
        let e = style(&format!("idle_text={long}")).unwrap_err();
        assert!(e.message.contains(&"é".repeat(60)) && !e.message.contains(&long));
        assert!(style(&format!("idle_text={}", "é".repeat(60))).is_ok());
        let e = parse_query(Some("colour=red"), &all).unwrap_err();
        assert_eq!(e.parameter, "colour");
        assert_eq!(
            canonical(&parse_query(Some("b=1&a=2"), &[("a", ""), ("b", "")]).unwrap()),
            "a=2&b=1"
        );
    }

    #[test]
    fn ranges_unknown_and_repeated() {
        let p = |q: &str| parse_query(Some(q), LR);
        assert_eq!(range(&p("").unwrap()), Ok(TimeRange::ShortTerm));
        assert_eq!(
            range(&p("range=long_term").unwrap()),
            Ok(TimeRange::LongTerm)
        );
        let e = range(&p("range=forever").unwrap()).unwrap_err();
        assert_eq!(e.parameter, "range");
        assert!(e.message.contains("forever") && e.message.contains("medium_term"));
        let e = p("limit=5&foo=1").unwrap_err();
        assert_eq!(e.parameter, "foo");
        assert!(e.message.contains("limit, range"), "{}", e.message);
        let e = p("limit=5&limit=6").unwrap_err();
        assert_eq!(e.parameter, "limit");
        assert!(p("&&limit=5&").is_ok());
        let e = parse_query(Some("x=1"), &[]).unwrap_err();
        assert!(e.message.contains("no parameters"));
    }
}
