//! `GET /api/spotify`: currently-playing, and recently-played when nothing plays.

use crate::cache::{Answer, AnswerCache};
use crate::error::Error;
use crate::keys::ANSWER_KEY;
use crate::model::NowPlaying;
use crate::upstream::Upstream;

/// The answer, through the cache; a stale object carries `"stale": true`.
pub async fn answer(cache: &AnswerCache, upstream: &Upstream, show_recent: bool) -> Answer {
    let mut answer = cache
        .get_or_fetch(ANSWER_KEY, cache.ttl_ms(), || async {
            let np = fetch(upstream, show_recent).await?;
            Ok(serde_json::to_value(np).expect("NowPlaying serialises"))
        })
        .await;
    if answer.stale {
        if let Some(map) = answer.value.as_object_mut() {
            map.insert("stale".into(), true.into());
        }
    }
    answer
}

/// Reads Spotify: currently-playing, and recently-played when nothing plays.
async fn fetch(upstream: &Upstream, show_recent: bool) -> Result<Option<NowPlaying>, Error> {
    let spotify = upstream.spotify();
    let current = upstream
        .with_token(
            |token| async move { spotify.currently_playing(&token, upstream.now_ms()).await },
        )
        .await?;
    if current.is_some() || !show_recent {
        return Ok(current);
    }
    let recent = upstream
        .with_token(
            |token| async move { spotify.recently_played(&token, 1, upstream.now_ms()).await },
        )
        .await?;
    Ok(recent.into_iter().next())
}
