//! A scripted peer: builds requests, feeds them to an engine, and parses what comes out.

use std::time::{Duration, Instant};

use presence_core::{Engine, EngineConfig, FlowId, Peer, Transmit, Transport};
use sip_proto::message::Message;
use sip_proto::{Request, Response, parse_message};

pub(crate) struct Harness {
    pub(crate) engine: Engine,
    pub(crate) t0: Instant,
}

impl Harness {
    pub(crate) fn new() -> Self {
        Self::with_config(EngineConfig { seed: 7, ..EngineConfig::default() })
    }

    pub(crate) fn with_config(config: EngineConfig) -> Self {
        Harness { engine: Engine::new(config), t0: Instant::now() }
    }

    pub(crate) fn at(&self, secs: f64) -> Instant {
        self.t0 + Duration::from_secs_f64(secs)
    }

    /// Feeds `raw` from `peer` at `secs` and returns everything the engine sent.
    pub(crate) fn send(&mut self, raw: &[u8], peer: Peer, secs: f64) -> Vec<Transmit> {
        let now = self.at(secs);
        self.engine.handle_sip(raw, peer, now);
        self.drain()
    }

    pub(crate) fn drain(&mut self) -> Vec<Transmit> {
        std::iter::from_fn(|| self.engine.poll_transmit()).collect()
    }
}

/// Our address as the peers reach us.
pub(crate) const LOCAL: &str = "198.51.100.1:5060";

pub(crate) fn udp_peer() -> Peer {
    Peer {
        transport: Transport::Udp,
        addr: "192.0.2.10:5062".parse().unwrap(),
        flow: Some(FlowId(1)),
        local: LOCAL.parse().unwrap(),
    }
}

pub(crate) fn tcp_peer() -> Peer {
    Peer {
        transport: Transport::Tcp,
        addr: "192.0.2.10:40312".parse().unwrap(),
        flow: Some(FlowId(9)),
        local: LOCAL.parse().unwrap(),
    }
}

/// A request from 1002 to 1001 with the given method, Via branch and extra header lines.
pub(crate) fn request(method: &str, uri: &str, branch: &str, extra: &str) -> Vec<u8> {
    format!(
        "{method} {uri} SIP/2.0\r\n\
         Via: SIP/2.0/UDP 192.0.2.10:5062;branch={branch};rport\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:1002@pbx.example.com>;tag=f1\r\n\
         To: <sip:1001@pbx.example.com>\r\n\
         Call-ID: call-{branch}\r\n\
         CSeq: 1 {method}\r\n\
         {extra}Content-Length: 0\r\n\r\n"
    )
    .into_bytes()
}

pub(crate) fn response_of(t: &Transmit) -> Response {
    match parse_message(&t.payload) {
        Ok(Message::Response(r)) => r,
        other => panic!("engine sent something other than a response: {other:?}"),
    }
}

/// The single response the engine sent.
pub(crate) fn only_response(sent: &[Transmit]) -> Response {
    assert_eq!(sent.len(), 1, "expected exactly one message, got {}", sent.len());
    response_of(&sent[0])
}

/// Splits what the engine sent into responses and requests (NOTIFYs), in order.
pub(crate) fn split(sent: &[Transmit]) -> (Vec<Response>, Vec<Request>) {
    let mut responses = Vec::new();
    let mut requests = Vec::new();
    for t in sent {
        match parse_message(&t.payload) {
            Ok(Message::Response(r)) => responses.push(r),
            Ok(Message::Request(r)) => requests.push(r),
            Err(e) => panic!("engine sent a malformed message: {e}"),
        }
    }
    (responses, requests)
}

/// A watcher phone: one subscription dialog, tracking its CSeq and the server's tag.
pub(crate) struct Watch {
    pub(crate) call_id: String,
    pub(crate) event: String,
    pub(crate) accept: Option<String>,
    /// Header lines every SUBSCRIBE of the dialog carries besides the usual ones.
    pub(crate) extra: String,
    pub(crate) to_tag: Option<String>,
    pub(crate) cseq: u32,
    pub(crate) target: String,
}

impl Watch {
    pub(crate) fn new(call_id: &str, event: &str, target: &str) -> Self {
        Watch {
            call_id: call_id.into(),
            event: event.into(),
            accept: None,
            extra: String::new(),
            to_tag: None,
            cseq: 0,
            target: target.into(),
        }
    }

    pub(crate) fn accept(mut self, accept: &str) -> Self {
        self.accept = Some(accept.into());
        self
    }

    /// Adds `line` (`Supported: eventlist`) to every SUBSCRIBE of the dialog.
    pub(crate) fn header(mut self, line: &str) -> Self {
        self.extra.push_str(line);
        self.extra.push_str("\r\n");
        self
    }

    /// The next SUBSCRIBE of this dialog (initial until the server's tag is known).
    pub(crate) fn subscribe(&mut self, expires: Option<u32>) -> Vec<u8> {
        self.cseq += 1;
        let to_tag = self.to_tag.as_ref().map(|t| format!(";tag={t}")).unwrap_or_default();
        let accept = self.accept.as_ref().map(|a| format!("Accept: {a}\r\n")).unwrap_or_default();
        let expires = expires.map(|e| format!("Expires: {e}\r\n")).unwrap_or_default();
        format!(
            "SUBSCRIBE sip:{target} SIP/2.0\r\n\
             Via: SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bK{call_id}{cseq};rport\r\n\
             Max-Forwards: 70\r\n\
             From: \"Watcher\" <sip:1002@pbx.example.com>;tag=w-{call_id}\r\n\
             To: <sip:{target}>{to_tag}\r\n\
             Call-ID: {call_id}\r\n\
             CSeq: {cseq} SUBSCRIBE\r\n\
             Contact: <sip:1002@192.168.1.50:5062>\r\n\
             Event: {event}\r\n\
             {accept}{expires}{extra}User-Agent: test-phone\r\n\
             Content-Length: 0\r\n\r\n",
            target = self.target,
            call_id = self.call_id,
            cseq = self.cseq,
            event = self.event,
            extra = self.extra,
        )
        .into_bytes()
    }

    /// Learns the server's tag from a 2xx.
    pub(crate) fn accepted(&mut self, response: &Response) {
        assert!((200..300).contains(&response.status), "not accepted: {} {}", response.status, response.reason);
        self.to_tag = response.headers.to().unwrap().tag().map(str::to_owned);
    }
}

/// The phone's answer to a NOTIFY (or any request the engine sent).
pub(crate) fn answer(request: &Request, status: u16) -> Vec<u8> {
    let mut response = Response::to(request, status);
    if let Ok(mut to) = request.headers.to()
        && to.tag().is_none()
    {
        to.params.set("tag", Some("phone"));
        response.headers.set(sip_proto::HeaderName::To, to.to_string());
    }
    response.encode().to_vec()
}

pub(crate) fn header(request: &Request, name: sip_proto::HeaderName) -> &str {
    request.headers.get(&name).unwrap_or_default()
}

pub(crate) fn body(request: &Request) -> String {
    String::from_utf8_lossy(&request.body).into_owned()
}

/// A PUBLISH (RFC 3903) from `device` (its Contact) for `entity`.
pub(crate) struct Publish<'a> {
    pub(crate) entity: &'a str,
    pub(crate) event: &'a str,
    pub(crate) device: &'a str,
    pub(crate) if_match: Option<&'a str>,
    pub(crate) expires: Option<u32>,
    pub(crate) body: Option<(&'a str, &'a str)>,
}

impl Publish<'_> {
    pub(crate) fn encode(&self, branch: &str) -> Vec<u8> {
        let if_match = self.if_match.map(|t| format!("SIP-If-Match: {t}\r\n")).unwrap_or_default();
        let expires = self.expires.map(|e| format!("Expires: {e}\r\n")).unwrap_or_default();
        let (content_type, body) = match self.body {
            Some((t, b)) => (format!("Content-Type: {t}\r\n"), b),
            None => (String::new(), ""),
        };
        format!(
            "PUBLISH sip:{entity} SIP/2.0\r\n\
             Via: SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bK{branch};rport\r\n\
             Max-Forwards: 70\r\n\
             From: <sip:{entity}>;tag=p-{branch}\r\n\
             To: <sip:{entity}>\r\n\
             Call-ID: pub-{branch}\r\n\
             CSeq: 1 PUBLISH\r\n\
             Contact: <sip:{device}>\r\n\
             Event: {event}\r\n\
             {if_match}{expires}{content_type}Content-Length: {len}\r\n\r\n{body}",
            entity = self.entity,
            device = self.device,
            event = self.event,
            len = body.len(),
        )
        .into_bytes()
    }
}

/// A minimal PIDF document as Zoiper publishes it: one tuple with a note.
pub(crate) fn zoiper_pidf(entity: &str, basic: &str, note: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><presence xmlns="urn:ietf:params:xml:ns:pidf" entity="sip:{entity}"><tuple id="z1"><status><basic>{basic}</basic></status><note>{note}</note></tuple></presence>"#
    )
}

/// A dialog-info document with one dialog in `state`.
pub(crate) fn dialog_doc(entity: &str, version: u32, call_id: &str, state: &str) -> String {
    format!(
        r#"<?xml version="1.0"?><dialog-info xmlns="urn:ietf:params:xml:ns:dialog-info" version="{version}" state="full" entity="sip:{entity}"><dialog id="{call_id}" call-id="{call_id}" direction="recipient"><state>{state}</state></dialog></dialog-info>"#
    )
}

/// A REGISTER from a phone at 192.0.2.10:5062 for `aor`, binding `contact` lines.
pub(crate) fn register(aor: &str, call_id: &str, cseq: u32, contacts: &[&str], extra: &str) -> Vec<u8> {
    let contacts: String = contacts.iter().map(|c| format!("Contact: {c}\r\n")).collect();
    format!(
        "REGISTER sip:pbx.example.com SIP/2.0\r\n\
         Via: SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bK{call_id}{cseq};rport\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:{aor}>;tag=r-{call_id}\r\n\
         To: <sip:{aor}>\r\n\
         Call-ID: {call_id}\r\n\
         CSeq: {cseq} REGISTER\r\n\
         {contacts}{extra}User-Agent: test-phone\r\n\
         Content-Length: 0\r\n\r\n"
    )
    .into_bytes()
}

/// Subscribes `watch` at `secs`, answers the immediate NOTIFY with 200, and returns the
/// 2xx and that NOTIFY.
pub(crate) fn established(
    h: &mut Harness,
    watch: &mut Watch,
    expires: Option<u32>,
    secs: f64,
) -> (sip_proto::Response, sip_proto::Request) {
    let (responses, notifies) = split(&h.send(&watch.subscribe(expires), udp_peer(), secs));
    assert_eq!(responses.len(), 1);
    watch.accepted(&responses[0]);
    assert_eq!(notifies.len(), 1, "an immediate NOTIFY follows the 2xx");
    let notify = notifies[0].clone();
    assert!(h.send(&answer(&notify, 200), udp_peer(), secs).is_empty());
    (responses[0].clone(), notify)
}
