//! Query parameters: unknown and repeated names refused, values checked, every error naming the
//! parameter and what it accepts.

use std::collections::HashMap;

use serde_json::{json, Value};

use crate::lists::{TimeRange, TopKind};

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
