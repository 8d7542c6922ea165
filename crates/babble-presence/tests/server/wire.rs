//! The server on the wire: UDP and TCP answers, malformed and oversized input, keep-alives,
//! and graceful shutdown.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use crate::support::*;

#[test]
fn udp_keeps_answering_after_garbage_truncated_and_oversized_datagrams() {
    let dir = std::env::temp_dir().join(format!("bp-wire-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("small.toml");
    std::fs::write(&config, "[sip]\nmax_message_size = 2000\n").unwrap();
    let server = Server::start(&["--config", config.to_str().unwrap()]);
    let client = udp_client();
    let local = client.local_addr().unwrap();

    client.send_to(b"\x00\x01\x02 not sip at all", server.udp).unwrap();
    assert_eq!(recv_text(&client), None, "garbage is dropped");

    let truncated = options(local, "UDP", "trunc").replace("Content-Length: 0", "Content-Length: 500");
    client.send_to(truncated.as_bytes(), server.udp).unwrap();
    let answer = recv_text(&client).expect("a truncated request is answered");
    assert_eq!(status_of(&answer), 400);
    assert!(answer.starts_with("SIP/2.0 400 Body shorter than Content-Length"), "{answer}");

    let mut oversized = options(local, "UDP", "big").into_bytes();
    oversized.extend(std::iter::repeat_n(b'x', 5000));
    client.send_to(&oversized, server.udp).unwrap();
    assert_eq!(recv_text(&client), None, "oversized datagrams are dropped");

    client.send_to(options(local, "UDP", "after").as_bytes(), server.udp).unwrap();
    let answer = recv_text(&client).expect("still answering");
    assert_eq!(status_of(&answer), 200);
    assert!(answer.contains(&format!("rport={}", local.port())), "{answer}");

    let (status, logs) = server.stop();
    assert!(status.success(), "graceful shutdown exits 0: {status:?}");
    let stopped = logs.iter().find(|l| l["message"] == "stopped").expect("a final stats line");
    assert_eq!(stopped["malformed_dropped"], 1);
    assert_eq!(stopped["malformed_answered"], 1);
    assert_eq!(stopped["oversized"], 1);
    std::fs::remove_dir_all(&dir).ok();
}

fn read_response(stream: &mut TcpStream) -> String {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    // Read the head, then Content-Length bytes of body.
    while !buf.ends_with(b"\r\n\r\n") {
        stream.read_exact(&mut byte).expect("a response arrives");
        buf.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&buf).into_owned();
    let len: usize =
        head.lines().find_map(|l| l.strip_prefix("Content-Length: ")).and_then(|v| v.trim().parse().ok()).unwrap_or(0);
    let mut body = vec![0u8; len];
    stream.read_exact(&mut body).unwrap();
    head + &String::from_utf8_lossy(&body)
}

#[test]
fn tcp_frames_split_and_pipelined_messages_and_answers_pings() {
    let server = Server::start(&[]);
    let mut tcp = TcpStream::connect(server.tcp).unwrap();
    tcp.set_read_timeout(Some(WAIT)).unwrap();
    let local = tcp.local_addr().unwrap();

    tcp.write_all(b"\r\n\r\n").unwrap();
    let mut pong = [0u8; 2];
    tcp.read_exact(&mut pong).unwrap();
    assert_eq!(&pong, b"\r\n", "RFC 5626 pong");

    let first = options(local, "TCP", "s1");
    let (a, b) = first.split_at(37);
    tcp.write_all(a.as_bytes()).unwrap();
    // Not a timing assertion: the pause only makes the two halves arrive as separate reads.
    #[allow(clippy::disallowed_methods)]
    std::thread::sleep(Duration::from_millis(50));
    tcp.write_all(b.as_bytes()).unwrap();
    assert_eq!(status_of(&read_response(&mut tcp)), 200);

    let two = options(local, "TCP", "p1") + &options(local, "TCP", "p2");
    tcp.write_all(two.as_bytes()).unwrap();
    let r1 = read_response(&mut tcp);
    let r2 = read_response(&mut tcp);
    assert!(r1.contains("Call-ID: p1@test") && r2.contains("Call-ID: p2@test"));

    let invite = options(local, "TCP", "inv").replace("OPTIONS", "INVITE");
    tcp.write_all(invite.as_bytes()).unwrap();
    let r = read_response(&mut tcp);
    assert_eq!(status_of(&r), 405);
    assert!(r.contains("Allow: OPTIONS"), "{r}");
}

#[test]
fn tcp_oversized_message_gets_413_then_the_connection_closes() {
    let server = Server::start(&[]);
    let mut tcp = TcpStream::connect(server.tcp).unwrap();
    tcp.set_read_timeout(Some(WAIT)).unwrap();
    let big =
        options(tcp.local_addr().unwrap(), "TCP", "huge").replace("Content-Length: 0", "Content-Length: 10000000");
    tcp.write_all(big.as_bytes()).unwrap();
    assert_eq!(status_of(&read_response(&mut tcp)), 413);
    let mut rest = Vec::new();
    assert_eq!(tcp.read_to_end(&mut rest).unwrap(), 0, "the server closes the stream");

    // A Content-Length that overflows: 400 naming it, then the stream closes.
    let mut tcp = TcpStream::connect(server.tcp).unwrap();
    tcp.set_read_timeout(Some(WAIT)).unwrap();
    let overflow = options(tcp.local_addr().unwrap(), "TCP", "overflow")
        .replace("Content-Length: 0", "Content-Length: 99999999999999999999");
    tcp.write_all(overflow.as_bytes()).unwrap();
    let answer = read_response(&mut tcp);
    assert!(answer.starts_with("SIP/2.0 400 Malformed Content-Length header"), "{answer}");
    assert_eq!(tcp.read_to_end(&mut rest).unwrap(), 0, "then the server closes the stream");

    // A stream without Content-Length cannot be framed: closed without an answer.
    let mut tcp = TcpStream::connect(server.tcp).unwrap();
    tcp.set_read_timeout(Some(WAIT)).unwrap();
    let unframed = options(tcp.local_addr().unwrap(), "TCP", "nolen").replace("Content-Length: 0\r\n", "");
    tcp.write_all(unframed.as_bytes()).unwrap();
    assert_eq!(tcp.read_to_end(&mut rest).unwrap(), 0);

    // The server is unaffected.
    let client = udp_client();
    client.send_to(options(client.local_addr().unwrap(), "UDP", "ok").as_bytes(), server.udp).unwrap();
    assert_eq!(recv_text(&client).map(|r| status_of(&r)), Some(200));
}

/// Starts with `udp:127.0.0.1:<udp_port>` and `more` listeners, expecting the start to fail
/// as `failed` says; then waits until the UDP port is free again.
async fn failed_start_frees_udp(
    udp_port: u16,
    tcp: Option<std::net::SocketAddr>,
    http: std::net::SocketAddr,
    failed: fn(&babble_presence::ServerError) -> bool,
) {
    let mut config = babble_presence::config::Config::default();
    config.sip.listen = vec![format!("udp:127.0.0.1:{udp_port}").parse().unwrap()];
    config
        .sip
        .listen
        .extend(tcp.map(|addr| format!("tcp:{addr}").parse::<babble_presence::config::ListenSpec>().unwrap()));
    config.http.listen = http;
    config.storage.data_dir = "none".into();
    let result = babble_presence::Server::start(config).await;
    assert!(result.as_ref().err().is_some_and(failed), "{:?}", result.err());
    // The UDP socket bound before the failure is closed once its task has stopped.
    let deadline = tokio::time::Instant::now() + WAIT;
    while std::net::UdpSocket::bind(("127.0.0.1", udp_port)).is_err() {
        assert!(tokio::time::Instant::now() < deadline, "udp port {udp_port} still bound after the failed start");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_start_that_fails_part_way_frees_what_it_had_bound() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let taken = taken.local_addr().map(|a| (a, taken)).unwrap();
    let any_http = "127.0.0.1:0".parse().unwrap();
    let sip_taken = |e: &babble_presence::ServerError| matches!(e, babble_presence::ServerError::Bind { .. });
    failed_start_frees_udp(free_port(), Some(taken.0), any_http, sip_taken).await;
    let http_taken = |e: &babble_presence::ServerError| matches!(e, babble_presence::ServerError::HttpBind { .. });
    failed_start_frees_udp(free_port(), None, taken.0, http_taken).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_closes_the_tcp_connections_it_accepted() {
    use tokio::io::AsyncReadExt;
    let server = start_in_process(|_| {}).await;
    let tcp = server.local_addr(babble_presence::Transport::Tcp).unwrap();
    let mut idle = tokio::net::TcpStream::connect(tcp).await.unwrap();
    // Let the server take the connection before it stops.
    tokio::time::sleep(Duration::from_millis(100)).await;
    server.shutdown().await.unwrap();
    let mut buf = [0u8; 16];
    let read = tokio::time::timeout(WAIT, idle.read(&mut buf)).await;
    assert!(matches!(read, Ok(Ok(0)) | Ok(Err(_))), "the connection is closed, not left open: {read:?}");
}

/// A TCP connection from `local` (any 127.x address: Linux routes them all to loopback).
fn connect_from(local: &str, to: std::net::SocketAddr) -> TcpStream {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket.bind(&local.parse::<std::net::SocketAddr>().unwrap().into()).unwrap();
    socket.connect(&to.into()).unwrap();
    let tcp: TcpStream = socket.into();
    tcp.set_read_timeout(Some(WAIT)).unwrap();
    tcp
}

/// Whether the server closed `tcp` (a read finds the end of the stream).
fn closed_by_server(tcp: &mut TcpStream) -> bool {
    let mut rest = Vec::new();
    matches!(tcp.read_to_end(&mut rest), Ok(0))
}

/// One source holds at most its share of connections, and a connection that says nothing
/// is closed after the head timeout; another source is still served.
#[test]
fn tcp_connections_per_source_are_capped_and_silent_ones_closed() {
    let dir = temp_dir("tcp-limits");
    let config = dir.join("limits.toml");
    std::fs::write(&config, "[sip]\nmax_tcp_connections_per_source = 3\ntcp_head_timeout_secs = 1\n").unwrap();
    let server = Server::start(&["--config", config.to_str().unwrap()]);
    let mut held: Vec<TcpStream> = (0..3).map(|_| connect_from("127.0.0.1:0", server.tcp)).collect();
    for (n, tcp) in held.iter_mut().enumerate() {
        let local = tcp.local_addr().unwrap();
        tcp.write_all(options(local, "TCP", &format!("held{n}")).as_bytes()).unwrap();
        assert_eq!(status_of(&read_response(tcp)), 200);
    }
    let mut fourth = connect_from("127.0.0.1:0", server.tcp);
    assert!(closed_by_server(&mut fourth), "a fourth from the same address is closed at once");

    let mut other = connect_from("127.0.0.2:0", server.tcp);
    let local = other.local_addr().unwrap();
    other.write_all(options(local, "TCP", "other").as_bytes()).unwrap();
    assert_eq!(status_of(&read_response(&mut other)), 200, "another source is served");

    let mut silent = connect_from("127.0.0.3:0", server.tcp);
    assert!(closed_by_server(&mut silent), "a connection that says nothing is closed");

    let (status, _) = server.stop();
    assert!(status.success());
    std::fs::remove_dir_all(&dir).ok();
}
