//! `GET /api/spotify`: currently-playing, and recently-played when nothing plays; from Last.fm
//! with `SOURCE=lastfm`, or when Spotify can't be asked with `SOURCE=spotify,lastfm`.

use serde_json::Value;

use crate::cache::{Answer, AnswerCache};
use crate::clock::Timestamp;
use crate::error::Error;
use crate::keys::ANSWER_KEY;
use crate::model::NowPlaying;
use crate::rules::Privacy;
use crate::source::{both_failed, falls_back, LastFm, Sources};
use crate::spotify::SpotifyError;
use crate::upstream::Upstream;

/// Returns the answer, through the cache; a stale object carries `"stale": true`.
pub async fn answer(
    cache: &AnswerCache,
    upstream: &Upstream,
    sources: &Sources,
    show_recent: bool,
    privacy: &Privacy,
) -> Answer {
    let ttl = cache.ttl();
    let mut answer = match sources {
        Sources::Spotify => {
            cache
                .get_or_fetch(ANSWER_KEY, ttl, || {
                    from_spotify(upstream, show_recent, privacy)
                })
                .await
        }
        Sources::Lastfm(lastfm) => {
            cache
                .get_or_fetch(ANSWER_KEY, ttl, || {
                    from_lastfm(lastfm, show_recent, privacy)
                })
                .await
        }
        // Spotify first; Last.fm when Spotify can't be asked, and (through the cache) during
        // Spotify's cooldown when no stale answer is left.
        Sources::SpotifyThenLastfm(lastfm) => {
            cache
                .get_or_fetch_with_fallback(
                    ANSWER_KEY,
                    ttl,
                    || spotify_then_lastfm(upstream, lastfm, show_recent, privacy),
                    || from_lastfm(lastfm, show_recent, privacy),
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
    privacy: &Privacy,
) -> Result<Value, Error> {
    match from_spotify(upstream, show_recent, privacy).await {
        Err(e) if falls_back(&e) => {
            tracing::info!(error = %e, "Spotify can't be asked: answering from Last.fm");
            match from_lastfm(lastfm, show_recent, privacy).await {
                Ok(v) => Ok(v),
                Err(e2) => Err(both_failed(e, e2)),
            }
        }
        other => other,
    }
}

async fn from_spotify(
    upstream: &Upstream,
    show_recent: bool,
    privacy: &Privacy,
) -> Result<Value, Error> {
    let np = fetch(upstream, show_recent, privacy).await?;
    Ok(serde_json::to_value(np).expect("NowPlaying serialises"))
}

async fn from_lastfm(
    lastfm: &LastFm,
    show_recent: bool,
    privacy: &Privacy,
) -> Result<Value, Error> {
    let np = lastfm.now_playing(show_recent, &privacy.rules).await?;
    Ok(serde_json::to_value(np).expect("NowPlaying serialises"))
}

/// Reads Spotify: the player (currently-playing when the private-session rule is off or its
/// scope missing), and recently-played when nothing visible plays; the rules decide what is
/// visible (`rules::Rules::choose`).
async fn fetch(
    upstream: &Upstream,
    show_recent: bool,
    privacy: &Privacy,
) -> Result<Option<NowPlaying>, Error> {
    let spotify = upstream.spotify();
    let now = upstream.now();
    let current = if privacy.asks_player() {
        match upstream
            .with_token(|token| async move { spotify.player(&token, now).await })
            .await
        {
            Err(Error::Spotify(SpotifyError::Forbidden(_))) => {
                privacy.player_refused();
                currently_playing(upstream, now).await?
            }
            other => other?,
        }
    } else {
        currently_playing(upstream, now).await?
    };
    let rules = &privacy.rules;
    // What plays is judged once, here: recently-played is asked only when it is hidden or
    // nothing plays, and `choose` then picks among the recent plays alone.
    if let Some(np) = &current {
        match rules.hides_play(np, None, now) {
            None => return Ok(current),
            Some(why) => tracing::debug!(?why, "what plays is hidden by a rule"),
        }
    }
    if !show_recent {
        return Ok(None);
    }
    let limit = rules.recent_to_ask(1);
    let recent = upstream
        .with_token(|token| async move { spotify.recently_played(&token, limit, now).await })
        .await?;
    Ok(rules.choose(None, recent, show_recent, now))
}

async fn currently_playing(
    upstream: &Upstream,
    now: Timestamp,
) -> Result<Option<NowPlaying>, Error> {
    let spotify = upstream.spotify();
    upstream
        .with_token(|token| async move { spotify.currently_playing(&token, now).await })
        .await
}
