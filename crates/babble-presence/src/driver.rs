//! The engine driver: one task that owns the [`Engine`], feeds it what the network
//! delivers, sleeps until its next deadline, and carries its transmits to the flows. Due
//! deadlines are handled after every input too, so a busy inbound queue cannot hold back
//! retransmissions and expiries. The engine is never shared, so nothing is locked; sending
//! never waits on a socket. With durable acknowledgement on, what follows a batch of changes
//! waits for the writer to store it ([`crate::durable`]).

use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use presence_core::{Engine, Peer, Received, Transmit, Transport};
use tokio::sync::{mpsc, oneshot};
use tokio::time::{Instant, sleep_until};

use crate::counters::{self, ShellCounters};
use crate::durable::{Durable, Held};
use crate::entity_feed::{EntityFeed, EntityFeedHandle};
use crate::event_log::EventLog;
use crate::storage::Writer;
use crate::transport::{Flows, Inbound, SendError};

/// Owns the engine and the flow table.
pub(crate) struct Driver {
    engine: Engine,
    flows: Flows,
    inbound: mpsc::Receiver<Inbound>,
    events: Arc<EventLog>,
    writer: Option<Writer>,
    /// The number of the last batch of changes handed to the writer.
    batch: u64,
    /// What waits for a batch to be stored (`None`: nothing waits).
    durable: Option<Durable>,
    /// Commands applied since the last flush, to acknowledge once their changes are stored.
    applied: Vec<oneshot::Sender<()>>,
    counters: Arc<ShellCounters>,
    options: DriverOptions,
    /// The live view of entities (the dashboard's).
    feed: EntityFeed,
}

/// How the driver treats what it handles.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct DriverOptions {
    /// UDP requests that waited longer than this are shed unread (`None`: never).
    pub(crate) shed_after: Option<Duration>,
    /// Responses and acknowledgements wait until the changes they follow are stored.
    pub(crate) durable_ack: bool,
}

/// How long a stopping driver waits for the writer to store what its held messages follow.
const STOP_WAIT: Duration = Duration::from_secs(10);

impl Driver {
    pub(crate) fn new(
        engine: Engine,
        flows: Flows,
        inbound: mpsc::Receiver<Inbound>,
        events: Arc<EventLog>,
        writer: Option<Writer>,
        counters: Arc<ShellCounters>,
        options: DriverOptions,
    ) -> Self {
        let feed = EntityFeed::new();
        let durable = writer.as_ref().filter(|_| options.durable_ack).map(|w| Durable::new(w.committed()));
        let applied = Vec::new();
        Driver { engine, flows, inbound, events, writer, batch: 0, durable, applied, counters, options, feed }
    }

    /// The live view of entities this driver keeps.
    pub(crate) fn entity_feed(&self) -> EntityFeedHandle {
        self.feed.handle()
    }

    /// Runs until `shutdown` completes or every sender is gone; returns the engine so its
    /// final counters can be reported.
    pub(crate) async fn run(mut self, shutdown: impl Future<Output = ()>) -> (Engine, Option<Writer>) {
        let mut shutdown = pin!(shutdown);
        // What restoring state produced (final NOTIFYs of subscriptions that expired).
        self.flush();
        loop {
            let now = Instant::now();
            self.feed.take_if_due(&mut self.engine, now.into_std());
            // The feed's take only while changes wait: an idle server sleeps.
            let feed_due = self.feed.next_take().filter(|_| self.engine.has_touched());
            let deadline = self.engine.poll_timeout().into_iter().chain(feed_due).min().map(Instant::from_std);
            tokio::select! {
                biased;
                () = &mut shutdown => break,
                event = self.inbound.recv() => match event {
                    Some(event) => self.on_inbound(event),
                    None => break,
                },
                // Only a wake-up: the timers are handled below, the feed at the top.
                () = sleep_until(deadline.unwrap_or(now)), if deadline.is_some() => {}
                committed = next_commit(&mut self.durable) => match committed {
                    Some(_) => self.release(),
                    // As without durable acknowledgement: the server goes on unstored.
                    None => {
                        tracing::error!("the store writer has stopped; sending what waited for it");
                        let held = self.durable.take().map(|mut d| d.take_all()).unwrap_or_default();
                        self.carry_out(held);
                    }
                },
            }
            // After every input, not only when the sleep wins: while inbound stays busy the
            // biased select never polls the sleep, and retransmissions and expiries would wait
            // for a lull that may not come.
            self.engine.handle_timeout(Instant::now().into_std());
            self.flush();
        }
        // What was already accepted (API commands answered 202, messages received) is still
        // handled, so a graceful stop stores it.
        while let Ok(event) = self.inbound.try_recv() {
            self.on_inbound(event);
        }
        self.flush();
        if let Some(durable) = &mut self.durable {
            // What is held was answered: it goes once stored. If the store cannot take it
            // in time it is not sent, and its senders try again with the next process.
            let _ = tokio::time::timeout(STOP_WAIT, durable.committed(self.batch)).await;
            self.release();
        }
        (self.engine, self.writer)
    }

    fn on_inbound(&mut self, event: Inbound) {
        let now = Instant::now().into_std();
        match event {
            Inbound::Message { message, source, received, held } => {
                if self.stale(&message, source, received) {
                    counters::add(&self.counters.udp_requests_shed, 1);
                    return;
                }
                self.engine.handle_received(message, source, now);
                // Taken: its place in the streams' share of the queue is free again.
                drop(held);
            }
            Inbound::OversizedHead { head, source } => self.engine.handle_oversized_head(&head, source, now),
            Inbound::FlowOpened { flow, writer } => self.flows.add_stream(flow, writer),
            Inbound::Command { command, applied } => {
                self.engine.handle_command(command, now);
                self.applied.push(applied);
            }
            Inbound::Call(call) => (call.0)(&mut self.engine, now),
            Inbound::FlowClosed { flow } => {
                // Send what the engine produced for this flow before forgetting it.
                self.flush();
                self.flows.remove_stream(flow);
                self.engine.handle_flow_closed(flow, now);
            }
        }
    }

    /// Whether a UDP request waited in the queue so long that it is shed unread. Under a
    /// burst beyond what the engine can take, answering stale requests first would make
    /// every answer late and every sender retransmit (the overload collapses). Only what
    /// would start new work is shed (a request outside any dialog): responses and in-dialog
    /// requests finish work already done, such as a subscription set up that is now being
    /// ended, and shedding them would waste it. Stream requests are never shed (a stream
    /// sender does not retransmit).
    fn stale(&self, message: &Received, source: Peer, received: Instant) -> bool {
        // The wait first: telling new work apart reads the To header, on the engine's task.
        source.transport == Transport::Udp
            && self.options.shed_after.is_some_and(|limit| received.elapsed() > limit)
            && message.starts_work()
    }

    fn flush(&mut self) {
        // The changes first: what is sent below may report them stored.
        let wait_for = self.hand_over_changes();
        while let Some(transmit) = self.engine.poll_transmit() {
            match (wait_for, &mut self.durable) {
                (Some(batch), Some(durable)) => {
                    if !durable.hold(batch, Held::Transmit(transmit)) {
                        counters::add(&self.counters.held_dropped, 1);
                    }
                }
                _ => self.send(&transmit),
            }
        }
        for applied in std::mem::take(&mut self.applied) {
            match (wait_for, &mut self.durable) {
                // Dropped when the queue is full: the caller is told the write was not taken.
                (Some(batch), Some(durable)) => {
                    if !durable.hold(batch, Held::Applied(applied)) {
                        counters::add(&self.counters.held_dropped, 1);
                    }
                }
                // Nobody waiting is not an error: the sender gave up.
                _ => drop(applied.send(())),
            }
        }
        while let Some(event) = self.engine.poll_event() {
            self.events.publish(event);
        }
    }

    /// Hands the engine's changes to the writer as the next batch; the batch what is sent now
    /// must wait for, if it must.
    fn hand_over_changes(&mut self) -> Option<u64> {
        let writer = self.writer.as_ref()?;
        let changes = self.engine.take_changes();
        if !changes.is_empty() {
            self.batch += 1;
            writer.send(self.batch, changes);
        }
        let durable = self.durable.as_ref()?;
        durable.must_wait(self.batch).then_some(self.batch)
    }

    /// Sends and acknowledges what waited for the batches now stored.
    fn release(&mut self) {
        let Some(durable) = &mut self.durable else { return };
        let ready = durable.release();
        self.carry_out(ready);
    }

    /// Sends and acknowledges what was held.
    fn carry_out(&mut self, held: Vec<Held>) {
        for item in held {
            match item {
                Held::Transmit(transmit) => self.send(&transmit),
                Held::Applied(applied) => drop(applied.send(())),
            }
        }
    }

    fn send(&self, transmit: &Transmit) {
        match self.flows.send(transmit) {
            Ok(()) => {}
            // The peer (or the UDP socket) takes less than we send and its queue is full: the
            // message is lost as on a congested link, and its transaction times out (a
            // NOTIFY's ends the subscription).
            Err(e @ SendError::Backlogged(_)) => {
                let counter = match transmit.destination.transport {
                    Transport::Udp => &self.counters.udp_send_drops,
                    _ => &self.counters.tcp_backlog_drops,
                };
                counters::add(counter, 1);
                tracing::warn!(destination = %transmit.destination.addr, error = %e, "message not sent");
            }
            // A response for a connection that closed meanwhile: the peer's transaction
            // will time out, exactly as if the connection had failed a moment later.
            Err(e) => tracing::debug!(destination = %transmit.destination.addr, error = %e, "message not sent"),
        }
    }
}

/// The next batch the writer commits; never, when nothing waits for it.
async fn next_commit(durable: &mut Option<Durable>) -> Option<u64> {
    match durable {
        Some(durable) => durable.next_commit().await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use bytes::Bytes;
    use presence_core::{EngineConfig, FlowId};
    use sip_proto::{Message, Method, parse_message};
    use tokio::net::UdpSocket;

    use super::*;

    /// Requests waiting in the queue when the NOTIFY's Timer E comes due.
    const QUEUED: usize = 8;
    /// How long the phone waits for a datagram (virtual time: the clock is paused).
    const WAIT: Duration = Duration::from_secs(60);

    fn request(method: &str, call_id: &str, extra: &str) -> Bytes {
        Bytes::from(format!(
            "{method} sip:1001@pbx.example.com SIP/2.0\r\n\
             Via: SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bK{call_id};rport\r\n\
             Max-Forwards: 70\r\n\
             From: <sip:1002@pbx.example.com>;tag=w-{call_id}\r\n\
             To: <sip:1001@pbx.example.com>\r\n\
             Call-ID: {call_id}\r\n\
             CSeq: 1 {method}\r\n\
             {extra}Content-Length: 0\r\n\r\n"
        ))
    }

    /// A phone's socket, the server's UDP flow as the phone's requests arrive on it, and the
    /// flow table holding it.
    async fn phone_and_server() -> (UdpSocket, Peer, Flows) {
        let phone = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let socket = Arc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap());
        let flow = FlowId(1);
        let source = Peer {
            transport: Transport::Udp,
            addr: phone.local_addr().unwrap(),
            flow: Some(flow),
            local: socket.local_addr().unwrap(),
        };
        let counters = Arc::new(ShellCounters::default());
        let mut flows = Flows::new(counters.clone());
        flows.add_udp(flow, socket, counters);
        (phone, source, flows)
    }

    #[tokio::test(start_paused = true)]
    async fn a_due_retransmission_goes_out_while_requests_are_still_queued() {
        let (phone, source, flows) = phone_and_server().await;

        // The SUBSCRIBE is answered with a NOTIFY whose Timer E (RFC 3261 §17.1.2.2) is due
        // after T1; the clock moves there before the driver has seen any of the queued OPTIONS.
        let config = EngineConfig::default();
        let t1 = config.timers.t1;
        let mut engine = Engine::new(config);
        let subscribe = request("SUBSCRIBE", "watch", "Contact: <sip:1002@192.0.2.10:5062>\r\nEvent: presence\r\n");
        engine.handle_sip(&subscribe, source, Instant::now().into_std());
        tokio::time::advance(t1).await;
        // The sender stays open to the end, as the network's would: the queue empties, but it
        // does not close.
        let (inbound, queue) = mpsc::channel(QUEUED);
        for n in 0..QUEUED {
            let bytes = request("OPTIONS", &format!("ping{n}"), "");
            let message = Received::read(&bytes, usize::MAX);
            inbound.try_send(Inbound::Message { message, source, received: Instant::now(), held: None }).unwrap();
        }
        let events = Arc::new(EventLog::default());
        let driver = Driver::new(
            engine,
            flows,
            queue,
            events,
            None,
            Arc::new(ShellCounters::default()),
            DriverOptions::default(),
        );
        tokio::spawn(driver.run(std::future::pending()));

        let mut notify_cseqs = Vec::new();
        let mut options_answered_between = 0;
        let mut datagram = vec![0; 65536];
        while notify_cseqs.len() < 2 {
            let (len, _) = tokio::time::timeout(WAIT, phone.recv_from(&mut datagram)).await.unwrap().unwrap();
            match parse_message(&datagram[..len]).unwrap() {
                Message::Request(notify) if notify.method == Method::Notify => {
                    notify_cseqs.push(notify.headers.cseq().unwrap().seq);
                }
                Message::Response(answer) if answer.headers.cseq().unwrap().method == Method::Options => {
                    options_answered_between += usize::from(notify_cseqs.len() == 1);
                }
                // The 200 to the SUBSCRIBE.
                _ => {}
            }
        }
        assert_eq!(notify_cseqs[0], notify_cseqs[1], "the second NOTIFY is Timer E's retransmission of the first");
        assert!(
            options_answered_between < QUEUED,
            "the NOTIFY was retransmitted only after the queue had drained ({options_answered_between} OPTIONS answered first)"
        );
    }

    /// A UDP request outside any dialog that waited in the queue past the limit is shed
    /// unread and counted; a stale in-dialog one and a fresh one are answered.
    #[tokio::test(start_paused = true)]
    async fn a_stale_udp_request_is_shed_and_a_fresh_one_answered() {
        let (phone, source, flows) = phone_and_server().await;
        let (inbound, queue) = mpsc::channel(4);
        let counters = Arc::new(ShellCounters::default());
        let limit = Duration::from_millis(100);
        let read = |call_id| Received::read(&request("OPTIONS", call_id, ""), usize::MAX);
        let stale = Inbound::Message { message: read("stale"), source, received: Instant::now(), held: None };
        inbound.try_send(stale).unwrap();
        let in_dialog = String::from_utf8(request("OPTIONS", "in-dialog", "").to_vec())
            .unwrap()
            .replace("To: <sip:1001@pbx.example.com>", "To: <sip:1001@pbx.example.com>;tag=ours");
        let in_dialog = Received::read(in_dialog.as_bytes(), usize::MAX);
        inbound
            .try_send(Inbound::Message { message: in_dialog, source, received: Instant::now(), held: None })
            .unwrap();
        tokio::time::advance(limit * 2).await;
        let fresh = Inbound::Message { message: read("fresh"), source, received: Instant::now(), held: None };
        inbound.try_send(fresh).unwrap();
        let events = Arc::new(EventLog::default());
        let engine = Engine::new(EngineConfig::default());
        let options = DriverOptions { shed_after: Some(limit), durable_ack: false };
        let driver = Driver::new(engine, flows, queue, events, None, counters.clone(), options);
        tokio::spawn(driver.run(std::future::pending()));

        let mut datagram = vec![0; 65536];
        let mut answered = Vec::new();
        for _ in 0..2 {
            let (len, _) = tokio::time::timeout(WAIT, phone.recv_from(&mut datagram)).await.unwrap().unwrap();
            let Message::Response(answer) = parse_message(&datagram[..len]).unwrap() else { panic!("not a response") };
            answered.push(answer.headers.call_id().unwrap().to_owned());
        }
        assert_eq!(answered, ["in-dialog", "fresh"], "the stale request outside a dialog is not answered");
        assert_eq!(counters::read(&counters.udp_requests_shed), 1);
    }
}
