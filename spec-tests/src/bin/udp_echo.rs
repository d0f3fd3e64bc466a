//! A UDP echo server for the UDP publishing test, run inside a container
//! (busybox's nc has no UDP): binds 0.0.0.0:PORT and answers every datagram
//! with `echo:` and the datagram.

fn main() {
    let port = std::env::args().nth(1).expect("usage: udp_echo PORT");
    let socket = std::net::UdpSocket::bind(format!("0.0.0.0:{port}"))
        .unwrap_or_else(|e| panic!("bind {port}: {e}"));
    let mut buf = [0u8; 2048];
    loop {
        let (n, from) = socket.recv_from(&mut buf).expect("recv_from");
        let mut answer = b"echo:".to_vec();
        answer.extend_from_slice(&buf[..n]);
        let _ = socket.send_to(&answer, from);
    }
}
