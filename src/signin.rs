//! The OAuth pieces of the owner's sign-in, shared by `nowplaying authorize` and the console at
//! `/owner`: the scopes, a PKCE pair (S256), a random `state`, and Spotify's authorization URL.

use base64::Engine;
use sha2::Digest;

use crate::config::Config;
use crate::secret::Secret;

/// The scopes every installation needs.
pub const BASE_SCOPES: [&str; 2] = ["user-read-currently-playing", "user-read-recently-played"];

/// The scopes to ask for: the base two and those of the configured profile endpoints.
pub fn scopes(config: &Config) -> Vec<&'static str> {
    let mut scopes = BASE_SCOPES.to_vec();
    scopes.extend(config.profile_endpoints.extra_scopes());
    if config.rules.respect_private_session && config.source.uses_spotify() {
        // The player's device says whether a private session runs.
        scopes.push(crate::rules::PLAYBACK_STATE_SCOPE);
    }
    scopes
}

/// A PKCE pair: a random verifier (86 characters, RFC 7636 allows 43 to 128) and its S256 challenge.
pub fn pkce() -> (Secret, String) {
    let mut bytes = [0u8; 64];
    rand::Rng::fill(&mut rand::thread_rng(), &mut bytes[..]);
    let verifier = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(sha2::Sha256::digest(verifier.as_bytes()));
    (Secret::new(verifier), challenge)
}

/// A random `state` for one sign-in.
pub fn random_state() -> String {
    let bytes: [u8; 24] = rand::random();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// The authorization URL at `{accounts_base_url}/authorize`.
pub fn authorization_url(
    accounts_base_url: &str,
    client_id: &str,
    redirect_uri: &str,
    scopes: &[&str],
    state: &str,
    challenge: &str,
) -> String {
    let base = format!("{}/authorize", accounts_base_url.trim_end_matches('/'));
    url::Url::parse_with_params(
        &base,
        &[
            ("client_id", client_id),
            ("response_type", "code"),
            ("redirect_uri", redirect_uri),
            ("scope", &scopes.join(" ")),
            ("state", state),
            ("code_challenge_method", "S256"),
            ("code_challenge", challenge),
        ],
    )
    .expect("the accounts base URL was validated by the configuration")
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(pairs: &[(&str, &str)]) -> Config {
        Config::from_pairs(pairs)
    }

    #[test]
    fn a_sign_in_asks_for_the_playlists_scope_only_with_the_playlists_on() {
        let on = scopes(&config(&[("PROFILE_ENDPOINTS", "playlists")]));
        assert!(on.contains(&crate::config::PLAYLISTS_SCOPE), "{on:?}");
        let off = scopes(&config(&[("PROFILE_ENDPOINTS", "top")]));
        assert!(!off.contains(&crate::config::PLAYLISTS_SCOPE), "{off:?}");
    }
}
