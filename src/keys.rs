//! Every shared-state key, in one place, and the lists of them the owner's commands clear.

/// The answer of `GET /api/spotify`.
pub const ANSWER_KEY: &str = "answer:now";
/// The listening history (`/api/spotify/recent`).
pub const RECENT_KEY: &str = "answer:recent";
/// The saved tracks (`/api/spotify/saved`).
pub const SAVED_KEY: &str = "answer:saved";
/// The owner's public playlists (`/api/spotify/playlists`).
pub const PLAYLISTS_KEY: &str = "answer:playlists";
/// The listening history's first page over the default range (`/api/spotify/history`).
pub const HISTORY_KEY: &str = "answer:history";
/// The listening history's statistics over the default range (`/api/spotify/history/stats`
/// and the calendar card).
pub const HISTORY_STATS_KEY: &str = "answer:history:stats";
/// The top lists' kinds and time ranges, as Spotify names them.
pub const TOP_KINDS: [&str; 2] = ["tracks", "artists"];
pub const TOP_RANGES: [&str; 3] = ["short_term", "medium_term", "long_term"];

/// A top list's answer: one key per kind and range (never per `limit`).
pub fn top_key(kind: &str, range: &str) -> String {
    format!("answer:top:{kind}:{range}")
}

/// Until when no process asks Spotify (a `429`, or a `401` to a fresh token).
pub const COOLDOWN_KEY: &str = "cooldown";
/// Until when no process asks Last.fm (its error 29). Its own key: with `SOURCE=spotify,lastfm`
/// a pause of the fallback must not stop Spotify.
pub const LASTFM_COOLDOWN_KEY: &str = "cooldown:lastfm";
/// The privacy switch (`nowplaying hide`): value `true` while hidden.
pub const HIDDEN_KEY: &str = "hidden";

/// The access token, sealed.
pub const TOKEN_KEY: &str = "token";
/// The refresh lease: who may ask Spotify for a new access token.
pub const TOKEN_LEASE_KEY: &str = "lease:token";
/// A rotated refresh token not yet in the credential store (write-ahead copy), sealed.
pub const PENDING_REFRESH_KEY: &str = "pending-refresh-token";
/// No longer written: a copy of the newest refresh token that could go stale (issue 18). The
/// owner's commands still delete it from tables written before.
pub const LATEST_REFRESH_KEY: &str = "latest-refresh-token";
/// Written (never deleted) by `authorize` and `disconnect`: a new value tells every process that
/// the stored credentials were replaced or removed.
pub const AUTH_GENERATION_KEY: &str = "auth-generation";

/// Every item that holds a token, for `authorize` and `disconnect` to delete at once.
pub const TOKEN_ITEMS: [&str; 3] = [TOKEN_KEY, PENDING_REFRESH_KEY, LATEST_REFRESH_KEY];

/// The item in which an older version kept the lease that guards fetching the answer under
/// `key`. This version keeps that lease on the answer's own item, and never writes this one.
pub fn lease_key(key: &str) -> String {
    format!("lease:{key}")
}

/// Every cached answer's key (`/api/spotify` and every list), for the owner's commands that
/// drop them all (`disconnect`, `authorize`, `hide`).
pub fn all_answer_keys() -> Vec<String> {
    let mut keys = vec![
        ANSWER_KEY.to_string(),
        RECENT_KEY.to_string(),
        SAVED_KEY.to_string(),
        PLAYLISTS_KEY.to_string(),
        HISTORY_KEY.to_string(),
        HISTORY_STATS_KEY.to_string(),
    ];
    for kind in TOP_KINDS {
        for range in TOP_RANGES {
            keys.push(top_key(kind, range));
        }
    }
    keys
}
