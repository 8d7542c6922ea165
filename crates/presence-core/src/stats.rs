//! Counters the engine keeps about what it received and what it did with it, so dropped
//! input is counted rather than silently lost. The shell exports them.

/// Monotonic counters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Requests that parsed.
    pub requests_in: u64,
    /// Responses that parsed.
    pub responses_in: u64,
    /// Messages sent.
    pub messages_out: u64,
    /// Malformed messages answered with 400/505 because enough of the head parsed.
    pub malformed_answered: u64,
    /// Malformed messages dropped because not even the head parsed (or they were responses).
    pub malformed_dropped: u64,
    /// Messages over the size limit: answered with 413 on streams, dropped on UDP.
    pub oversized: u64,
    /// Request retransmissions absorbed or answered from a transaction.
    pub retransmissions_absorbed: u64,
    /// Responses matching no client transaction.
    pub stray_responses: u64,
    /// Answered transactions forgotten before their Timer J to make room in a full table.
    pub transactions_forgotten_early: u64,
    /// NOTIFYs answered with a 2xx.
    pub notifies_ok: u64,
    /// NOTIFYs answered with an error (3xx–6xx).
    pub notifies_refused: u64,
    /// NOTIFYs that got no final response (Timer F).
    pub notify_timeouts: u64,
    /// Subscriptions ended because their NOTIFYs failed (481, errors, timeouts, lost flow).
    pub subscriptions_lost: u64,
    /// Stored publications and subscriptions to phones this run could not use (a package no
    /// longer known, text that no longer parses): deleted at restore.
    pub stored_records_dropped: u64,
    /// Dialog publications ignored because a newer version was already applied.
    pub stale_publications: u64,
    /// Dialog-info documents that left calls out to fit in a datagram.
    pub notify_bodies_trimmed: u64,
    /// Out-of-dialog NOTIFYs sent (unsolicited MWI, check-sync).
    pub unsolicited_notifies: u64,
    /// Requests refused for failed authentication (403); challenges are `auth_challenges`.
    pub auth_refusals: u64,
    /// Authentication challenges sent.
    pub auth_challenges: u64,
    /// Requests over their source's rate or share: dropped on UDP, answered 503 on streams.
    pub requests_throttled: u64,
    /// Sends of our requests held back because their address never answered and its byte
    /// budget was spent (Timer E tries again).
    pub sends_to_unproven_held: u64,
}
