//! TCP (RFC 3261 §18): the accept loop. A semaphore caps the open connections, and the
//! connections' tasks belong to the loop, so stopping it closes them. Each connection runs
//! the stream [`connection`] task with the [`SipCodec`].

use std::sync::Arc;

use presence_core::{Peer, Transport};
use sip_proto::framing::FrameLimits;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, mpsc};

use super::codec::SipCodec;
use super::{FlowIds, Inbound, connection};

/// Accepts connections until the listener fails or the driver goes away. The connections'
/// tasks belong to it: when it is stopped (the server shutting down), they stop too and the
/// connections close.
pub(crate) async fn accept_loop(
    listener: TcpListener,
    inbound: mpsc::Sender<Inbound>,
    ids: Arc<FlowIds>,
    limits: FrameLimits,
    max_message_size: usize,
    max_connections: usize,
) {
    let slots = Arc::new(Semaphore::new(max_connections));
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
        let flow = ids.next();
        let inbound = inbound.clone();
        let Ok(local) = stream.local_addr() else { continue };
        // SIP messages are small and each is waited for: Nagle's delay would only add latency.
        let _ = stream.set_nodelay(true);
        connections.spawn(async move {
            let source = Peer { transport: Transport::Tcp, addr, flow: Some(flow), local };
            let codec = SipCodec::new(limits);
            connection::serve(stream, codec, max_message_size, source, flow, inbound).await;
            drop(permit);
        });
    }
}
