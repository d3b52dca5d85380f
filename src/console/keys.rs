//! The console's keys, both derived with HKDF-SHA256 from the stored `console_key` (created
//! before any sign-in: on AWS in a secret of its own, `CONSOLE_KEY_SECRET_ID`, by the template's
//! `GenerateSecretString`; locally in the credentials file, by `nowplaying serve`): an HMAC-SHA256 key that signs owner sessions, and an
//! AES-256-GCM key that seals the sign-in in progress (state, PKCE verifier, and on first setup the
//! app's client id and secret) into its cookie.

use base64::Engine;
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use serde::{de::DeserializeOwned, Deserialize, Serialize};
use sha2::Sha256;

use crate::clock::Timestamp;
use crate::seal::Sealer;
use crate::secret::Secret;

/// The field of the credentials document holding the key.
pub const CONSOLE_KEY_FIELD: &str = "console_key";
/// The shortest key accepted (characters of a random string).
pub const MIN_KEY_LEN: usize = 32;

const SALT: &[u8] = b"nowplaying/console/v1";
const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// A new random key: 32 random bytes, base64url (43 characters).
pub fn new_console_key() -> Secret {
    let bytes: [u8; 32] = rand::random();
    Secret::new(B64.encode(bytes))
}

/// The two derived keys.
#[derive(Clone)]
pub struct Keys {
    mac: [u8; 32],
    sealer: Sealer,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Keys([redacted])")
    }
}

impl Keys {
    /// `None` when the key is too short to be a random key.
    pub fn from_console_key(key: &Secret) -> Option<Keys> {
        if key.expose().len() < MIN_KEY_LEN {
            return None;
        }
        let hk = Hkdf::<Sha256>::new(Some(SALT), key.expose().as_bytes());
        let mut mac = [0u8; 32];
        hk.expand(b"owner session mac", &mut mac)
            .expect("32 bytes is a valid HKDF-SHA256 output length");
        Some(Keys {
            mac,
            sealer: Sealer::derive(key.expose().as_bytes(), SALT, b"sign-in cookie seal"),
        })
    }

    fn tag(&self, purpose: &str, payload: &[u8]) -> Hmac<Sha256> {
        let mut m = Hmac::<Sha256>::new_from_slice(&self.mac).expect("HMAC takes any key length");
        m.update(purpose.as_bytes());
        m.update(b"\0");
        m.update(payload);
        m
    }

    /// `payload` as JSON, signed: `base64url(json).base64url(hmac)`.
    pub fn sign<T: Serialize>(&self, purpose: &str, payload: &T) -> String {
        let json = serde_json::to_vec(payload).expect("a session serialises");
        let tag = self.tag(purpose, &json).finalize().into_bytes();
        format!("{}.{}", B64.encode(&json), B64.encode(tag))
    }

    /// The payload of a token [`Keys::sign`] made for `purpose`; `None` when forged or damaged.
    /// The tag is compared in constant time.
    pub fn verify<T: DeserializeOwned>(&self, purpose: &str, token: &str) -> Option<T> {
        let (body, tag) = token.split_once('.')?;
        let json = B64.decode(body).ok()?;
        let tag = B64.decode(tag).ok()?;
        self.tag(purpose, &json).verify_slice(&tag).ok()?;
        serde_json::from_slice(&json).ok()
    }

    /// `payload` as JSON, encrypted and authenticated for `purpose`.
    pub fn seal<T: Serialize>(&self, purpose: &str, payload: &T) -> String {
        let json = serde_json::to_string(payload).expect("a sign-in serialises");
        // The sealer's text form is `v1.` + standard base64 (no padding); a cookie value wants
        // no `+` or `/` trouble, so the `.`-prefixed text is made URL-safe.
        self.sealer
            .seal(purpose, &json)
            .replace('+', "-")
            .replace('/', "_")
    }

    /// The payload [`Keys::seal`] sealed for `purpose`; `None` when forged, damaged or sealed
    /// under another key.
    pub fn open<T: DeserializeOwned>(&self, purpose: &str, sealed: &str) -> Option<T> {
        let text = sealed.replace('-', "+").replace('_', "/");
        let json = self.sealer.open(purpose, &text)?;
        serde_json::from_str(&json).ok()
    }
}

/// Compares two strings in constant time (for the length of the shorter).
pub fn same(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A random token for `state` and CSRF.
pub fn random_token() -> String {
    let bytes: [u8; 24] = rand::random();
    B64.encode(bytes)
}

/// The owner session, as signed into its cookie.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SessionClaims {
    /// The sign-in's `authorized_at`: a new sign-in (or a disconnect) ends the session.
    pub at: String,
    /// Issued (epoch milliseconds on the wire).
    pub iat: Timestamp,
    /// Expires (epoch milliseconds on the wire).
    pub exp: Timestamp,
    /// The CSRF token of this session, embedded in the console's forms.
    pub csrf: String,
}

/// The app credentials entered in the first-setup form, carried sealed until the sign-in.
#[derive(Clone, Serialize, Deserialize)]
pub struct App {
    pub client_id: String,
    pub client_secret: Secret,
}

/// A sign-in in progress, as sealed into its cookie.
#[derive(Clone, Serialize, Deserialize)]
pub struct Pending {
    pub state: String,
    pub verifier: Secret,
    pub redirect_uri: String,
    /// Issued (epoch milliseconds on the wire).
    pub iat: Timestamp,
    /// Expires (epoch milliseconds on the wire).
    pub exp: Timestamp,
    /// Set on first setup (or when the owner switches apps).
    #[serde(default)]
    pub app: Option<App>,
}

impl std::fmt::Debug for Pending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pending")
            .field("iat", &self.iat)
            .field("exp", &self.exp)
            .field("app", &self.app.as_ref().map(|a| &a.client_id))
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(k: &str) -> Keys {
        Keys::from_console_key(&Secret::new(k)).unwrap()
    }

    #[test]
    fn signed_sessions_and_sealed_sign_ins() {
        let k = keys("0123456789abcdef0123456789abcdef-a");
        let c = SessionClaims {
            at: "2026-11-23T10:00:00Z".into(),
            iat: Timestamp::from_millis(1),
            exp: Timestamp::from_millis(2),
            csrf: "x".into(),
        };
        let t = k.sign("session", &c);
        let back: SessionClaims = k.verify("session", &t).unwrap();
        assert_eq!(back.at, c.at);
        assert!(k.verify::<SessionClaims>("other", &t).is_none());
        assert!(keys("0123456789abcdef0123456789abcdef-b")
            .verify::<SessionClaims>("session", &t)
            .is_none());
        // Any change to the payload breaks the tag.
        let (body, tag) = t.split_once('.').unwrap();
        let forged = serde_json::to_vec(&SessionClaims {
            at: "2030-01-01T00:00:00Z".into(),
            ..c.clone()
        })
        .unwrap();
        assert!(k
            .verify::<SessionClaims>("session", &format!("{}.{tag}", B64.encode(forged)))
            .is_none());
        assert!(k.verify::<SessionClaims>("session", body).is_none());

        let p = Pending {
            state: "s".into(),
            verifier: Secret::new("v"),
            redirect_uri: "r".into(),
            iat: Timestamp::from_millis(1),
            exp: Timestamp::from_millis(2),
            app: Some(App {
                client_id: "id".into(),
                client_secret: Secret::new("very-secret"),
            }),
        };
        let sealed = k.seal("state", &p);
        assert!(!sealed.contains("very-secret") && !sealed.contains('/') && !sealed.contains('+'));
        let back: Pending = k.open("state", &sealed).unwrap();
        assert_eq!(back.app.unwrap().client_secret.expose(), "very-secret");
        assert!(k.open::<Pending>("session", &sealed).is_none());
        assert!(!format!("{p:?}").contains("very-secret"));
        assert!(Keys::from_console_key(&Secret::new("short")).is_none());
    }

    #[test]
    fn constant_time_compare() {
        assert!(same("abc", "abc"));
        assert!(!same("abc", "abd"));
        assert!(!same("abc", "ab"));
    }
}
