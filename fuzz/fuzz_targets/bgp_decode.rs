//! Fuzz target: BGP message framing and decoding of every message type, under each decode
//! context a session can have. Whatever decodes must re-encode and decode again. Any panic is
//! a bug: the input comes straight from a peer.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use metalroute_bgp::packet::{frame, DecodeContext, EncodeContext, Family, Message};

fuzz_target!(|data: &[u8]| {
    // The first octet picks the session context; the rest is the byte stream from the peer.
    let Some((&selector, stream)) = data.split_first() else {
        return;
    };
    let four_octet_as = selector & 1 != 0;
    let dctx = DecodeContext {
        four_octet_as,
        families: if selector & 2 != 0 {
            vec![Family::IPV4_UNICAST]
        } else {
            vec![Family::IPV4_UNICAST, Family::IPV6_UNICAST]
        },
        external: selector & 4 != 0,
    };
    let ectx = EncodeContext {
        four_octet_as,
        ipv4_via_mp: selector & 8 != 0,
    };
    // Walk the stream the way a session does: frame, then decode each whole message.
    let mut rest = stream;
    while let Ok(Some(n)) = frame(rest) {
        let Some((msg, tail)) = rest.split_at_checked(n) else {
            break;
        };
        rest = tail;
        let Ok(decoded) = Message::decode(msg, &dctx) else {
            continue;
        };
        let mut out = BytesMut::new();
        if decoded.encode(&ectx, &mut out).is_ok() {
            if let Err(e) = Message::decode(&out, &dctx) {
                panic!("re-encoded message does not decode: {e}: {decoded:?}");
            }
        }
    }
    // Also decode the whole input as one message, bypassing framing.
    let _ = Message::decode(stream, &dctx);
});
