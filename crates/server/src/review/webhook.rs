//! Webhook payloads and their signatures.
//!
//! A receiver checks `X-Sitepatrol-Signature: sha256=<hex>`, the HMAC-SHA256 of the exact body
//! bytes under the shared secret, and `X-Sitepatrol-Timestamp` against replays (the timestamp
//! is part of the signed message: `<timestamp>.<body>`, as Stripe and Slack do it).

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

pub const SIGNATURE_HEADER: &str = "x-sitepatrol-signature";
pub const TIMESTAMP_HEADER: &str = "x-sitepatrol-timestamp";
pub const EVENT_HEADER: &str = "x-sitepatrol-event";
pub const DELIVERY_HEADER: &str = "x-sitepatrol-delivery";

/// `sha256=<hex>` over `<timestamp>.<body>`.
pub fn sign(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    let mut mac =
        <Hmac<Sha256> as KeyInit>::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!(
        "sha256={}",
        sitepatrol_core::digest::hex(&mac.finalize().into_bytes())
    )
}

/// Whether `signature` is `sign(secret, timestamp, body)`, compared in constant time.
pub fn verify(secret: &[u8], timestamp: i64, body: &[u8], signature: &str) -> bool {
    let expected = sign(secret, timestamp, body);
    super::auth::constant_time_eq(expected.as_bytes(), signature.as_bytes())
}

/// Retry delay after `attempt` failed deliveries: exponential from `base`, capped.
pub fn backoff(
    attempt: u32,
    base: std::time::Duration,
    cap: std::time::Duration,
) -> std::time::Duration {
    let factor = 2u32.saturating_pow(attempt.min(30));
    base.saturating_mul(factor).min(cap)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn signatures_match_the_reference_hmac() {
        let signature = sign(b"secret", 1_795_766_400, b"{\"a\":1}");
        assert!(signature.starts_with("sha256=") && signature.len() == 7 + 64);
        assert!(verify(b"secret", 1_795_766_400, b"{\"a\":1}", &signature));
        assert!(!verify(b"secret", 1_795_766_401, b"{\"a\":1}", &signature));
        assert!(!verify(b"other", 1_795_766_400, b"{\"a\":1}", &signature));
        assert!(!verify(b"secret", 1_795_766_400, b"{\"a\":2}", &signature));
        assert!(!verify(b"secret", 1_795_766_400, b"{\"a\":1}", "sha256=00"));
    }

    #[test]
    fn the_known_hmac() {
        // HMAC-SHA256(key "key", "The quick brown fox jumps over the lazy dog"), the widely
        // published value: the crate is wired the standard way.
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(b"key").unwrap();
        mac.update(b"The quick brown fox jumps over the lazy dog");
        let hex: String = mac
            .finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(
            hex,
            "f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8"
        );
    }

    #[test]
    fn backoff_doubles_and_caps() {
        let base = Duration::from_secs(1);
        let cap = Duration::from_secs(300);
        assert_eq!(backoff(0, base, cap), Duration::from_secs(1));
        assert_eq!(backoff(3, base, cap), Duration::from_secs(8));
        assert_eq!(backoff(40, base, cap), cap);
    }
}
