//! Standard base64 (padding optional), as Postgres' `encode(…, 'base64')` writes it, for
//! decoding `nodeId`s and cursors (which Postgres encodes, with a line break every 76
//! characters).

use base64::Engine;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

const STANDARD_ANY_PADDING: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Decodes; whitespace is ignored, padding optional. `None` on invalid input.
pub fn decode(input: &str) -> Option<Vec<u8>> {
    let compact: String = input.split_ascii_whitespace().collect();
    STANDARD_ANY_PADDING.decode(compact).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_what_postgres_encodes() {
        assert_eq!(decode("WzFd").unwrap(), b"[1]");
        assert_eq!(
            decode("WyJwdWJsaWMiLCAiYmxvZyIsIDFd").unwrap(),
            br#"["public", "blog", 1]"#
        );
        assert_eq!(decode("YQ==").unwrap(), b"a");
        assert_eq!(decode("YQ").unwrap(), b"a");
        assert_eq!(decode("WyJw\ndWJs\naWMiXQ==").unwrap(), br#"["public"]"#);
        assert!(decode("!!").is_none());
    }
}
