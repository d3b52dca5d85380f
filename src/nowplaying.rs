//! `GET /api/spotify`: currently-playing, and recently-played when nothing plays; from Last.fm
//! with `SOURCE=lastfm`, or when Spotify can't be asked with `SOURCE=spotify,lastfm`.

use serde_json::Value;

use crate::cache::{Answer, AnswerCache};
use crate::error::Error;
use crate::keys::ANSWER_KEY;
use crate::model::NowPlaying;
use crate::source::{both_failed, falls_back, LastFm, Sources};
use crate::upstream::Upstream;

/// Returns the answer, through the cache; a stale object carries `"stale": true`.
pub async fn answer(
    cache: &AnswerCache,
    upstream: &Upstream,
    sources: &Sources,
    show_recent: bool,
) -> Answer {
    let ttl = cache.ttl();
    let mut answer = match sources {
        Sources::Spotify => {
            cache
                .get_or_fetch(ANSWER_KEY, ttl, || from_spotify(upstream, show_recent))
                .await
        }
        Sources::Lastfm(lastfm) => {
            cache
                .get_or_fetch(ANSWER_KEY, ttl, || from_lastfm(lastfm, show_recent))
                .await
        }
        // Spotify first; Last.fm when Spotify can't be asked, and (through the cache) during
        // Spotify's cooldown when no stale answer is left.
        Sources::SpotifyThenLastfm(lastfm) => {
            cache
                .get_or_fetch_with_fallback(
                    ANSWER_KEY,
                    ttl,
                    || spotify_then_lastfm(upstream, lastfm, show_recent),
                    || from_lastfm(lastfm, show_recent),
                )
                .await
        }
    };
    if answer.stale {
        if let Some(map) = answer.value.as_object_mut() {
            map.insert("stale".into(), true.into());
        }
    }
    answer
}

/// Asks Spotify, and Last.fm when Spotify can't be asked ([`falls_back`]).
async fn spotify_then_lastfm(
    upstream: &Upstream,
    lastfm: &LastFm,
    show_recent: bool,
) -> Result<Value, Error> {
    match from_spotify(upstream, show_recent).await {
        Err(e) if falls_back(&e) => {
            tracing::info!(error = %e, "Spotify can't be asked: answering from Last.fm");
            match from_lastfm(lastfm, show_recent).await {
                Ok(v) => Ok(v),
                Err(e2) => Err(both_failed(e, e2)),
            }
        }
        other => other,
    }
}

async fn from_spotify(upstream: &Upstream, show_recent: bool) -> Result<Value, Error> {
    let np = fetch(upstream, show_recent).await?;
    Ok(serde_json::to_value(np).expect("NowPlaying serialises"))
}

async fn from_lastfm(lastfm: &LastFm, show_recent: bool) -> Result<Value, Error> {
    let np = lastfm.now_playing(show_recent).await?;
    Ok(serde_json::to_value(np).expect("NowPlaying serialises"))
}

/// Reads Spotify: currently-playing, and recently-played when nothing plays.
async fn fetch(upstream: &Upstream, show_recent: bool) -> Result<Option<NowPlaying>, Error> {
    let spotify = upstream.spotify();
    let current = upstream
        .with_token(|token| async move { spotify.currently_playing(&token, upstream.now()).await })
        .await?;
    if current.is_some() || !show_recent {
        return Ok(current);
    }
    let recent = upstream
        .with_token(|token| async move { spotify.recently_played(&token, 1, upstream.now()).await })
        .await?;
    Ok(recent.into_iter().next())
}
