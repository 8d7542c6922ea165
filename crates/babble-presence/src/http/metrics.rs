//! The Prometheus exposition: each scrape copies the engine's counters and state into a
//! recorder of our own (not the process-wide one, so several servers in one process stay
//! apart) and renders it.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use metrics::{counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram, with_local_recorder};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusRecorder};
use presence_core::Stats;

use crate::counters::{self, ShellCounters};

/// NOTIFY latency buckets, in seconds.
const LATENCY_BUCKETS: [f64; 10] = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0];

/// What a scrape reads from the engine: counters, subscriptions by (event, state), named
/// counts (name, `# HELP` text, value), and the NOTIFY latencies measured since the last
/// scrape.
pub(crate) type Snapshot =
    (Stats, BTreeMap<(&'static str, &'static str), u64>, [(&'static str, &'static str, usize); 7], Vec<Duration>);

pub(crate) struct Metrics {
    recorder: PrometheusRecorder,
    pub(crate) api_events: AtomicU64,
    shell: Arc<ShellCounters>,
}

impl Metrics {
    pub(crate) fn new(shell: Arc<ShellCounters>) -> Self {
        let builder = PrometheusBuilder::new();
        let builder = match builder
            .set_buckets_for_metric(Matcher::Full("babble_notify_latency_seconds".into()), &LATENCY_BUCKETS)
        {
            Ok(b) => b,
            // Only refuses an empty bucket list, which ours is not.
            Err(_) => PrometheusBuilder::new(),
        };
        Metrics { recorder: builder.build_recorder(), api_events: AtomicU64::new(0), shell }
    }

    pub(crate) fn render(&self, (stats, subscriptions, counts, latencies): Snapshot) -> String {
        with_local_recorder(&self.recorder, || {
            let totals = [
                ("babble_sip_requests_received_total", "SIP requests that parsed", stats.requests_in),
                ("babble_sip_responses_received_total", "SIP responses that parsed", stats.responses_in),
                ("babble_sip_messages_sent_total", "SIP messages sent", stats.messages_out),
                (
                    "babble_sip_malformed_answered_total",
                    "malformed messages answered 400 or 505",
                    stats.malformed_answered,
                ),
                (
                    "babble_sip_malformed_dropped_total",
                    "malformed messages dropped (not even their head parsed)",
                    stats.malformed_dropped,
                ),
                ("babble_sip_oversized_total", "messages over sip.max_message_size", stats.oversized),
                (
                    "babble_sip_retransmissions_absorbed_total",
                    "request retransmissions answered from their transaction",
                    stats.retransmissions_absorbed,
                ),
                ("babble_sip_stray_responses_total", "responses matching no request we sent", stats.stray_responses),
                (
                    "babble_sip_transactions_forgotten_early_total",
                    "answered transactions forgotten before Timer J to make room",
                    stats.transactions_forgotten_early,
                ),
                ("babble_notifies_ok_total", "NOTIFYs answered 2xx", stats.notifies_ok),
                ("babble_notifies_refused_total", "NOTIFYs answered with an error", stats.notifies_refused),
                ("babble_notify_timeouts_total", "NOTIFYs that got no final response", stats.notify_timeouts),
                (
                    "babble_subscriptions_lost_total",
                    "subscriptions ended because their NOTIFYs failed",
                    stats.subscriptions_lost,
                ),
                (
                    "babble_store_records_dropped_total",
                    "stored records this run could not use, deleted at restore",
                    stats.stored_records_dropped,
                ),
                (
                    "babble_publications_stale_total",
                    "dialog publications older than one already applied",
                    stats.stale_publications,
                ),
                (
                    "babble_unsolicited_notifies_total",
                    "out-of-dialog NOTIFYs sent (pushed MWI, check-sync)",
                    stats.unsolicited_notifies,
                ),
                (
                    "babble_notify_bodies_trimmed_total",
                    "dialog-info documents that left calls out to fit a datagram",
                    stats.notify_bodies_trimmed,
                ),
                ("babble_auth_challenges_total", "digest challenges sent", stats.auth_challenges),
                ("babble_auth_refusals_total", "requests refused 403 by authentication", stats.auth_refusals),
                (
                    "babble_sip_requests_throttled_total",
                    "requests over their source's rate or share",
                    stats.requests_throttled,
                ),
                (
                    "babble_sends_to_unproven_held_total",
                    "sends held back toward addresses that never answered",
                    stats.sends_to_unproven_held,
                ),
                (
                    "babble_api_events_total",
                    "events taken through the HTTP API",
                    self.api_events.load(Ordering::Relaxed),
                ),
                (
                    "babble_udp_queue_drops_total",
                    "datagrams dropped with the engine's queue full",
                    counters::read(&self.shell.udp_queue_drops),
                ),
                (
                    "babble_udp_flood_drops_total",
                    "UDP requests shed unread, their source over twice its rate",
                    counters::read(&self.shell.udp_flood_drops),
                ),
                (
                    "babble_udp_requests_shed_total",
                    "UDP requests shed for waiting too long or a nearly full queue",
                    counters::read(&self.shell.udp_requests_shed),
                ),
                (
                    "babble_tcp_backlog_drops_total",
                    "messages not sent, a connection's write queue full",
                    counters::read(&self.shell.tcp_backlog_drops),
                ),
                (
                    "babble_tcp_timeouts_total",
                    "stream connections closed idle or for a message too slow",
                    counters::read(&self.shell.stream_timeouts),
                ),
                (
                    "babble_tcp_connections_refused_total",
                    "stream connections closed at once, their source at its share",
                    counters::read(&self.shell.stream_refusals),
                ),
                (
                    "babble_tls_handshake_failures_total",
                    "TLS handshakes that failed or timed out",
                    counters::read(&self.shell.tls_handshake_failures),
                ),
                (
                    "babble_ws_handshake_failures_total",
                    "WebSocket handshakes refused (plain HTTP, no sip subprotocol, bad upgrade, too slow)",
                    counters::read(&self.shell.ws_handshake_failures),
                ),
                (
                    "babble_ws_bad_frames_total",
                    "WebSocket connections closed for a bad frame, an oversized message or invalid UTF-8",
                    counters::read(&self.shell.ws_bad_frames),
                ),
                (
                    "babble_udp_send_drops_total",
                    "datagrams not sent, the socket's send queue full",
                    counters::read(&self.shell.udp_send_drops),
                ),
                (
                    "babble_udp_send_failures_total",
                    "datagrams the socket refused (too large, no route)",
                    counters::read(&self.shell.udp_send_failures),
                ),
                (
                    "babble_store_commit_failures_total",
                    "store commits that failed",
                    counters::read(&self.shell.store_commit_failures),
                ),
                (
                    "babble_unacknowledged_dropped_total",
                    "responses dropped while too many waited for the store",
                    counters::read(&self.shell.held_dropped),
                ),
                (
                    "babble_store_changes_dropped_total",
                    "changes the store writer gave up",
                    counters::read(&self.shell.store_changes_dropped),
                ),
            ];
            for (name, help, value) in totals {
                describe_counter!(name, help);
                counter!(name).absolute(value);
            }
            for event in ["presence", "dialog", "message-summary"] {
                for state in ["active", "terminating"] {
                    let n = subscriptions.get(&(event, state)).copied().unwrap_or(0);
                    describe_gauge!("babble_subscriptions", "subscriptions served, by event package and state");
                    gauge!("babble_subscriptions", "event" => event, "state" => state).set(n as f64);
                }
            }
            for (name, help, value) in counts {
                describe_gauge!(format!("babble_{name}"), help);
                gauge!(format!("babble_{name}")).set(value as f64);
            }
            describe_histogram!("babble_notify_latency_seconds", "time from a NOTIFY to its final response");
            for latency in latencies {
                histogram!("babble_notify_latency_seconds").record(latency.as_secs_f64());
            }
        });
        self.recorder.handle().render()
    }
}
