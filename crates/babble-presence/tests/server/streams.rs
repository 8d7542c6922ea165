//! The TLS, WS and WSS listeners over real sockets, with a certificate made by the server's
//! own `gen-cert` code and trusted by the test's client: a watcher whose Contact is an
//! `.invalid` host (as browsers send) gets its 200 and every NOTIFY over the connection it
//! subscribed on, with the transport in Via; what is not SIP over WebSocket is answered why
//! and counted; an oversized WebSocket message closes with 1009; a failed TLS handshake is
//! counted; a reloaded certificate is served to new connections while open ones stay; and
//! the connection limits (per-source cap, handshake and idle timeouts) hold across TLS and
//! WebSocket, while a browser that answers the server's pings stays open past the idle timeout;
//! with `client_ca`, only a phone whose certificate it signed is served; and a browser that
//! registers over WSS is subscribed to and sent message-waiting over its connection.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use babble_presence::Transport;
use babble_presence::api::Command;
use futures_util::{SinkExt, StreamExt};
use presence_core::bodies::Basic;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

use crate::support::*;

const WAIT: Duration = Duration::from_secs(10);

/// A server listening on TLS, WS and WSS (and UDP, TCP), the directory of its certificate,
/// and a client configuration that trusts it.
async fn secure_server(label: &str) -> (babble_presence::Server, PathBuf, Arc<rustls::ClientConfig>) {
    let (server, dir, certificate) = start_secure(label, |_| {}).await;
    (server, dir, client_trusting(&certificate))
}

fn client_trusting(certificate: &std::path::Path) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(certificate).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    Arc::new(config)
}

async fn tls_connect(client: &Arc<rustls::ClientConfig>, to: std::net::SocketAddr) -> TlsStream<TcpStream> {
    let tcp = TcpStream::connect(to).await.unwrap();
    let connector = tokio_rustls::TlsConnector::from(client.clone());
    connector.connect(ServerName::try_from("localhost").unwrap(), tcp).await.unwrap()
}

/// A WebSocket handshake on `stream` offering the `sip` subprotocol.
async fn ws_connect<S: AsyncRead + AsyncWrite + Unpin>(stream: S, url: &str) -> WebSocketStream<S> {
    let mut request = url.into_client_request().unwrap();
    request.headers_mut().insert("Sec-WebSocket-Protocol", HeaderValue::from_static("sip"));
    let (ws, response) = tokio_tungstenite::client_async(request, stream).await.unwrap();
    assert_eq!(response.headers().get("Sec-WebSocket-Protocol").unwrap(), "sip", "RFC 7118 §4.1: sip is chosen");
    ws
}

/// A phone's connection: SIP framed by Content-Length over TLS, or a message per WebSocket
/// message.
enum Phone {
    Tls(Box<TlsStream<TcpStream>>),
    Ws(Box<WebSocketStream<TcpStream>>),
    Wss(Box<WebSocketStream<TlsStream<TcpStream>>>),
}

impl Phone {
    async fn send(&mut self, text: String) {
        match self {
            Phone::Tls(s) => s.write_all(text.as_bytes()).await.unwrap(),
            Phone::Ws(s) => s.send(Message::text(text)).await.unwrap(),
            Phone::Wss(s) => s.send(Message::text(text)).await.unwrap(),
        }
    }

    /// The next SIP message.
    async fn recv(&mut self) -> String {
        let next = async {
            match self {
                Phone::Tls(s) => read_framed(s).await,
                Phone::Ws(s) => ws_text(s.next().await),
                Phone::Wss(s) => ws_text(s.next().await),
            }
        };
        tokio::time::timeout(WAIT, next).await.expect("a SIP message in time")
    }
}

fn ws_text(message: Option<Result<Message, tokio_tungstenite::tungstenite::Error>>) -> String {
    match message {
        Some(Ok(Message::Text(text))) => text.to_string(),
        other => panic!("expected a SIP message as text, got {other:?}"),
    }
}

/// One message from a byte stream: the head, then Content-Length bytes.
async fn read_framed<S: AsyncRead + Unpin>(stream: &mut S) -> String {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        stream.read_exact(&mut byte).await.unwrap();
        buf.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&buf).into_owned();
    let len: usize = header(&head, "Content-Length").and_then(|v| v.parse().ok()).unwrap_or(0);
    let mut body = vec![0u8; len];
    stream.read_exact(&mut body).await.unwrap();
    head + &String::from_utf8_lossy(&body)
}

fn header<'a>(message: &'a str, name: &str) -> Option<&'a str> {
    message.lines().find_map(|l| l.strip_prefix(name)?.strip_prefix(':')).map(str::trim)
}

/// A browser-style presence SUBSCRIBE: its Via sent-by and Contact are `.invalid` names
/// (RFC 7118 §5.2), which cannot be reached, so only the connection can carry the NOTIFYs.
fn subscribe(via_transport: &str, call_id: &str) -> String {
    subscribe_to("presence", "application/pidf+xml", via_transport, call_id)
}

/// [`subscribe`] in `event`, accepting `accept`.
fn subscribe_to(event: &str, accept: &str, via_transport: &str, call_id: &str) -> String {
    format!(
        "SUBSCRIBE sip:1001@127.0.0.1 SIP/2.0\r\n\
         Via: SIP/2.0/{via_transport} df7jal23ls0d.invalid;branch=z9hG4bK{call_id}\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:1002@127.0.0.1>;tag=w{call_id}\r\n\
         To: <sip:1001@127.0.0.1>\r\n\
         Call-ID: {call_id}\r\n\
         CSeq: 1 SUBSCRIBE\r\n\
         Contact: <sip:1002@df7jal23ls0d.invalid;transport={}>\r\n\
         Event: {event}\r\n\
         Accept: {accept}\r\n\
         Expires: 600\r\n\
         Content-Length: 0\r\n\r\n",
        via_transport.to_ascii_lowercase()
    )
}

/// The 200 to a NOTIFY we received.
fn ok_to(notify: &str) -> String {
    let mut answer = "SIP/2.0 200 OK\r\n".to_owned();
    for name in ["Via", "From", "To", "Call-ID", "CSeq"] {
        for line in notify.lines().filter(|l| l.split(':').next() == Some(name)) {
            answer.push_str(line);
            answer.push_str("\r\n");
        }
    }
    answer + "Content-Length: 0\r\n\r\n"
}

/// Subscribes over `phone`, expects the 200 and the first NOTIFY over it with `via` as our
/// Via transport, pushes DND with a note naming this watcher (so that each call changes the
/// state) and expects the NOTIFY that shows it there too.
async fn watch_over(server: &babble_presence::Server, phone: &mut Phone, via: &str, call_id: &str) {
    phone.send(subscribe(via, call_id)).await;
    let answer = phone.recv().await;
    assert_eq!(status_of(&answer), 200, "{answer}");
    let first = phone.recv().await;
    assert!(first.starts_with("NOTIFY sip:1002@df7jal23ls0d.invalid"), "the NOTIFY names the Contact: {first}");
    assert!(header(&first, "Via").unwrap().starts_with(&format!("SIP/2.0/{via} ")), "our Via: {first}");
    let contact = header(&first, "Contact").unwrap();
    assert!(contact.ends_with(&format!(";transport={}>", via.to_ascii_lowercase())), "our Contact: {contact}");
    phone.send(ok_to(&first)).await;
    let dnd = Command::Status {
        entity: "1001@127.0.0.1".into(),
        basic: Basic::Open,
        note: Some(format!("DND for {call_id}")),
        dnd: true,
        on_the_phone: false,
    };
    server.send(dnd).await.unwrap();
    let second = phone.recv().await;
    assert!(
        second.starts_with("NOTIFY ") && second.contains(&format!("DND for {call_id}")),
        "the pushed change: {second}"
    );
    phone.send(ok_to(&second)).await;
}

/// Waits until the counter `name` in `/metrics` reads `expected` and returns it, or the last
/// value read after [`WAIT`]: a connection can be closed just before its failure is counted.
/// A BLF key over `phone`: subscribes to 1001's dialog state, expects the 200 and the first
/// NOTIFY over it, pushes a ringing call and expects the NOTIFY that shows it.
async fn watch_blf_over(server: &babble_presence::Server, phone: &mut Phone, via: &str, call_id: &str) {
    let blf = format!("blf-{call_id}");
    phone.send(subscribe_to("dialog", "application/dialog-info+xml", via, &blf)).await;
    let answer = phone.recv().await;
    assert_eq!(status_of(&answer), 200, "{answer}");
    let idle = phone.recv().await;
    assert!(idle.starts_with("NOTIFY ") && idle.contains("<dialog-info"), "{idle}");
    assert!(!idle.contains(&format!("call-{call_id}")), "not this call yet: {idle}");
    phone.send(ok_to(&idle)).await;
    let call = babble_presence::call::Call::new(format!("call-{call_id}"), babble_presence::call::CallState::Early);
    let push = Command::Dialog {
        entity: "1001@127.0.0.1".into(),
        display: None,
        call_count: None,
        calls: babble_presence::api::CallsUpdate::Partial(call),
        call_id: None,
    };
    server.send(push).await.unwrap();
    // The call also makes 1001 on the phone: the presence subscription on this connection is
    // notified too, in either order.
    let ringing = loop {
        let message = phone.recv().await;
        if header(&message, "Call-ID") == Some(blf.as_str()) {
            break message;
        }
        assert!(message.starts_with("NOTIFY "), "{message}");
        phone.send(ok_to(&message)).await;
    };
    assert!(ringing.contains(&format!("call-id=\"call-{call_id}\"")) && ringing.contains(">early<"), "{ringing}");
    phone.send(ok_to(&ringing)).await;
}

async fn metric(http: std::net::SocketAddr, name: &str, expected: u64) -> u64 {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let text = reqwest::get(format!("http://{http}/metrics")).await.unwrap().text().await.unwrap();
        let line = text.lines().find(|l| l.starts_with(name)).unwrap_or_else(|| panic!("{name} in /metrics"));
        let value = line.rsplit(' ').next().unwrap().parse().unwrap();
        if value == expected || tokio::time::Instant::now() > deadline {
            return value;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watchers_over_tls_ws_and_wss_are_notified_over_their_connection() {
    let (server, dir, client) = secure_server("streams-watch").await;
    let tls = server.local_addr(Transport::Tls).unwrap();
    let ws = server.local_addr(Transport::Ws).unwrap();
    let wss = server.local_addr(Transport::Wss).unwrap();

    let mut phone = Phone::Tls(Box::new(tls_connect(&client, tls).await));
    watch_over(&server, &mut phone, "TLS", "tls1").await;
    watch_blf_over(&server, &mut phone, "TLS", "tls1").await;

    let tcp = TcpStream::connect(ws).await.unwrap();
    let mut phone = Phone::Ws(Box::new(ws_connect(tcp, &format!("ws://{ws}/")).await));
    watch_over(&server, &mut phone, "WS", "ws1").await;
    watch_blf_over(&server, &mut phone, "WS", "ws1").await;

    let stream = tls_connect(&client, wss).await;
    let mut phone = Phone::Wss(Box::new(ws_connect(stream, &format!("wss://localhost:{}/", wss.port())).await));
    watch_over(&server, &mut phone, "WSS", "wss1").await;
    watch_blf_over(&server, &mut phone, "WSS", "wss1").await;

    let stats = server.shutdown().await.unwrap();
    assert_eq!(stats.subscriptions_lost, 0);
    std::fs::remove_dir_all(&dir).ok();
}

/// Reads what the server answers on a raw connection until it closes it.
async fn answer_to(to: std::net::SocketAddr, request: &str) -> String {
    let mut tcp = TcpStream::connect(to).await.unwrap();
    tcp.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(WAIT, tcp.read_to_end(&mut answer)).await.expect("answered and closed").unwrap();
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_is_not_sip_over_websocket_is_answered_why_and_counted() {
    let (server, dir, client) = secure_server("streams-refusals").await;
    let (ws, http) = (server.local_addr(Transport::Ws).unwrap(), server.http_addr());

    let plain = answer_to(ws, "GET / HTTP/1.1\r\nHost: pbx\r\n\r\n").await;
    assert!(plain.starts_with("HTTP/1.1 426 "), "a plain GET: {plain}");
    assert!(plain.contains("Sec-WebSocket-Protocol: sip") && plain.contains("RFC 7118"), "{plain}");

    let upgrade = "GET / HTTP/1.1\r\nHost: pbx\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                   Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n";
    let no_sip = answer_to(ws, &format!("{upgrade}\r\n")).await;
    assert!(no_sip.starts_with("HTTP/1.1 400 ") && no_sip.contains("subprotocol sip"), "no subprotocol: {no_sip}");
    let bad_version =
        answer_to(ws, &format!("{}Sec-WebSocket-Protocol: sip\r\n\r\n", upgrade.replace("13", "8"))).await;
    assert!(bad_version.starts_with("HTTP/1.1 400 "), "an upgrade tungstenite refuses: {bad_version}");
    assert_eq!(metric(http, "babble_ws_handshake_failures_total", 3).await, 3);

    // A message over sip.max_message_size (65 536) closes the connection with 1009.
    let tcp = TcpStream::connect(ws).await.unwrap();
    let mut phone = ws_connect(tcp, &format!("ws://{ws}/")).await;
    phone.send(Message::text("x".repeat(70_000))).await.unwrap();
    let close = loop {
        match tokio::time::timeout(WAIT, phone.next()).await.expect("closed in time") {
            Some(Ok(Message::Close(frame))) => break frame,
            Some(Ok(_)) => continue,
            other => panic!("expected a close frame, got {other:?}"),
        }
    };
    assert_eq!(u16::from(close.expect("a close with a reason").code), 1009);
    assert_eq!(metric(http, "babble_ws_bad_frames_total", 1).await, 1);

    // Plain SIP on the TLS port is a failed handshake.
    let tls = server.local_addr(Transport::Tls).unwrap();
    let mut tcp = TcpStream::connect(tls).await.unwrap();
    tcp.write_all(options(tcp.local_addr().unwrap(), "TCP", "plain").as_bytes()).await.unwrap();
    let mut rest = Vec::new();
    let _ = tokio::time::timeout(WAIT, tcp.read_to_end(&mut rest)).await.expect("closed");
    assert_eq!(metric(http, "babble_tls_handshake_failures_total", 1).await, 1);
    drop(client);
    server.shutdown().await.unwrap();
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reloaded_certificate_is_served_to_new_connections_while_open_ones_stay() {
    let (dir, certificate, key) = self_signed("streams-reload");
    let first = (certificate, key);
    let mut config = babble_presence::config::Config::default();
    config.sip.listen = vec!["tls:127.0.0.1:0".parse().unwrap()];
    config.http.listen = "127.0.0.1:0".parse().unwrap();
    config.storage.data_dir = "none".into();
    config.sip.tls.certificate = Some(first.0.clone());
    config.sip.tls.private_key = Some(first.1.clone());
    let server = babble_presence::Server::start(config.clone()).await.unwrap();
    let tls = server.local_addr(Transport::Tls).unwrap();
    let mut open = tls_connect(&client_trusting(&first.0), tls).await;

    let renewed = dir.join("renewed");
    std::fs::create_dir(&renewed).unwrap();
    let second = babble_presence::certificate::write_self_signed(&renewed, &["localhost".into()]).unwrap();
    config.sip.tls.certificate = Some(second.0.clone());
    config.sip.tls.private_key = Some(second.1.clone());
    server.reload(&config).await.unwrap();

    let mut new = tls_connect(&client_trusting(&second.0), tls).await;
    for (stream, branch) in [(&mut open, "kept"), (&mut new, "renewed")] {
        stream.write_all(options("127.0.0.1:5099".parse().unwrap(), "TLS", branch).as_bytes()).await.unwrap();
        assert_eq!(status_of(&read_framed(stream).await), 200, "{branch}");
    }
    // RFC 5626 §3.5.1 over TLS: a CRLFCRLF ping is answered with a CRLF pong.
    open.write_all(b"\r\n\r\n").await.unwrap();
    let mut pong = [0u8; 2];
    tokio::time::timeout(WAIT, open.read_exact(&mut pong)).await.expect("a pong").unwrap();
    assert_eq!(&pong, b"\r\n");
    // A reload that cannot read its files keeps the certificate in use.
    config.sip.tls.private_key = Some(dir.join("missing.key"));
    let refused = server.reload(&config).await.unwrap_err();
    assert!(refused.to_string().contains("missing.key"), "{refused}");
    let mut after = tls_connect(&client_trusting(&second.0), tls).await;
    after.write_all(options("127.0.0.1:5099".parse().unwrap(), "TLS", "after").as_bytes()).await.unwrap();
    assert_eq!(status_of(&read_framed(&mut after).await), 200);
    server.shutdown().await.unwrap();
    std::fs::remove_dir_all(&dir).ok();
}

/// Whether the server has closed `stream`: a read gives end of file or an error in time.
async fn closed_by_server<S: AsyncRead + Unpin>(stream: &mut S) -> bool {
    let mut byte = [0u8; 1];
    matches!(tokio::time::timeout(WAIT, stream.read(&mut byte)).await, Ok(Ok(0) | Err(_)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_connection_limits_hold_across_tls_and_websocket_and_pongs_keep_a_websocket_open() {
    let (server, dir, certificate) = start_secure("streams-limits", |config| {
        config.sip.max_tcp_connections_per_source = 3;
        config.sip.tcp_head_timeout_secs = 1;
        config.sip.tcp_idle_timeout_secs = 2;
        config.sip.ws_ping_interval_secs = 1;
    })
    .await;
    let client = client_trusting(&certificate);
    let (tls, ws, http) =
        (server.local_addr(Transport::Tls).unwrap(), server.local_addr(Transport::Ws).unwrap(), server.http_addr());

    // A browser that reads (so it answers each ping with a pong), a TLS phone that says
    // nothing once connected, and a connection that never even handshakes.
    let tcp = TcpStream::connect(ws).await.unwrap();
    let browser = ws_connect(tcp, &format!("ws://{ws}/")).await;
    let (mut to_browser, mut from_browser) = browser.split();
    let (pings, received) =
        (Arc::new(std::sync::atomic::AtomicUsize::new(0)), Arc::new(tokio::sync::Mutex::new(Vec::new())));
    let reading = {
        let (pings, received) = (pings.clone(), received.clone());
        tokio::spawn(async move {
            while let Some(Ok(message)) = from_browser.next().await {
                match message {
                    Message::Ping(_) => _ = pings.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
                    Message::Text(text) => received.lock().await.push(text.to_string()),
                    _ => {}
                }
            }
        })
    };
    // Its first message, as a browser registers at once (a connection that sends nothing
    // within the head timeout is closed).
    let request = options("127.0.0.1:5099".parse().unwrap(), "WS", "first");
    to_browser.send(Message::text(request)).await.unwrap();
    let mut silent_phone = tls_connect(&client, tls).await;
    let mut never_handshakes = TcpStream::connect(tls).await.unwrap();

    // The fourth connection from this address is closed at once: the cap counts the
    // WebSocket and TLS ones together. (On the listener the third came to, so that the two
    // are accepted in the order they connected.)
    let mut fourth = TcpStream::connect(tls).await.unwrap();
    assert!(closed_by_server(&mut fourth).await, "over the per-source cap");
    assert_eq!(metric(http, "babble_tcp_connections_refused_total", 1).await, 1);

    // The handshake is bounded by the head timeout (1 s), the silent phone by the idle
    // timeout (2 s); the browser's pongs keep it open past both.
    assert!(closed_by_server(&mut never_handshakes).await, "a TLS handshake never begun");
    assert!(closed_by_server(&mut silent_phone).await, "an idle TLS connection");
    assert_eq!(metric(http, "babble_tls_handshake_failures_total", 1).await, 1, "a handshake out of time failed");
    assert_eq!(metric(http, "babble_tcp_timeouts_total", 1).await, 1, "the idle connection");
    // Pinged each second it was silent: three pings span more than the idle timeout.
    let deadline = tokio::time::Instant::now() + WAIT;
    while pings.load(std::sync::atomic::Ordering::Relaxed) < 3 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(pings.load(std::sync::atomic::Ordering::Relaxed) >= 3, "pinged while silent");
    let request = options("127.0.0.1:5099".parse().unwrap(), "WS", "still-open");
    to_browser.send(Message::text(request)).await.unwrap();
    let deadline = tokio::time::Instant::now() + WAIT;
    while received.lock().await.len() < 2 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let answers = received.lock().await.clone();
    assert!(answers.len() == 2 && answers.iter().all(|a| status_of(a) == 200), "still served: {answers:?}");
    reading.abort();
    server.shutdown().await.unwrap();
    std::fs::remove_dir_all(&dir).ok();
}

/// A CA written to `dir/clients-ca.crt`, and a client configuration trusting `server`'s
/// certificate that presents a certificate `ca` signed (or none, with `signed: false`).
fn phone_identity(
    dir: &std::path::Path,
    server: &std::path::Path,
) -> (PathBuf, Arc<rustls::ClientConfig>, Arc<rustls::ClientConfig>) {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, ExtendedKeyUsagePurpose, IsCa, KeyPair};
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let ca_path = dir.join("clients-ca.crt");
    std::fs::write(&ca_path, ca.pem()).unwrap();
    let phone_key = KeyPair::generate().unwrap();
    let mut phone_params = CertificateParams::new(vec!["phone-1001.pbx.example.com".to_owned()]).unwrap();
    phone_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let phone_cert = phone_params.signed_by(&phone_key, &ca).unwrap();

    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(server).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    let builder = || {
        rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots.clone())
    };
    let key = rustls::pki_types::PrivateKeyDer::try_from(phone_key.serialize_der()).unwrap();
    let with_cert = builder().with_client_auth_cert(vec![phone_cert.der().clone()], key).unwrap();
    (ca_path, Arc::new(with_cert), Arc::new(builder().with_no_client_auth()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_client_ca_only_phones_with_a_certificate_it_signed_are_served() {
    let (dir, certificate, key) = self_signed("streams-mtls");
    let (ca, with_cert, without) = phone_identity(&dir, &certificate);
    let mut config = babble_presence::config::Config::default();
    config.sip.listen = vec!["tls:127.0.0.1:0".parse().unwrap()];
    config.http.listen = "127.0.0.1:0".parse().unwrap();
    config.storage.data_dir = "none".into();
    (config.sip.tls.certificate, config.sip.tls.private_key, config.sip.tls.client_ca) =
        (Some(certificate), Some(key), Some(ca));
    let server = babble_presence::Server::start(config).await.unwrap();
    let (tls, http) = (server.local_addr(Transport::Tls).unwrap(), server.http_addr());

    let mut phone = tls_connect(&with_cert, tls).await;
    phone.write_all(options("127.0.0.1:5099".parse().unwrap(), "TLS", "signed").as_bytes()).await.unwrap();
    assert_eq!(status_of(&read_framed(&mut phone).await), 200, "a phone with a signed certificate");

    // Without one, the server refuses the handshake (TLS 1.3 reports it on the first read).
    let tcp = TcpStream::connect(tls).await.unwrap();
    let connector = tokio_rustls::TlsConnector::from(without);
    let refused = match connector.connect(ServerName::try_from("localhost").unwrap(), tcp).await {
        Err(_) => true,
        Ok(mut stream) => {
            let _ = stream.write_all(options("127.0.0.1:5099".parse().unwrap(), "TLS", "unsigned").as_bytes()).await;
            closed_by_server(&mut stream).await
        }
    };
    assert!(refused, "a phone without a certificate is not served");
    assert_eq!(metric(http, "babble_tls_handshake_failures_total", 1).await, 1);
    server.shutdown().await.unwrap();
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_browser_registered_over_wss_is_subscribed_to_and_sent_mwi_over_its_connection() {
    let (server, dir, client) = secure_server("streams-register").await;
    let wss = server.local_addr(Transport::Wss).unwrap();
    let stream = tls_connect(&client, wss).await;
    let mut phone = Phone::Wss(Box::new(ws_connect(stream, &format!("wss://localhost:{}/", wss.port())).await));
    let register = "REGISTER sip:127.0.0.1 SIP/2.0\r\n\
         Via: SIP/2.0/WSS df7jal23ls0d.invalid;branch=z9hG4bKreg1\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:1001@127.0.0.1>;tag=r1\r\n\
         To: <sip:1001@127.0.0.1>\r\n\
         Call-ID: reg1\r\n\
         CSeq: 1 REGISTER\r\n\
         Contact: <sip:k2x9@df7jal23ls0d.invalid;transport=ws>;reg-id=1;+sip.instance=\"<urn:uuid:7c1b1f5e-3f0e-4a8e-9d51-0f4f6c1a2b3c>\"\r\n\
         Supported: path, outbound\r\n\
         Allow: INVITE, ACK, BYE, CANCEL, OPTIONS, SUBSCRIBE, NOTIFY\r\n\
         Expires: 600\r\n\
         Content-Length: 0\r\n\r\n";
    phone.send(register.to_owned()).await;
    let ok = phone.recv().await;
    assert_eq!(status_of(&ok), 200, "{ok}");
    assert_eq!(header(&ok, "Require"), Some("outbound"), "RFC 5626 §6: the flow is the connection: {ok}");

    // Subscribed back over the WebSocket, to the .invalid Contact, which only the
    // connection reaches.
    let subscribe = phone.recv().await;
    assert!(subscribe.starts_with("SUBSCRIBE sip:k2x9@df7jal23ls0d.invalid;transport=ws "), "{subscribe}");
    assert!(header(&subscribe, "Via").unwrap().starts_with("SIP/2.0/WSS "), "{subscribe}");
    phone.send(ok_to(&subscribe).replace("SIP/2.0 200 OK", "SIP/2.0 489 Bad Event")).await;

    // Message-waiting for a phone that does not subscribe to it comes the same way.
    let counts = babble_presence::MessageCounts { new: 3, old: 1, new_urgent: 0, old_urgent: 0 };
    let push = Command::Voicemail {
        entity: "1001@127.0.0.1".into(),
        counts,
        reason: babble_presence::api::VoicemailReason::Update,
    };
    server.send(push).await.unwrap();
    let mwi = phone.recv().await;
    assert!(mwi.starts_with("NOTIFY sip:k2x9@df7jal23ls0d.invalid;transport=ws "), "{mwi}");
    assert!(mwi.contains("Messages-Waiting: yes") && mwi.contains("Voice-Message: 3/1"), "{mwi}");
    phone.send(ok_to(&mwi)).await;
    server.shutdown().await.unwrap();
    std::fs::remove_dir_all(&dir).ok();
}
