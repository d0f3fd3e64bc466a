//! A gRPC client in a few lines of protobuf and HTTP/2 (h2 on a
//! current-thread tokio runtime, test-only dependencies), for the suites
//! that speak a daemon's API: CRI (`cri.rs`) and containerd's tasks
//! service (`containerd.rs`). Each suite uses part of it.
#![allow(dead_code)]

use std::path::PathBuf;
use std::time::Instant;

// ---- protobuf, by hand ----

/// A protobuf message being encoded; fields at their default are left out,
/// as proto3 does.
#[derive(Default, Clone)]
pub struct Msg(Vec<u8>);

impl Msg {
    fn varint(buf: &mut Vec<u8>, mut v: u64) {
        while v >= 0x80 {
            buf.push((v as u8) | 0x80);
            v >>= 7;
        }
        buf.push(v as u8);
    }

    fn key(&mut self, field: u32, wire: u8) {
        Self::varint(&mut self.0, u64::from(field) << 3 | u64::from(wire));
    }

    pub fn bytes(mut self, field: u32, b: &[u8]) -> Self {
        self.key(field, 2);
        Self::varint(&mut self.0, b.len() as u64);
        self.0.extend_from_slice(b);
        self
    }

    pub fn str(self, field: u32, s: &str) -> Self {
        if s.is_empty() {
            return self;
        }
        self.bytes(field, s.as_bytes())
    }

    pub fn strs(self, field: u32, list: &[&str]) -> Self {
        list.iter().fold(self, |m, s| m.bytes(field, s.as_bytes()))
    }

    pub fn int(mut self, field: u32, v: i64) -> Self {
        if v != 0 {
            self.key(field, 0);
            Self::varint(&mut self.0, v as u64);
        }
        self
    }

    pub fn msg(self, field: u32, m: Msg) -> Self {
        self.bytes(field, &m.0)
    }
}

/// One field of a decoded message.
pub enum Field {
    Varint(u64),
    Bytes(Vec<u8>),
}

/// The fields of an encoded message, in order (fixed-width ones skipped).
pub fn decode(mut buf: &[u8]) -> Vec<(u32, Field)> {
    fn varint(buf: &mut &[u8]) -> u64 {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let Some((&b, rest)) = buf.split_first() else {
                break;
            };
            *buf = rest;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                break;
            }
        }
        v
    }
    let mut out = Vec::new();
    while !buf.is_empty() {
        let key = varint(&mut buf);
        let field = (key >> 3) as u32;
        match key & 7 {
            0 => out.push((field, Field::Varint(varint(&mut buf)))),
            2 => {
                let len = (varint(&mut buf) as usize).min(buf.len());
                out.push((field, Field::Bytes(buf[..len].to_vec())));
                buf = &buf[len..];
            }
            1 => buf = &buf[8.min(buf.len())..],
            5 => buf = &buf[4.min(buf.len())..],
            w => panic!("protobuf wire type {w} in a gRPC answer"),
        }
    }
    out
}

/// The bytes of field `path[last]` inside the nested messages `path[..last]`.
pub fn bytes_at(buf: &[u8], path: &[u32]) -> Vec<u8> {
    let Some((&first, rest)) = path.split_first() else {
        return buf.to_vec();
    };
    decode(buf)
        .into_iter()
        .find_map(|(f, v)| match v {
            Field::Bytes(b) if f == first => Some(bytes_at(&b, rest)),
            _ => None,
        })
        .unwrap_or_default()
}

pub fn string_at(buf: &[u8], path: &[u32]) -> String {
    String::from_utf8_lossy(&bytes_at(buf, path)).into_owned()
}

/// The varint `field` of the message at `path` (0 when absent, as proto3).
pub fn int_at(buf: &[u8], path: &[u32], field: u32) -> u64 {
    decode(&bytes_at(buf, path))
        .into_iter()
        .find_map(|(f, v)| match v {
            Field::Varint(n) if f == field => Some(n),
            _ => None,
        })
        .unwrap_or(0)
}

// ---- gRPC over HTTP/2 ----

/// A client of one gRPC service on a unix socket: one HTTP/2 connection
/// per call, with the same metadata (headers) on each.
pub struct Grpc {
    socket: PathBuf,
    service: String,
    metadata: Vec<(String, String)>,
    rt: tokio::runtime::Runtime,
}

impl Grpc {
    pub fn new(socket: PathBuf, service: &str, metadata: &[(&str, &str)]) -> Self {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .build()
            .expect("a tokio runtime");
        Self {
            socket,
            service: service.to_owned(),
            metadata: metadata
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            rt,
        }
    }

    /// Calls `SERVICE/METHOD` with `request`; the answer's message, or
    /// gRPC's status message.
    pub fn call(&self, method: &str, request: Msg) -> Result<Vec<u8>, String> {
        self.rt.block_on(async {
            let stream = tokio::net::UnixStream::connect(&self.socket)
                .await
                .map_err(|e| format!("connect {}: {e}", self.socket.display()))?;
            let (client, connection) = h2::client::handshake(stream)
                .await
                .map_err(|e| format!("HTTP/2 handshake: {e}"))?;
            let connection = tokio::spawn(connection);
            let mut client = client.ready().await.map_err(|e| e.to_string())?;
            let mut req =
                http::Request::post(format!("http://localhost/{}/{method}", self.service))
                    .header("content-type", "application/grpc")
                    .header("te", "trailers");
            for (key, value) in &self.metadata {
                req = req.header(key, value);
            }
            let req = req.body(()).map_err(|e| e.to_string())?;
            let (answer, mut send) = client
                .send_request(req, false)
                .map_err(|e| format!("{method}: {e}"))?;
            let mut frame = vec![0u8];
            frame.extend_from_slice(&(request.0.len() as u32).to_be_bytes());
            frame.extend_from_slice(&request.0);
            send.send_data(frame.into(), true)
                .map_err(|e| format!("{method}: {e}"))?;
            let answer = answer.await.map_err(|e| format!("{method}: {e}"))?;
            let (head, mut body) = answer.into_parts();
            let mut data = Vec::new();
            while let Some(chunk) = body.data().await {
                let chunk = chunk.map_err(|e| format!("{method}: {e}"))?;
                let _ = body.flow_control().release_capacity(chunk.len());
                data.extend_from_slice(&chunk);
            }
            let trailers = body.trailers().await.map_err(|e| e.to_string())?;
            drop(client);
            connection.abort();
            // A trailers-only answer carries the status in its headers.
            let status = trailers.as_ref().unwrap_or(&head.headers);
            let code = status
                .get("grpc-status")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            if code != "0" {
                let message = status
                    .get("grpc-message")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("");
                return Err(format!("{method}: gRPC status {code:?}: {message}"));
            }
            Ok(data.get(5..).unwrap_or_default().to_vec())
        })
    }

    #[track_caller]
    pub fn ok(&self, method: &str, request: Msg) -> Vec<u8> {
        let started = Instant::now();
        let answer = self.call(method, request).unwrap_or_else(|e| panic!("{e}"));
        eprintln!("{method}: ok ({:?})", started.elapsed());
        answer
    }
}
