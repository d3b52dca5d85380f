//! The whole HTTP surface: one axum Router, served by `lambda_http::run` on Lambda and by
//! `nowplaying serve`'s connection loop (`cli::connections`) locally. No handler knows which door a request came through.

mod assets;
mod cards;
mod history;
mod history_params;
mod json;
mod middleware;
pub mod params;
pub mod respond;
pub mod urls;

use std::sync::Arc;

use axum::routing::{get, MethodRouter};
use axum::Router;

use crate::art::ArtCache;
use crate::cache::AnswerCache;
use crate::config::AllowedOrigins;
use crate::lists::ProfileSettings;
use crate::source::Sources;
use crate::tokens::TokenKeeper;
use crate::upstream::Upstream;

pub use cards::CARD_POLICY;
pub use respond::{cache_control, cacheable, json_answer, ApiError};

/// Everything the handlers share; built once per process.
pub struct AppState {
    /// `OPEN_FALLBACK_URL`: where `/api/spotify/open` goes when there is no song to open.
    pub open_fallback_url: Option<String>,
    /// The answer cache (every answer goes through it).
    pub cache: AnswerCache,
    /// Spotify, with the shared access token.
    pub upstream: Upstream,
    /// The token keeper, so an answer on Lambda waits for a refresh in flight.
    pub tokens: TokenKeeper,
    /// `SHOW_RECENT`: the recently played track when nothing plays.
    pub show_recent: bool,
    pub allowed_origins: AllowedOrigins,
    /// Album art for the SVG card, fetched server side.
    pub art: ArtCache,
    /// Hosts album art may be fetched from (Spotify's image CDN, plus the configured API host
    /// for emulators and the demo).
    pub art_hosts: Vec<String>,
    /// The listening profile endpoints: which are on, and their cache windows.
    pub profile: ProfileSettings,
    /// Where answers come from (`SOURCE`): Spotify, Last.fm, or both.
    pub sources: Sources,
    /// The owner's console at `/owner`, when `OWNER_SPOTIFY_ID` is set.
    pub console: Option<Arc<crate::console::Console>>,
    /// Which links and image URLs may leave the service (`https:`, and the configured plain
    /// `http:` API hosts).
    pub urls: urls::UrlPolicy,
    /// `CDN_ORIGIN_SECRET`: when set, only requests carrying it (from CloudFront) are answered,
    /// except the owner's console.
    pub cdn_origin_secret: Option<crate::secret::Secret>,
    /// The listening history (`PROFILE_ENDPOINTS=history`), read by `/api/spotify/history*`.
    pub history: Option<Arc<dyn crate::history::HistoryStore>>,
    /// The privacy rules, as this process applies them.
    pub privacy: Arc<crate::rules::Privacy>,
    /// Collection into the history (the schedule, `nowplaying collect`, `serve`'s timer).
    pub collector: Option<crate::collect::Collector>,
}

pub type SharedApp = Arc<AppState>;

/// The largest album image the SVG card will inline. The card takes Spotify's 300 px image
/// (about 20 to 40 KB, see [`crate::svg::card_art_url`]); a larger one is not embedded (the card
/// draws its placeholder), so no card is over about 70 KB even when only a 640 px image exists.
pub const ART_MAX_BYTES: usize = 48 * 1024;

impl AppState {
    /// The now-playing answer as every front door shows it: from the cache (and its sources),
    /// with only the URLs that may leave the service.
    pub async fn shown_answer(&self) -> crate::cache::Answer {
        let mut answer = crate::nowplaying::answer(
            &self.cache,
            &self.upstream,
            &self.sources,
            self.show_recent,
            &self.privacy,
        )
        .await;
        self.urls.scrub(&mut answer.value);
        answer
    }
}

impl AppState {
    /// One collection into the history from the configured source; `None` when the history is
    /// off.
    pub async fn collect(
        &self,
    ) -> Option<Result<crate::collect::Collected, crate::collect::CollectError>> {
        let collector = self.collector.as_ref()?;
        Some(match &self.sources {
            // Last.fm alone: its scrobbles; with Spotify first, Spotify's plays.
            crate::source::Sources::Lastfm(lastfm) => {
                collector.lastfm(lastfm, self.upstream.now()).await
            }
            _ => collector.spotify(&self.upstream).await,
        })
    }
}

/// The Router for both front doors.
pub fn router(app: SharedApp) -> Router {
    use middleware::page_method_not_allowed;
    let console = app.console.clone();
    let app_for_guard = app.clone();
    let router = Router::new()
        .route("/api/spotify", api(get(json::now_playing)))
        .route("/api/spotify.svg", api(get(cards::now_playing)))
        .route("/api/spotify/open", api(get(json::open)))
        .route("/api/spotify/recent", api(get(json::recent)))
        .route("/api/spotify/recent.svg", api(get(cards::recent)))
        .route("/api/spotify/playlists.svg", api(get(cards::playlists)))
        .route("/api/spotify/top/{kind}", api(get(json::top)))
        .route("/api/spotify/top.svg", api(get(cards::top)))
        .route("/api/spotify/history", api(get(history::page)))
        .route("/api/spotify/history/stats", api(get(history::stats)))
        .route("/api/spotify/history.svg", api(get(history::calendar)))
        .route("/api/spotify/playlists", api(get(json::playlists)))
        .route("/api/spotify/saved", api(get(json::saved)))
        .route(
            "/widget.js",
            get(assets::widget).fallback(page_method_not_allowed),
        )
        .route("/", get(assets::index).fallback(page_method_not_allowed))
        .fallback(middleware::not_found)
        .layer(axum::middleware::from_fn_with_state(
            app.clone(),
            middleware::settle_before_answering,
        ))
        .layer(axum::middleware::from_fn_with_state(
            app.clone(),
            middleware::headers,
        ))
        .with_state(app);
    // Without the console every /owner path falls through to the 404 above.
    let router = match console {
        Some(console) => router.merge(crate::console::router(console)),
        None => router,
    };
    // Outermost: a request that skipped the CDN costs nothing beyond its 403.
    router.layer(axum::middleware::from_fn_with_state(
        app_for_guard,
        middleware::through_cdn_only,
    ))
}

/// A public API route: `method` (its GET), the CORS preflight, and a 405 with a JSON reason
/// for every other method.
fn api(method: MethodRouter<SharedApp>) -> MethodRouter<SharedApp> {
    method
        .options(middleware::preflight)
        .fallback(middleware::method_not_allowed)
}
