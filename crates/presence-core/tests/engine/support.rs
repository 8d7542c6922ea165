//! A scripted peer: builds requests, feeds them to an engine, and parses what comes out.

use std::time::{Duration, Instant};

use presence_core::{Engine, EngineConfig, FlowId, Peer, Transmit, Transport};
use sip_proto::message::Message;
use sip_proto::{Response, parse_message};

pub(crate) struct Harness {
    pub(crate) engine: Engine,
    pub(crate) t0: Instant,
}

impl Harness {
    pub(crate) fn new() -> Self {
        Self::with_config(EngineConfig {
            seed: 7,
            ..EngineConfig::default()
        })
    }

    pub(crate) fn with_config(config: EngineConfig) -> Self {
        Harness {
            engine: Engine::new(config),
            t0: Instant::now(),
        }
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

pub(crate) fn udp_peer() -> Peer {
    Peer {
        transport: Transport::Udp,
        addr: "192.0.2.10:5062".parse().unwrap(),
        flow: None,
    }
}

pub(crate) fn tcp_peer() -> Peer {
    Peer {
        transport: Transport::Tcp,
        addr: "192.0.2.10:40312".parse().unwrap(),
        flow: Some(FlowId(9)),
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
    assert_eq!(
        sent.len(),
        1,
        "expected exactly one message, got {}",
        sent.len()
    );
    response_of(&sent[0])
}
