//! The configuration's unit tests: every variable, its default, its bounds and its error.

use super::*;
use std::collections::HashMap;

fn cfg(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Config::from_lookup(|k| map.get(k).cloned())
}

#[test]
fn defaults() {
    let c = cfg(&[("HOME", "/home/me")]).unwrap();
    assert_eq!(c.cache_ttl, Duration::from_secs(5));
    assert_eq!(c.allowed_origins, AllowedOrigins::Any);
    assert!(c.show_recent);
    assert_eq!(c.api_base_url, DEFAULT_API_BASE_URL);
    assert_eq!(
        c.credentials_path,
        PathBuf::from("/home/me/.config/nowplaying/credentials.json")
    );
    assert!(c.token_secret_id.is_none() && c.cache_table.is_none());
    assert_eq!(c.recent_ttl, Duration::from_secs(30));
    assert_eq!(c.top_ttl, Duration::from_secs(3600));
    assert_eq!(c.saved_ttl, Duration::from_secs(300));
    assert_eq!(c.profile_endpoints, ProfileEndpoints::default());
}

#[test]
fn profile_windows() {
    let c = cfg(&[
        ("RECENT_TTL_SECONDS", "10"),
        ("TOP_TTL_SECONDS", "86400"),
        ("SAVED_TTL_SECONDS", " 1 "),
    ])
    .unwrap();
    assert_eq!(c.recent_ttl, Duration::from_secs(10));
    assert_eq!(c.top_ttl, Duration::from_secs(86_400));
    assert_eq!(c.saved_ttl, Duration::from_secs(1));
}

#[test]
fn errors_name_the_variable_value_and_what_is_accepted() {
    for (var, val) in [
        ("CACHE_TTL_SECONDS", "five"),
        ("CACHE_TTL_SECONDS", "3601"),
        ("SHOW_RECENT", "maybe"),
        ("ALLOWED_ORIGINS", "example.com"),
        ("PROFILE_ENDPOINTS", "top,everything"),
        ("RECENT_TTL_SECONDS", "0"),
        ("TOP_TTL_SECONDS", "an hour"),
        ("SAVED_TTL_SECONDS", "86401"),
        ("SPOTIFY_API_BASE_URL", "not a url"),
    ] {
        let err = cfg(&[(var, val)]).unwrap_err().to_string();
        assert!(err.starts_with(var), "{err}");
        assert!(err.contains(val), "{err}");
        assert!(err.contains("expected"), "{err}");
        assert!(!err.contains('\n'));
    }
}

#[test]
fn origins_list_and_matching() {
    let c = cfg(&[("ALLOWED_ORIGINS", "https://me.dev, https://www.me.dev/")]).unwrap();
    assert_eq!(
        c.allowed_origins.allow(Some("https://www.me.dev")),
        Some("https://www.me.dev".into())
    );
    assert_eq!(c.allowed_origins.allow(Some("https://evil.dev")), None);
    assert_eq!(c.allowed_origins.allow(None), None);
    assert_eq!(AllowedOrigins::Any.allow(None), Some("*".into()));
}

#[test]
fn profile_endpoints_and_bools() {
    let c = cfg(&[
        ("PROFILE_ENDPOINTS", "top, saved"),
        ("SHOW_RECENT", "false"),
    ])
    .unwrap();
    assert!(c.profile_endpoints.top && c.profile_endpoints.saved);
    assert!(!c.show_recent);
    assert_eq!(
        c.profile_endpoints.extra_scopes(),
        vec!["user-top-read", "user-library-read"]
    );
    let c = cfg(&[
        ("PROFILE_ENDPOINTS", "playlists"),
        ("PLAYLISTS_TTL_SECONDS", "60"),
    ])
    .unwrap();
    assert!(c.profile_endpoints.playlists && !c.profile_endpoints.top);
    assert_eq!(c.playlists_ttl, Duration::from_secs(60));
    assert_eq!(
        c.profile_endpoints.extra_scopes(),
        vec!["playlist-read-private"]
    );
}

#[test]
fn sources() {
    let c = cfg(&[]).unwrap();
    assert_eq!(c.source, SourceChoice::Spotify);
    assert_eq!(c.lastfm_api_base_url, "https://ws.audioscrobbler.com/2.0");
    assert!(c.lastfm_user.is_none() && c.lastfm_api_key.is_none());
    let c = cfg(&[
        ("SOURCE", " Spotify , lastfm "),
        ("LASTFM_USER", "rj"),
        ("LASTFM_API_KEY", "0123456789abcdef0123456789abcdef"),
    ])
    .unwrap();
    assert_eq!(c.source, SourceChoice::SpotifyThenLastfm);
    assert!(c.source.uses_spotify() && c.source.uses_lastfm());
    assert_eq!(c.lastfm_user.as_deref(), Some("rj"));
    assert!(!format!("{c:?}").contains("0123456789abcdef"));
    let c = cfg(&[("SOURCE", "lastfm"), ("LASTFM_USER", "rj")]).unwrap();
    assert!(!c.source.uses_spotify());
}

#[test]
fn lastfm_errors_name_the_variable_and_never_show_the_key() {
    let key = "0123456789abcdef0123456789abcdef";
    for (pairs, var) in [
        (vec![("SOURCE", "lastfm,spotify")], "SOURCE"),
        (vec![("SOURCE", "apple")], "SOURCE"),
        (vec![("SOURCE", "lastfm")], "LASTFM_USER"),
        (vec![("SOURCE", "spotify,lastfm")], "LASTFM_USER"),
        (
            vec![("SOURCE", "lastfm"), ("LASTFM_USER", "a b/c")],
            "LASTFM_USER",
        ),
        (
            vec![
                ("SOURCE", "lastfm"),
                ("LASTFM_USER", "rj"),
                ("TOKEN_SECRET_ID", "np"),
                ("LASTFM_API_KEY", key),
            ],
            "LASTFM_API_KEY",
        ),
        (
            vec![("LASTFM_USER", "rj"), ("LASTFM_API_KEY", "short!")],
            "LASTFM_API_KEY",
        ),
        (
            vec![("LASTFM_API_BASE_URL", "ftp://x")],
            "LASTFM_API_BASE_URL",
        ),
    ] {
        let err = cfg(&pairs).unwrap_err().to_string();
        assert!(err.starts_with(var), "{err}");
        assert!(err.contains("expected"), "{err}");
        assert!(!err.contains('\n'));
        assert!(!err.contains(key) && !err.contains("short!"), "{err}");
    }
    let err = cfg(&[
        ("LASTFM_USER", "rj"),
        ("TOKEN_SECRET_ID", "np"),
        ("LASTFM_API_KEY", key),
    ])
    .unwrap_err()
    .to_string();
    assert!(err.contains("lastfm_api_key"), "{err}");
}

#[test]
fn client_secret_is_redacted_in_debug() {
    let c = cfg(&[("SPOTIFY_CLIENT_SECRET", "s3cr3t-value")]).unwrap();
    assert!(!format!("{c:?}").contains("s3cr3t-value"));
}

#[test]
fn the_history_is_a_file_beside_the_credentials_or_a_table_with_the_shared_cache() {
    let c = cfg(&[
        ("PROFILE_ENDPOINTS", "history"),
        (
            "NOWPLAYING_CREDENTIALS",
            "/home/me/.config/nowplaying/credentials.json",
        ),
    ])
    .unwrap();
    assert!(c.profile_endpoints.history && !c.profile_endpoints.top);
    assert!(c.profile_endpoints.extra_scopes().is_empty());
    assert_eq!(
        c.history_path(),
        std::path::PathBuf::from("/home/me/.config/nowplaying/history.sqlite3")
    );
    let err = cfg(&[("PROFILE_ENDPOINTS", "history"), ("CACHE_TABLE", "t")])
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("HISTORY_TABLE"), "{err}");
    let c = cfg(&[
        ("PROFILE_ENDPOINTS", "history"),
        ("CACHE_TABLE", "t"),
        ("HISTORY_TABLE", "h"),
    ])
    .unwrap();
    assert_eq!(c.history_table.as_deref(), Some("h"));
    // Without the history the table is not needed.
    assert!(cfg(&[("CACHE_TABLE", "t")]).is_ok());
}
