//! A UDP echo server for the network tests, run inside a container (busybox
//! has no UDP server): binds 0.0.0.0:PORT (the first argument) and answers
//! every datagram with `echo:` and the datagram, until killed.

fn main() {
    let port = std::env::args().nth(1).expect("usage: udp_echo PORT");
    let socket = std::net::UdpSocket::bind(format!("0.0.0.0:{port}"))
        .unwrap_or_else(|e| panic!("bind 0.0.0.0:{port}: {e}"));
    let mut buf = [0u8; 2048];
    loop {
        let (n, peer) = socket.recv_from(&mut buf).expect("recv_from");
        let mut answer = b"echo:".to_vec();
        answer.extend_from_slice(&buf[..n]);
        socket.send_to(&answer, peer).expect("send_to");
    }
}
