//! Hostile input for the decoder, built from the captured FRR/GoBGP messages: every truncation,
//! every single-octet change, and a few hundred thousand seeded random mutations (with the
//! header length fixed up so the body parsers are reached). Decoding must never panic; whatever
//! decodes must re-encode and decode again, identically when nothing was malformed.

use bytes::BytesMut;
use metalroute_bgp::packet::{frame, DecodeContext, EncodeContext, Family, Message};

fn fixtures() -> Vec<Vec<u8>> {
    let mut all = Vec::new();
    for name in [
        "frr_v4_session.hex",
        "frr_v6_session.hex",
        "gobgp_v4_session.hex",
        "gobgp_v6_session.hex",
    ] {
        let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        for line in text.lines().filter(|l| !l.is_empty()) {
            all.push(
                (0..line.len())
                    .step_by(2)
                    .map(|i| u8::from_str_radix(&line[i..i + 2], 16).expect("hex"))
                    .collect(),
            );
        }
    }
    all
}

fn contexts() -> Vec<(DecodeContext, EncodeContext)> {
    let mut v = Vec::new();
    for four_octet_as in [true, false] {
        for external in [true, false] {
            v.push((
                DecodeContext {
                    four_octet_as,
                    families: vec![Family::IPV4_UNICAST, Family::IPV6_UNICAST],
                    external,
                },
                EncodeContext {
                    four_octet_as,
                    ipv4_via_mp: false,
                },
            ));
        }
    }
    v
}

/// SplitMix64: a small deterministic generator so failures reproduce.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Sets the header length to the buffer's length (when it fits in 16 bits).
fn fix_length(m: &mut [u8]) {
    if m.len() >= 19 {
        if let Ok(len) = u16::try_from(m.len()) {
            m[16..18].copy_from_slice(&len.to_be_bytes());
        }
    }
}

/// Decodes; on success re-encodes and decodes again.
fn check(m: &[u8], dctx: &DecodeContext, ectx: &EncodeContext) {
    let _ = frame(m);
    let Ok(msg) = Message::decode(m, dctx) else {
        return;
    };
    let mut out = BytesMut::new();
    if msg.encode(ectx, &mut out).is_err() {
        return;
    }
    let again = Message::decode(&out, dctx)
        .unwrap_or_else(|e| panic!("re-encoded message does not decode: {e}\n{msg:?}"));
    let clean = match &msg {
        Message::Update(u) => !u.treat_as_withdraw && u.discarded.is_empty() && u.errors.is_empty(),
        _ => true,
    };
    if clean {
        assert_eq!(again, msg, "re-encoded message differs");
    }
}

#[test]
fn truncations_never_panic() {
    let ctxs = contexts();
    for m in fixtures() {
        for cut in 0..m.len() {
            for (d, e) in &ctxs {
                check(&m[..cut], d, e);
                let mut fixed = m[..cut].to_vec();
                fix_length(&mut fixed);
                check(&fixed, d, e);
            }
        }
    }
}

#[test]
fn every_single_octet_change_is_handled() {
    let ctxs = contexts();
    for m in fixtures() {
        for pos in 0..m.len() {
            let orig = m[pos];
            for v in [
                0u8,
                1,
                2,
                0x7f,
                0x80,
                0xff,
                orig ^ 0xff,
                orig.wrapping_add(1),
                orig.wrapping_sub(1),
            ] {
                let mut x = m.clone();
                x[pos] = v;
                for (d, e) in &ctxs {
                    check(&x, d, e);
                }
            }
        }
    }
}

#[test]
fn random_mutations_never_panic() {
    let ctxs = contexts();
    let corpus = fixtures();
    let mut rng = Rng(0x6d65_7461_6c72_6f75);
    for _ in 0..150_000 {
        let mut m = corpus[rng.below(corpus.len())].clone();
        for _ in 0..1 + rng.below(4) {
            match rng.below(5) {
                0 if !m.is_empty() => {
                    let i = rng.below(m.len());
                    m[i] = rng.next() as u8;
                }
                1 if m.len() > 19 => {
                    let i = 19 + rng.below(m.len() - 19);
                    m.remove(i);
                }
                2 => {
                    let i = rng.below(m.len() + 1).max(19.min(m.len()));
                    m.insert(i, rng.next() as u8);
                }
                3 if m.len() > 20 => {
                    // Overwrite a length-looking octet pair with a big value.
                    let i = 19 + rng.below(m.len() - 20);
                    m[i] = 0xff;
                    m[i + 1] = rng.next() as u8;
                }
                _ => {
                    let i = rng.below(m.len() + 1);
                    let n = rng.below(40);
                    let junk: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
                    m.splice(i..i, junk);
                }
            }
        }
        if rng.below(8) != 0 {
            fix_length(&mut m);
        }
        let (d, e) = &ctxs[rng.below(ctxs.len())];
        check(&m, d, e);
    }
}

#[test]
fn random_bodies_behind_valid_headers_never_panic() {
    let ctxs = contexts();
    let mut rng = Rng(42);
    for _ in 0..100_000 {
        let kind = 1 + rng.below(5) as u8;
        let len = rng.below(200);
        let mut m = vec![0xff; 16];
        m.extend_from_slice(&((19 + len) as u16).to_be_bytes());
        m.push(kind);
        m.extend((0..len).map(|_| rng.next() as u8));
        let (d, e) = &ctxs[rng.below(ctxs.len())];
        check(&m, d, e);
    }
}
