//! The accept loop of every stream listener: TCP (RFC 3261 §18), TLS over it, and WebSocket
//! and secure WebSocket (RFC 7118). One semaphore caps the connections open on all of them
//! together, a count per source address caps what one untrusted source may hold open (so one
//! host cannot take every slot), and the connections' tasks belong to their loop, so
//! stopping it closes them. Each connection does its transport's handshake (within the head
//! timeout), then runs the stream [`connection`] task: bytes framed by the [`SipCodec`] for
//! TCP and TLS, WebSocket messages for WS and WSS.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use ipnet::IpNet;
use presence_core::{Peer, Transport};
use sip_proto::framing::FrameLimits;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, mpsc};

use super::codec::SipCodec;
use super::tls::ServerTls;
use super::{FlowIds, Inbound, StreamRules, connection, ws};
use crate::counters;

/// What a listener's connections carry, and what their handshake needs.
#[derive(Clone, Debug)]
pub(crate) enum StreamKind {
    Tcp,
    Tls(Arc<ServerTls>),
    /// WebSocket, pinging a connection after this long without sending.
    Ws(std::time::Duration),
    Wss(Arc<ServerTls>, std::time::Duration),
}

impl StreamKind {
    pub(crate) fn transport(&self) -> Transport {
        match self {
            StreamKind::Tcp => Transport::Tcp,
            StreamKind::Tls(_) => Transport::Tls,
            StreamKind::Ws(_) => Transport::Ws,
            StreamKind::Wss(..) => Transport::Wss,
        }
    }
}

/// How many connections may be open, on all stream listeners together and per source.
#[derive(Clone, Debug)]
pub(crate) struct ConnectionLimits {
    slots: Arc<Semaphore>,
    per_source: Arc<OpenPerSource>,
    max_per_source: usize,
    /// Sources exempt from the per-source cap (a proxy carries many phones' connections).
    trusted: Vec<IpNet>,
}

impl ConnectionLimits {
    pub(crate) fn new(max_connections: usize, max_per_source: usize, trusted: Vec<IpNet>) -> Self {
        ConnectionLimits {
            slots: Arc::new(Semaphore::new(max_connections)),
            per_source: Arc::default(),
            max_per_source,
            trusted,
        }
    }
}

/// Open connections per source address. A [`SourceSlot`] holds one place and gives it back
/// when dropped, whichever way its connection ends.
#[derive(Debug, Default)]
struct OpenPerSource(Mutex<HashMap<IpAddr, usize>>);

struct SourceSlot {
    open: Arc<OpenPerSource>,
    source: IpAddr,
}

impl OpenPerSource {
    /// A place for one more connection from `source`, unless it holds `max` already.
    fn take(self: &Arc<Self>, source: IpAddr, max: usize) -> Option<SourceSlot> {
        let mut open = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let held = open.entry(source).or_default();
        if *held >= max {
            return None;
        }
        *held += 1;
        Some(SourceSlot { open: self.clone(), source })
    }
}

impl Drop for SourceSlot {
    fn drop(&mut self) {
        let mut open = self.open.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(held) = open.get_mut(&self.source) {
            *held -= 1;
            if *held == 0 {
                open.remove(&self.source);
            }
        }
    }
}

/// Accepts connections of `kind` until the listener fails or the driver goes away. The
/// connections' tasks belong to it: when it is stopped (the server shutting down), they stop
/// too and the connections close.
pub(crate) async fn accept_loop(
    listener: TcpListener,
    kind: StreamKind,
    inbound: mpsc::Sender<Inbound>,
    ids: Arc<FlowIds>,
    frame: FrameLimits,
    rules: StreamRules,
    limits: ConnectionLimits,
) {
    let transport = kind.transport();
    let mut connections = tokio::task::JoinSet::new();
    loop {
        // Forget the connections that have ended.
        while connections.try_join_next().is_some() {}
        let Ok(permit) = limits.slots.clone().acquire_owned().await else {
            return;
        };
        let (stream, addr) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of descriptors fails at once and again: pause rather than spin.
                tracing::warn!(%transport, error = %e, "accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        let trusted = limits.trusted.iter().any(|net| net.contains(&addr.ip()));
        let slot = if trusted { None } else { Some(limits.per_source.take(addr.ip(), limits.max_per_source)) };
        if let Some(None) = slot {
            // Closed at once: the source has its share open already.
            counters::add(&rules.counters.stream_refusals, 1);
            tracing::debug!(%transport, peer = %addr, "connection refused: too many from this source");
            continue;
        }
        let flow = ids.next();
        let inbound = inbound.clone();
        let Ok(local) = stream.local_addr() else { continue };
        // SIP messages are small and each is waited for: Nagle's delay would only add latency.
        let _ = stream.set_nodelay(true);
        let (rules, kind) = (rules.clone(), kind.clone());
        connections.spawn(async move {
            let source = Peer { transport, addr, flow: Some(flow), local };
            match kind {
                StreamKind::Tcp => {
                    connection::serve_bytes(stream, SipCodec::new(frame), &rules, source, flow, inbound).await;
                }
                StreamKind::Tls(tls) => {
                    if let Some(stream) = tls.handshake(stream, &rules).await {
                        connection::serve_bytes(stream, SipCodec::new(frame), &rules, source, flow, inbound).await;
                    }
                }
                StreamKind::Ws(ping_every) => ws::serve(stream, &rules, ping_every, source, flow, inbound).await,
                StreamKind::Wss(tls, ping_every) => {
                    if let Some(stream) = tls.handshake(stream, &rules).await {
                        ws::serve(stream, &rules, ping_every, source, flow, inbound).await;
                    }
                }
            }
            drop((permit, slot));
        });
    }
}
