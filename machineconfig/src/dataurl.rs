//! RFC 2397 `data:` URLs, as Ignition reads file contents from them: `data:[<mediatype>][;base64],<data>`,
//! where `<data>` is base64 with `;base64` and percent-encoded text without.

use crate::error::Error;
use base64::Engine as _;

/// The media type metalroute writes.
pub const TEXT_PLAIN_UTF8: &str = "text/plain;charset=utf-8";

/// Encodes `bytes` as `data:text/plain;charset=utf-8;base64,...` (standard alphabet, padded), the
/// form `oc`/`butane` users and the OpenShift documentation use.
pub fn encode_base64(bytes: &[u8]) -> String {
    format!(
        "data:{TEXT_PLAIN_UTF8};base64,{}",
        base64::engine::general_purpose::STANDARD.encode(bytes)
    )
}

/// A decoded `data:` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataUrl {
    /// The media type with its parameters as written (empty means `text/plain;charset=US-ASCII`).
    pub media_type: String,
    /// Whether the payload was base64.
    pub base64: bool,
    /// The decoded bytes.
    pub data: Vec<u8>,
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Percent-decodes `s` (RFC 3986 `%XX`); any other byte stands for itself.
pub fn percent_decode(s: &str) -> Result<Vec<u8>, Error> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let pair = b
                .get(i + 1)
                .copied()
                .and_then(hex)
                .zip(b.get(i + 2).copied().and_then(hex));
            let Some((hi, lo)) = pair else {
                return Err(Error::InvalidDataUrl {
                    reason: format!("bad percent escape at byte {i} of the data"),
                });
            };
            out.push(hi << 4 | lo);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    Ok(out)
}

/// Decodes a `data:` URL. Base64 payloads may be percent-encoded too (RFC 2397 allows it) and
/// may lack padding; whitespace inside them is ignored.
pub fn decode(url: &str) -> Result<DataUrl, Error> {
    let Some(rest) = url.strip_prefix("data:") else {
        return Err(Error::InvalidDataUrl {
            reason: format!(
                "{:?} does not start with \"data:\"",
                url.chars().take(40).collect::<String>()
            ),
        });
    };
    let Some((meta, payload)) = rest.split_once(',') else {
        return Err(Error::InvalidDataUrl {
            reason: "no ',' between the media type and the data".into(),
        });
    };
    let (media_type, base64) = match meta.strip_suffix(";base64") {
        Some(m) => (m.to_string(), true),
        None => (meta.to_string(), false),
    };
    let data = if base64 {
        let raw = percent_decode(payload)?;
        let cleaned: Vec<u8> = raw
            .into_iter()
            .filter(|b| !b.is_ascii_whitespace())
            .collect();
        let engine = base64::engine::GeneralPurpose::new(
            &base64::alphabet::STANDARD,
            base64::engine::GeneralPurposeConfig::new()
                .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
        );
        engine.decode(&cleaned).map_err(|e| Error::InvalidDataUrl {
            reason: format!("base64 payload does not decode: {e}"),
        })?
    } else {
        percent_decode(payload)?
    };
    Ok(DataUrl {
        media_type,
        base64,
        data,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_base64() {
        let url = encode_base64(b"net.ipv4.conf.all.forwarding = 1\n");
        assert!(url.starts_with("data:text/plain;charset=utf-8;base64,"));
        let d = decode(&url).unwrap();
        assert!(d.base64);
        assert_eq!(d.media_type, TEXT_PLAIN_UTF8);
        assert_eq!(d.data, b"net.ipv4.conf.all.forwarding = 1\n");
    }

    #[test]
    fn percent_encoded_and_unpadded() {
        let d = decode("data:,net.ipv4.conf.all.forwarding%20%3D%201%0A").unwrap();
        assert_eq!(d.data, b"net.ipv4.conf.all.forwarding = 1\n");
        assert!(!d.base64);
        let d = decode("data:;base64,YQ").unwrap();
        assert_eq!(d.data, b"a");
    }

    #[test]
    fn errors_say_why() {
        assert!(decode("http://x/y")
            .unwrap_err()
            .to_string()
            .contains("does not start with"));
        assert!(decode("data:text/plain")
            .unwrap_err()
            .to_string()
            .contains("no ','"));
        assert!(decode("data:,%G0")
            .unwrap_err()
            .to_string()
            .contains("percent"));
        assert!(decode("data:;base64,@@@@")
            .unwrap_err()
            .to_string()
            .contains("base64"));
    }
}
