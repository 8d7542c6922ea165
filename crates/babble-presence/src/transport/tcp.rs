//! TCP (RFC 3261 §18): the accept loop. A semaphore caps the open connections, a count per
//! source address caps what one untrusted source may hold open (so one host cannot take
//! every slot), and the connections' tasks belong to the loop, so stopping it closes them.
//! Each connection runs the stream [`connection`] task with the [`SipCodec`].

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use ipnet::IpNet;
use presence_core::{Peer, Transport};
use sip_proto::framing::FrameLimits;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, mpsc};

use super::codec::SipCodec;
use super::{FlowIds, Inbound, StreamRules, connection};
use crate::counters;

/// How many connections may be open, in all and per source.
#[derive(Clone, Debug)]
pub(crate) struct ConnectionLimits {
    pub(crate) max_connections: usize,
    pub(crate) max_per_source: usize,
    /// Sources exempt from the per-source cap (a proxy carries many phones' connections).
    pub(crate) trusted: Vec<IpNet>,
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

/// Accepts connections until the listener fails or the driver goes away. The connections'
/// tasks belong to it: when it is stopped (the server shutting down), they stop too and the
/// connections close.
pub(crate) async fn accept_loop(
    listener: TcpListener,
    inbound: mpsc::Sender<Inbound>,
    ids: Arc<FlowIds>,
    frame: FrameLimits,
    rules: StreamRules,
    limits: ConnectionLimits,
) {
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let per_source = Arc::new(OpenPerSource::default());
    let mut connections = tokio::task::JoinSet::new();
    loop {
        // Forget the connections that have ended.
        while connections.try_join_next().is_some() {}
        let Ok(permit) = slots.clone().acquire_owned().await else {
            return;
        };
        let (stream, addr) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of descriptors fails at once and again: pause rather than spin.
                tracing::warn!(error = %e, "tcp accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        let trusted = limits.trusted.iter().any(|net| net.contains(&addr.ip()));
        let slot = if trusted { None } else { Some(per_source.take(addr.ip(), limits.max_per_source)) };
        if let Some(None) = slot {
            // Closed at once: the source has its share open already.
            counters::add(&rules.counters.stream_refusals, 1);
            tracing::debug!(peer = %addr, "tcp connection refused: too many from this source");
            continue;
        }
        let flow = ids.next();
        let inbound = inbound.clone();
        let Ok(local) = stream.local_addr() else { continue };
        // SIP messages are small and each is waited for: Nagle's delay would only add latency.
        let _ = stream.set_nodelay(true);
        let rules = rules.clone();
        connections.spawn(async move {
            let source = Peer { transport: Transport::Tcp, addr, flow: Some(flow), local };
            connection::serve(stream, SipCodec::new(frame), &rules, source, flow, inbound).await;
            drop((permit, slot));
        });
    }
}
