//! A minimal client of GoBGP's gRPC API: `AddPathStream` (GoBGP 3.x, package `apipb`) over
//! cleartext HTTP/2, with the few protobuf messages it needs encoded by hand. This is the path
//! `gobgp mrt inject` and API users take to add or withdraw many routes in one call; the `gobgp`
//! CLI costs one process per route.

use bytes::{BufMut, Bytes, BytesMut};
use metalroute_bench_bgp::{addr, indices, Fam};

/// Protobuf wire type of varints.
const VARINT: u32 = 0;
/// Protobuf wire type of length-delimited fields.
const LEN: u32 = 2;
/// Paths per `AddPathStreamRequest` message.
const BATCH: usize = 1000;

/// Appends a varint.
fn varint(buf: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        buf.push((v as u8) | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

/// Appends field `field` with wire type `wire`.
fn key(buf: &mut Vec<u8>, field: u32, wire: u32) {
    varint(buf, u64::from((field << 3) | wire));
}

/// Appends a length-delimited field (string, bytes or embedded message).
fn bytes_field(buf: &mut Vec<u8>, field: u32, value: &[u8]) {
    key(buf, field, LEN);
    varint(buf, value.len() as u64);
    buf.extend_from_slice(value);
}

/// Appends a varint field (omitted when zero, as proto3 does).
fn varint_field(buf: &mut Vec<u8>, field: u32, value: u64) {
    if value != 0 {
        key(buf, field, VARINT);
        varint(buf, value);
    }
}

/// `google.protobuf.Any { type_url, value }` for an `apipb` message.
fn any(type_name: &str, value: &[u8]) -> Vec<u8> {
    let mut b = Vec::with_capacity(value.len() + 48);
    bytes_field(
        &mut b,
        1,
        format!("type.googleapis.com/apipb.{type_name}").as_bytes(),
    );
    bytes_field(&mut b, 2, value);
    b
}

/// `apipb.Family { afi, safi: SAFI_UNICAST }`.
fn family(fam: Fam) -> Vec<u8> {
    let mut b = Vec::new();
    varint_field(&mut b, 1, if fam == Fam::V4 { 1 } else { 2 });
    varint_field(&mut b, 2, 1);
    b
}

/// One `apipb.Path` for prefix `i`: NLRI, ORIGIN IGP and the next hop (`0.0.0.0` / `::`, i.e.
/// the session's own address, as `gobgp global rib add` does), or a withdrawal.
fn path(fam: Fam, i: u32, withdraw: bool) -> Vec<u8> {
    let mut prefix = Vec::new();
    varint_field(&mut prefix, 1, u64::from(fam.host_len()));
    bytes_field(&mut prefix, 2, addr(fam, i).to_string().as_bytes());
    let nlri = any("IPAddressPrefix", &prefix);
    let mut p = Vec::with_capacity(256);
    bytes_field(&mut p, 1, &nlri);
    bytes_field(&mut p, 2, &any("OriginAttribute", &[]));
    if !withdraw {
        match fam {
            Fam::V4 => {
                let mut nh = Vec::new();
                bytes_field(&mut nh, 1, b"0.0.0.0");
                bytes_field(&mut p, 2, &any("NextHopAttribute", &nh));
            }
            Fam::V6 => {
                let mut mp = Vec::new();
                bytes_field(&mut mp, 1, &family(fam));
                bytes_field(&mut mp, 2, b"::");
                bytes_field(&mut mp, 3, &nlri);
                bytes_field(&mut p, 2, &any("MpReachNLRIAttribute", &mp));
            }
        }
    } else {
        varint_field(&mut p, 5, 1);
    }
    bytes_field(&mut p, 9, &family(fam));
    p
}

/// gRPC-framed `AddPathStreamRequest` messages (table GLOBAL) announcing `announce` and
/// withdrawing `withdraw`, at most [`BATCH`] paths each; withdrawals first.
pub fn requests(fam: Fam, announce: &[(u32, u32)], withdraw: &[(u32, u32)]) -> Vec<Bytes> {
    let paths: Vec<Vec<u8>> = indices(withdraw)
        .map(|i| path(fam, i, true))
        .chain(indices(announce).map(|i| path(fam, i, false)))
        .collect();
    paths
        .chunks(BATCH)
        .map(|chunk| {
            let mut msg = Vec::with_capacity(chunk.iter().map(|p| p.len() + 4).sum());
            for p in chunk {
                bytes_field(&mut msg, 3, p);
            }
            let mut framed = BytesMut::with_capacity(msg.len() + 5);
            framed.put_u8(0);
            framed.put_u32(msg.len() as u32);
            framed.extend_from_slice(&msg);
            framed.freeze()
        })
        .collect()
}

/// Sends `msgs` (from [`requests`]) as one `AddPathStream` call to gobgpd's API at
/// `127.0.0.1:port` (call from inside its namespace) and waits for its answer.
pub async fn add_path_stream(port: u16, msgs: Vec<Bytes>) -> Result<(), String> {
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .map_err(|e| format!("connect to gobgpd API port {port}: {e}"))?;
    let _ = tcp.set_nodelay(true);
    let (client, conn) = h2::client::handshake(tcp)
        .await
        .map_err(|e| format!("HTTP/2 handshake with gobgpd: {e}"))?;
    let driver = tokio::spawn(async move {
        let _ = conn.await;
    });
    let mut client = client
        .ready()
        .await
        .map_err(|e| format!("gobgpd HTTP/2 connection: {e}"))?;
    let req = http::Request::builder()
        .method("POST")
        .uri(format!(
            "http://127.0.0.1:{port}/apipb.GobgpApi/AddPathStream"
        ))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(())
        .map_err(|e| format!("gRPC request: {e}"))?;
    let (resp, mut stream) = client
        .send_request(req, false)
        .map_err(|e| format!("AddPathStream: {e}"))?;
    for m in msgs {
        // Flow control: wait for window before each message so nothing piles up unbounded.
        stream.reserve_capacity(m.len());
        let mut sent = 0;
        while sent < m.len() {
            let cap = std::future::poll_fn(|cx| stream.poll_capacity(cx))
                .await
                .ok_or("AddPathStream: stream closed by gobgpd")?
                .map_err(|e| format!("AddPathStream flow control: {e}"))?;
            if cap == 0 {
                continue;
            }
            let n = cap.min(m.len() - sent);
            stream
                .send_data(m.slice(sent..sent + n), false)
                .map_err(|e| format!("AddPathStream send: {e}"))?;
            sent += n;
            if sent < m.len() {
                stream.reserve_capacity(m.len() - sent);
            }
        }
    }
    stream
        .send_data(Bytes::new(), true)
        .map_err(|e| format!("AddPathStream end: {e}"))?;
    let resp = resp
        .await
        .map_err(|e| format!("AddPathStream response: {e}"))?;
    let (parts, mut body) = resp.into_parts();
    let mut status = parts
        .headers
        .get("grpc-status")
        .map(|v| v.to_str().unwrap_or("?").to_owned());
    let mut message = parts
        .headers
        .get("grpc-message")
        .map(|v| v.to_str().unwrap_or("").to_owned());
    while let Some(chunk) = body.data().await {
        let chunk = chunk.map_err(|e| format!("AddPathStream body: {e}"))?;
        let _ = body.flow_control().release_capacity(chunk.len());
    }
    if let Some(t) = body
        .trailers()
        .await
        .map_err(|e| format!("AddPathStream trailers: {e}"))?
    {
        if let Some(s) = t.get("grpc-status") {
            status = Some(s.to_str().unwrap_or("?").to_owned());
        }
        if let Some(m) = t.get("grpc-message") {
            message = Some(m.to_str().unwrap_or("").to_owned());
        }
    }
    driver.abort();
    match status.as_deref() {
        Some("0") => Ok(()),
        other => Err(format!(
            "AddPathStream failed: grpc-status {other:?} {}",
            message.unwrap_or_default()
        )),
    }
}
