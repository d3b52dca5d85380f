//! Sealing tokens at rest in the shared table: AES-256-GCM under a key derived with HKDF-SHA256
//! from the client secret, so reading the table alone grants nothing.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use hkdf::Hkdf;
use sha2::Sha256;

use crate::secret::Secret;

const SALT: &[u8] = b"nowplaying/seal/v1";
const PREFIX: &str = "v1.";

/// A key for sealing values tied to one Spotify app.
#[derive(Clone)]
pub struct Sealer {
    cipher: Aes256Gcm,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer([redacted])")
    }
}

impl Sealer {
    pub fn from_client_secret(client_secret: &Secret) -> Sealer {
        let hk = Hkdf::<Sha256>::new(Some(SALT), client_secret.expose().as_bytes());
        let mut key = [0u8; 32];
        hk.expand(b"shared-state tokens", &mut key)
            .expect("32 bytes is a valid HKDF-SHA256 output length");
        Sealer {
            cipher: Aes256Gcm::new(&key.into()),
        }
    }

    /// A sealer under a key derived from `key_material` for one purpose (`info`): the console's
    /// cookies, under its `console_key`.
    pub fn derive(key_material: &[u8], salt: &[u8], info: &[u8]) -> Sealer {
        let hk = Hkdf::<Sha256>::new(Some(salt), key_material);
        let mut key = [0u8; 32];
        hk.expand(info, &mut key)
            .expect("32 bytes is a valid HKDF-SHA256 output length");
        Sealer {
            cipher: Aes256Gcm::new(&key.into()),
        }
    }

    /// Seals `plain`, bound to `context` (the item's key), as printable text.
    pub fn seal(&self, context: &str, plain: &str) -> String {
        let nonce_bytes: [u8; 12] = rand::random();
        let ct = self
            .cipher
            .encrypt(
                Nonce::from_slice(&nonce_bytes),
                Payload {
                    msg: plain.as_bytes(),
                    aad: context.as_bytes(),
                },
            )
            .expect("AES-GCM encryption does not fail for small inputs");
        let mut out = nonce_bytes.to_vec();
        out.extend_from_slice(&ct);
        format!(
            "{PREFIX}{}",
            base64::engine::general_purpose::STANDARD_NO_PAD.encode(out)
        )
    }

    /// Opens a sealed value; `None` when it was sealed under another key or context, or is damaged.
    pub fn open(&self, context: &str, sealed: &str) -> Option<String> {
        let raw = base64::engine::general_purpose::STANDARD_NO_PAD
            .decode(sealed.strip_prefix(PREFIX)?)
            .ok()?;
        if raw.len() < 12 + 16 {
            return None;
        }
        let (nonce, ct) = raw.split_at(12);
        let plain = self
            .cipher
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: ct,
                    aad: context.as_bytes(),
                },
            )
            .ok()?;
        String::from_utf8(plain).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_wrong_key_or_context() {
        let s = Sealer::from_client_secret(&Secret::new("secret-a"));
        let sealed = s.seal("token", "BQD-access");
        assert!(!sealed.contains("BQD-access"));
        assert_eq!(s.open("token", &sealed).as_deref(), Some("BQD-access"));
        assert_eq!(s.open("other", &sealed), None);
        let t = Sealer::from_client_secret(&Secret::new("secret-b"));
        assert_eq!(t.open("token", &sealed), None);
        assert_eq!(s.open("token", "v1.garbage"), None);
        assert_ne!(
            s.seal("token", "x"),
            s.seal("token", "x"),
            "fresh nonce each time"
        );
    }
}
