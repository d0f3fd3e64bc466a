//! A minimal sd_notify client for the NOTIFY_SOCKET tests, run inside a
//! container: sends its arguments, one per line, as one datagram to
//! `$NOTIFY_SOCKET`.

fn main() {
    let path = std::env::var("NOTIFY_SOCKET").expect("NOTIFY_SOCKET is not set");
    let message = std::env::args().skip(1).collect::<Vec<_>>().join("\n");
    let socket = std::os::unix::net::UnixDatagram::unbound().expect("socket");
    socket
        .send_to(message.as_bytes(), &path)
        .unwrap_or_else(|e| panic!("send to {path}: {e}"));
}
