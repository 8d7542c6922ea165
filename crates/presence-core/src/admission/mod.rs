//! Admission per source address, so that one source cannot take what others need: a token
//! bucket of requests and one of new state (out-of-dialog SUBSCRIBE, REGISTER and PUBLISH,
//! which create subscriptions, bindings, publications and nonces) for each source IP address,
//! and the per-source and total quotas of the state tables (`quota`). Sources in the trusted
//! networks (the PBX, a load balancer) are exempt from the per-source limits; the totals
//! bind everyone. The table of buckets is itself bounded: past its size the source seen
//! first is forgotten, which only hands it a full bucket again.

mod quota;

use std::net::IpAddr;
use std::time::Instant;

use ipnet::IpNet;

pub use quota::Quota;
pub(crate) use quota::{Over, Tally};

use crate::tables::Bounded;

/// A sustained rate and the burst allowed above it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rate {
    /// Tokens added per second.
    pub per_second: u32,
    /// Most tokens held: how much may come at once after a quiet spell.
    pub burst: u32,
}

/// Per-source limits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Sources exempt from the per-source limits.
    pub trusted: Vec<IpNet>,
    /// Requests per source.
    pub requests: Rate,
    /// Out-of-dialog SUBSCRIBE, REGISTER and PUBLISH per source.
    pub new_state: Rate,
    /// Most sources whose buckets are kept.
    pub max_sources: usize,
    /// Most server transactions one untrusted source may hold (the total is
    /// [`crate::EngineConfig::max_server_transactions`]).
    pub transactions_per_source: usize,
    /// Subscriptions we serve: per source, and in total.
    pub subscriptions: Quota,
    /// Registered contacts: per source, and in total.
    pub registrations: Quota,
    /// Live publications: per source, and in total.
    pub publications: Quota,
    /// Most contacts bound to one address-of-record.
    pub max_bindings_per_aor: usize,
    /// Bytes per second, and the burst, of the requests we send to an address that has not
    /// yet answered us (its source may have been forged).
    pub unproven_bytes: Rate,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            trusted: Vec::new(),
            requests: Rate { per_second: 100, burst: 400 },
            new_state: Rate { per_second: 20, burst: 100 },
            max_sources: 65_536,
            transactions_per_source: 2_000,
            subscriptions: Quota { per_source: 5_000, total: 200_000 },
            registrations: Quota { per_source: 1_000, total: 100_000 },
            publications: Quota { per_source: 1_000, total: 100_000 },
            max_bindings_per_aor: 10,
            unproven_bytes: Rate { per_second: 8 * 1024, burst: 32 * 1024 },
        }
    }
}

impl Limits {
    /// Whether `source` is in the trusted networks.
    pub(crate) fn trusts(&self, source: IpAddr) -> bool {
        self.trusted.iter().any(|net| net.contains(&source))
    }
}

/// A coarse first filter for a transport's receive task, before it reads what arrived: a
/// source sending requests at more than twice its rate (and burst) is shed there, unread, so
/// a flood from one address cannot fill the engine's queue and crowd out other sources. The
/// engine's own check stays the precise one.
#[derive(Debug)]
pub struct FloodGate {
    buckets: Admission,
    /// The limits with the request rate and burst doubled.
    loose: Limits,
}

impl FloodGate {
    /// A gate at twice the request rate of `limits`.
    pub fn new(limits: &Limits) -> Self {
        let doubled =
            |rate: Rate| Rate { per_second: rate.per_second.saturating_mul(2), burst: rate.burst.saturating_mul(2) };
        FloodGate {
            buckets: Admission::default(),
            loose: Limits { requests: doubled(limits.requests), ..limits.clone() },
        }
    }

    /// Whether a request from `source` may be read now.
    pub fn admit(&mut self, source: IpAddr, now: Instant) -> bool {
        self.buckets.admit(source, Draw::Request, &self.loose, now)
    }
}

/// Which bucket a request draws on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Draw {
    /// Every request draws on its source's request bucket.
    Request,
    /// A request that may create state (an out-of-dialog SUBSCRIBE, REGISTER or PUBLISH)
    /// draws on the new-state bucket as well.
    NewState,
}

/// The admission component: one pair of buckets per source address.
#[derive(Debug, Default)]
pub(crate) struct Admission {
    buckets: Bounded<IpAddr, Buckets>,
}

#[derive(Debug)]
struct Buckets {
    requests: Bucket,
    new_state: Bucket,
}

/// A token bucket (tokens are requests, or bytes).
#[derive(Debug)]
pub(crate) struct Bucket {
    tokens: f64,
    at: Instant,
}

impl Bucket {
    pub(crate) fn full(rate: Rate, now: Instant) -> Self {
        Bucket { tokens: rate.burst.into(), at: now }
    }

    /// Refills for the time since the last draw, then takes `n` tokens if there are as many.
    pub(crate) fn take(&mut self, n: usize, rate: Rate, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.tokens = (self.tokens + elapsed * f64::from(rate.per_second)).min(rate.burst.into());
        self.at = now;
        let n = n as f64;
        let taken = self.tokens >= n;
        if taken {
            self.tokens -= n;
        }
        taken
    }
}

impl Admission {
    /// Whether `source` may draw a token from the bucket `draw` now.
    pub(crate) fn admit(&mut self, source: IpAddr, draw: Draw, limits: &Limits, now: Instant) -> bool {
        if limits.trusts(source) {
            return true;
        }
        let buckets = self.buckets.entry(source, limits.max_sources, || Buckets {
            requests: Bucket::full(limits.requests, now),
            new_state: Bucket::full(limits.new_state, now),
        });
        match draw {
            Draw::Request => buckets.requests.take(1, limits.requests, now),
            Draw::NewState => buckets.new_state.take(1, limits.new_state, now),
        }
    }

    /// How many sources have buckets.
    pub(crate) fn len(&self) -> usize {
        self.buckets.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn limits(per_second: u32, burst: u32) -> Limits {
        let rate = Rate { per_second, burst };
        Limits { requests: rate, new_state: rate, max_sources: 2, ..Limits::default() }
    }

    #[test]
    fn a_source_gets_its_burst_then_its_rate() {
        let (t0, limits) = (Instant::now(), limits(10, 5));
        let mut admission = Admission::default();
        let one: IpAddr = "192.0.2.1".parse().unwrap();
        let admitted = (0..20).filter(|_| admission.admit(one, Draw::Request, &limits, t0)).count();
        assert_eq!(admitted, 5, "the burst");
        let later = t0 + Duration::from_millis(300);
        let admitted = (0..20).filter(|_| admission.admit(one, Draw::Request, &limits, later)).count();
        assert_eq!(admitted, 3, "10/s for 0.3 s");
        // Another source is unaffected.
        let other: IpAddr = "192.0.2.2".parse().unwrap();
        assert!(admission.admit(other, Draw::NewState, &limits, later));
    }

    #[test]
    fn trusted_sources_pass_and_the_table_stays_within_its_size() {
        let t0 = Instant::now();
        let limits = Limits { trusted: vec!["10.0.0.0/8".parse().unwrap()], ..limits(1, 1) };
        let mut admission = Admission::default();
        let proxy: IpAddr = "10.1.2.3".parse().unwrap();
        assert!((0..1000).all(|_| admission.admit(proxy, Draw::NewState, &limits, t0)));
        assert_eq!(admission.len(), 0, "no bucket for a trusted source");
        for n in 1..=5u8 {
            admission.admit(IpAddr::from([192, 0, 2, n]), Draw::Request, &limits, t0);
        }
        assert_eq!(admission.len(), 2);
    }
}
