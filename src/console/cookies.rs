//! The few cookies of the console, read and written by hand: every one `HttpOnly`,
//! `Path=/owner`, `Secure` unless the console is served over plain http on loopback.

use std::time::Duration;

use axum::http::{header, HeaderMap, HeaderValue};

/// The owner session (`SameSite=Strict`, at most 12 hours).
pub const SESSION: &str = "np_owner_session";
/// The sign-in in progress (`SameSite=Lax`: it must come back with Spotify's redirect, a
/// cross-site navigation; 10 minutes).
pub const SIGN_IN: &str = "np_owner_signin";

/// The value of cookie `name` in the request, if sent (the first one).
pub fn get<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v.trim().trim_matches('"'))
        .filter(|v| !v.is_empty())
}

/// A `Set-Cookie` value.
pub fn set(
    name: &str,
    value: &str,
    max_age: Duration,
    same_site: &str,
    secure: bool,
) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    let max_age_s = max_age.as_secs();
    HeaderValue::from_str(&format!(
        "{name}={value}; Path=/owner; Max-Age={max_age_s}; HttpOnly; SameSite={same_site}{secure}"
    ))
    .expect("cookie values are base64url and dots")
}

/// A `Set-Cookie` that removes cookie `name`.
pub fn clear(name: &str, same_site: &str, secure: bool) -> HeaderValue {
    set(name, "", Duration::ZERO, same_site, secure)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_named_cookie_among_others() {
        let mut h = HeaderMap::new();
        h.append(
            header::COOKIE,
            "a=1; np_owner_session=abc.def".parse().unwrap(),
        );
        h.append(header::COOKIE, "np_owner_signin=xyz".parse().unwrap());
        assert_eq!(get(&h, SESSION), Some("abc.def"));
        assert_eq!(get(&h, SIGN_IN), Some("xyz"));
        assert_eq!(get(&h, "missing"), None);
        let v = set(SESSION, "v", Duration::from_secs(60), "Strict", true);
        assert_eq!(
            v.to_str().unwrap(),
            "np_owner_session=v; Path=/owner; Max-Age=60; HttpOnly; SameSite=Strict; Secure"
        );
        assert!(!clear(SIGN_IN, "Lax", false)
            .to_str()
            .unwrap()
            .contains("Secure"));
    }
}
