//! Strict decoding of the JWS compact serialization's parts.
//!
//! base64url must be unpadded and canonical (RFC 7515 §2: "with all trailing '=' characters
//! omitted"; non-zero trailing bits are refused), so that one token has exactly one
//! encoding and no byte of it can change without the verdict changing. JSON objects are
//! read with duplicate-member detection (RFC 7515 §5.2, RFC 7519 §4).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};
use std::fmt;

/// Encodes bytes as unpadded base64url.
pub(crate) fn encode(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Decodes unpadded, canonical base64url; the error says what was wrong.
pub(crate) fn decode(text: &str) -> Result<Vec<u8>, String> {
    URL_SAFE_NO_PAD.decode(text).map_err(|e| match e {
        base64::DecodeError::InvalidByte(i, b) => {
            format!(
                "byte {i} is {:?}, which is not in the base64url alphabet",
                char::from(b)
            )
        }
        base64::DecodeError::InvalidLength(n) => format!("{n} symbols is not a valid length"),
        base64::DecodeError::InvalidLastSymbol(i, _) => {
            format!("the last symbol (at {i}) has non-zero trailing bits: not canonical")
        }
        base64::DecodeError::InvalidPadding => "padding `=` is not allowed".to_owned(),
    })
}

/// What a JSON text turned out to be, read by [`parse_object`].
pub(crate) enum JsonTop {
    /// An object; with the first member name that occurred twice, if any.
    Object(Map<String, Value>, Option<String>),
    /// Valid JSON but not an object: "an array", "a string", …
    Other(&'static str),
}

/// Parses a JSON text whose top level should be an object, noting duplicate member names
/// (which `serde_json::Value` would silently collapse to the last one).
pub(crate) fn parse_object(bytes: &[u8]) -> Result<JsonTop, String> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let top = de.deserialize_any(TopVisitor).map_err(|e| e.to_string())?;
    de.end().map_err(|e| e.to_string())?;
    Ok(top)
}

struct TopVisitor;

impl<'de> Visitor<'de> for TopVisitor {
    type Value = JsonTop;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<JsonTop, A::Error> {
        let mut map = Map::new();
        let mut duplicate = None;
        while let Some(key) = access.next_key::<String>()? {
            let value: Value = access.next_value()?;
            if map.contains_key(&key) && duplicate.is_none() {
                duplicate = Some(key.clone());
            }
            map.insert(key, value);
        }
        Ok(JsonTop::Object(map, duplicate))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut access: A) -> Result<JsonTop, A::Error> {
        while access.next_element::<IgnoredAny>()?.is_some() {}
        Ok(JsonTop::Other("an array"))
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<JsonTop, E> {
        Ok(JsonTop::Other("a boolean"))
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<JsonTop, E> {
        Ok(JsonTop::Other("a number"))
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<JsonTop, E> {
        Ok(JsonTop::Other("a number"))
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<JsonTop, E> {
        Ok(JsonTop::Other("a number"))
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<JsonTop, E> {
        Ok(JsonTop::Other("a string"))
    }

    fn visit_unit<E: de::Error>(self) -> Result<JsonTop, E> {
        Ok(JsonTop::Other("null"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn padded_and_non_canonical_base64url_is_refused() {
        assert_eq!(decode("YQ"), Ok(b"a".to_vec()));
        assert_eq!(decode("YQ=="), Err("padding `=` is not allowed".to_owned()));
        // "YR" decodes to "a" too under a lenient decoder: its trailing bits are non-zero.
        assert!(decode("YR").unwrap_err().contains("not canonical"));
        assert!(
            decode("a+b/")
                .unwrap_err()
                .contains("not in the base64url alphabet")
        );
    }

    #[test]
    fn duplicate_members_are_reported_and_non_objects_named() {
        match parse_object(br#"{"alg":"ES256","alg":"none"}"#).unwrap() {
            JsonTop::Object(_, dup) => assert_eq!(dup.as_deref(), Some("alg")),
            JsonTop::Other(k) => panic!("expected an object, got {k}"),
        }
        assert!(matches!(
            parse_object(b"[1,2]"),
            Ok(JsonTop::Other("an array"))
        ));
        assert!(parse_object(b"{} x").is_err());
    }
}
