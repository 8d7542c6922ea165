//! Counters the shell keeps beside the engine's: what the transports and the store writer
//! had to drop or retry. The tasks that count share one set; `/metrics` shows it.

use std::sync::atomic::{AtomicU64, Ordering};

/// The shell's counters.
#[derive(Debug, Default)]
pub(crate) struct ShellCounters {
    /// Datagrams dropped because the engine's inbound queue was full.
    pub(crate) udp_queue_drops: AtomicU64,
    /// UDP requests shed unread because their source sent more than twice its rate.
    pub(crate) udp_flood_drops: AtomicU64,
    /// UDP requests dropped unread because they waited in the inbound queue past
    /// `sip.shed_after_ms` (their senders retransmit them; answering stale ones first would
    /// leave fresh ones waiting too).
    pub(crate) udp_requests_shed: AtomicU64,
    /// Messages not sent because a TCP connection's write queue was full.
    pub(crate) tcp_backlog_drops: AtomicU64,
    /// Stream connections closed for saying nothing, or a message too slowly.
    pub(crate) stream_timeouts: AtomicU64,
    /// Stream connections refused at once because their source had its share open.
    pub(crate) stream_refusals: AtomicU64,
    /// TLS handshakes that failed or timed out (`tls` and `wss` listeners).
    pub(crate) tls_handshake_failures: AtomicU64,
    /// WebSocket handshakes refused: a plain HTTP request, no `sip` subprotocol, a bad
    /// upgrade, or too slow.
    pub(crate) ws_handshake_failures: AtomicU64,
    /// WebSocket connections closed for a bad frame, a message over the limit or text
    /// that is not UTF-8.
    pub(crate) ws_bad_frames: AtomicU64,
    /// Datagrams not sent because a UDP socket stayed full while its send queue filled up.
    pub(crate) udp_send_drops: AtomicU64,
    /// Datagrams the UDP socket refused: too large for a datagram, no route, and the like.
    pub(crate) udp_send_failures: AtomicU64,
    /// Responses and acknowledgements dropped because too many waited for a store that did
    /// not commit (see `durable`).
    pub(crate) held_dropped: AtomicU64,
    /// Store commits that failed (each retried or split).
    pub(crate) store_commit_failures: AtomicU64,
    /// Changes the store writer gave up: refused on their own while others were taken, or
    /// left at shutdown.
    pub(crate) store_changes_dropped: AtomicU64,
}

/// Adds `n` to `counter`.
pub(crate) fn add(counter: &AtomicU64, n: u64) {
    counter.fetch_add(n, Ordering::Relaxed);
}

/// Reads `counter`.
pub(crate) fn read(counter: &AtomicU64) -> u64 {
    counter.load(Ordering::Relaxed)
}
