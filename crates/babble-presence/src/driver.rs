//! The engine driver: one task that owns the [`Engine`], feeds it what the network
//! delivers, sleeps until its next deadline, and carries its transmits to the flows. The
//! engine is never shared, so nothing is locked; sending never waits on a socket.

use std::pin::pin;
use std::sync::Arc;

use presence_core::{Engine, Transmit};
use tokio::sync::{broadcast, mpsc};
use tokio::time::{Instant, sleep_until};

use crate::counters::{self, ShellCounters};
use crate::server::SequencedEvent;
use crate::storage::Writer;
use crate::transport::{Flows, Inbound, SendError};

/// Owns the engine and the flow table.
pub(crate) struct Driver {
    engine: Engine,
    flows: Flows,
    inbound: mpsc::Receiver<Inbound>,
    events: broadcast::Sender<SequencedEvent>,
    next_seq: u64,
    writer: Option<Writer>,
    counters: Arc<ShellCounters>,
}

impl Driver {
    pub(crate) fn new(
        engine: Engine,
        flows: Flows,
        inbound: mpsc::Receiver<Inbound>,
        events: broadcast::Sender<SequencedEvent>,
        writer: Option<Writer>,
        counters: Arc<ShellCounters>,
    ) -> Self {
        Driver { engine, flows, inbound, events, next_seq: 1, writer, counters }
    }

    /// Runs until `shutdown` completes or every sender is gone; returns the engine so its
    /// final counters can be reported.
    pub(crate) async fn run(mut self, shutdown: impl Future<Output = ()>) -> (Engine, Option<Writer>) {
        let mut shutdown = pin!(shutdown);
        // What restoring state produced (final NOTIFYs of subscriptions that expired).
        self.flush();
        loop {
            let deadline = self.engine.poll_timeout().map(Instant::from_std);
            tokio::select! {
                biased;
                () = &mut shutdown => break,
                event = self.inbound.recv() => match event {
                    Some(event) => self.on_inbound(event),
                    None => break,
                },
                () = sleep_until(deadline.unwrap_or_else(Instant::now)), if deadline.is_some() => {
                    self.engine.handle_timeout(Instant::now().into_std());
                }
            }
            self.flush();
        }
        // What was already accepted (API commands answered 202, messages received) is still
        // handled, so a graceful stop stores it.
        while let Ok(event) = self.inbound.try_recv() {
            self.on_inbound(event);
        }
        self.flush();
        (self.engine, self.writer)
    }

    fn on_inbound(&mut self, event: Inbound) {
        let now = Instant::now().into_std();
        match event {
            Inbound::Message { bytes, source } => self.engine.handle_sip(&bytes, source, now),
            Inbound::OversizedHead { head, source } => self.engine.handle_oversized_head(&head, source, now),
            Inbound::FlowOpened { flow, writer } => self.flows.add_stream(flow, writer),
            Inbound::Command(command) => self.engine.handle_command(command, now),
            Inbound::Call(call) => (call.0)(&mut self.engine, now),
            Inbound::FlowClosed { flow } => {
                // Send what the engine produced for this flow before forgetting it.
                self.flush();
                self.flows.remove_stream(flow);
                self.engine.handle_flow_closed(flow, now);
            }
        }
    }

    fn flush(&mut self) {
        while let Some(transmit) = self.engine.poll_transmit() {
            self.send(&transmit);
        }
        while let Some(event) = self.engine.poll_event() {
            // No receiver is not an error: nobody is integrated yet.
            let _ = self.events.send(SequencedEvent { seq: self.next_seq, event });
            self.next_seq += 1;
        }
        if let Some(writer) = &self.writer {
            let changes = self.engine.take_changes();
            if !changes.is_empty() {
                writer.send(changes);
            }
        }
    }

    fn send(&self, transmit: &Transmit) {
        match self.flows.send(transmit) {
            Ok(()) => {}
            // The peer reads slower than we write: the message is lost as on a congested
            // link, and its transaction times out (a NOTIFY's ends the subscription).
            Err(e @ SendError::Backlogged(_)) => {
                counters::add(&self.counters.tcp_backlog_drops, 1);
                tracing::warn!(destination = %transmit.destination.addr, error = %e, "message not sent");
            }
            // A response for a connection that closed meanwhile: the peer's transaction
            // will time out, exactly as if the connection had failed a moment later.
            Err(e) => tracing::debug!(destination = %transmit.destination.addr, error = %e, "message not sent"),
        }
    }
}
