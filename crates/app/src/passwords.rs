//! Passwords (argon2id) and bearer tokens (random, stored only as a hash).

use argon2::password_hash::rand_core::{OsRng, RngCore};
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use sha2::{Digest, Sha256};
use std::sync::OnceLock;

/// Lifetime of an access token.
pub const TOKEN_TTL_SECS: i64 = 12 * 60 * 60;

pub fn hash_password(password: &str) -> Result<String, String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| e.to_string())
}

pub fn verify_password(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc)
        .map(|parsed| {
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false)
}

/// [`hash_password`] on the blocking pool (argon2 takes tens of milliseconds
/// of CPU, which must not stall the async workers).
pub async fn hash_blocking(password: String) -> inventory_core::Result<String> {
    tokio::task::spawn_blocking(move || hash_password(&password))
        .await
        .map_err(inventory_core::Error::internal)?
        .map_err(inventory_core::Error::internal)
}

/// [`verify_password`] on the blocking pool.
pub async fn verify_blocking(password: &str, phc: String) -> inventory_core::Result<bool> {
    let password = password.to_owned();
    tokio::task::spawn_blocking(move || verify_password(&password, &phc))
        .await
        .map_err(inventory_core::Error::internal)
}

/// A hash to verify against when the user does not exist, so that a wrong
/// username costs as long as a wrong password.
pub fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| hash_password(&random_secret(24)).unwrap_or_default())
}

/// URL-safe random text carrying `bytes` bytes of entropy.
pub fn random_secret(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    OsRng.fill_bytes(&mut buf);
    URL_SAFE_NO_PAD.encode(buf)
}

pub fn new_token() -> String {
    format!("inv_{}", random_secret(32))
}

/// Tokens are stored and looked up by this hash only.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_verify_and_tokens_differ() {
        let h = hash_password("correct horse").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("correct horse", &h));
        assert!(!verify_password("wrong horse", &h));
        assert!(!verify_password("x", "not a hash"));
        assert_ne!(new_token(), new_token());
        assert_eq!(token_hash("a").len(), 64);
    }
}
