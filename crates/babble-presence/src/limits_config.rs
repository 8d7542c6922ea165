//! `[limits]`: what one source may take (request rates, shares of the state tables) and the
//! tables' totals, mapped onto the engine's [`Limits`].

use presence_core::{Limits, Quota, Rate};
use serde::Deserialize;

use crate::config::ConfigError;
use crate::profile_config::network;

/// `[limits]`.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsSection {
    /// Addresses or networks exempt from the per-source limits: the PBX, a load balancer,
    /// a site whose phones share one NAT address.
    pub trusted: Vec<String>,
    /// Requests per second one source may send, sustained.
    pub requests_per_sec: u32,
    /// Requests one source may send at once after a quiet spell.
    pub requests_burst: u32,
    /// Out-of-dialog SUBSCRIBE, REGISTER and PUBLISH per second one source may send.
    pub new_state_per_sec: u32,
    /// How many of those may come at once.
    pub new_state_burst: u32,
    /// Most sources whose rates are tracked.
    pub max_sources: usize,
    /// Most server transactions one source may hold.
    pub transactions_per_source: usize,
    /// Most subscriptions one source may hold.
    pub subscriptions_per_source: usize,
    /// Most subscriptions in all.
    pub max_subscriptions: usize,
    /// Most registered contacts one source may hold.
    pub registrations_per_source: usize,
    /// Most registered contacts in all.
    pub max_registrations: usize,
    /// Most publications one source may hold.
    pub publications_per_source: usize,
    /// Most publications in all.
    pub max_publications: usize,
    /// Most contacts bound to one address-of-record.
    pub max_bindings_per_aor: usize,
    /// Bytes per second of our requests (NOTIFYs, SUBSCRIBEs to phones) to an address that
    /// has not yet answered one, per IP address: its source may have been forged.
    pub unproven_bytes_per_sec: u32,
    /// How many of those bytes may go at once.
    pub unproven_burst_bytes: u32,
}

impl Default for LimitsSection {
    fn default() -> Self {
        let l = Limits::default();
        LimitsSection {
            trusted: Vec::new(),
            requests_per_sec: l.requests.per_second,
            requests_burst: l.requests.burst,
            new_state_per_sec: l.new_state.per_second,
            new_state_burst: l.new_state.burst,
            max_sources: l.max_sources,
            transactions_per_source: l.transactions_per_source,
            subscriptions_per_source: l.subscriptions.per_source,
            max_subscriptions: l.subscriptions.total,
            registrations_per_source: l.registrations.per_source,
            max_registrations: l.registrations.total,
            publications_per_source: l.publications.per_source,
            max_publications: l.publications.total,
            max_bindings_per_aor: l.max_bindings_per_aor,
            unproven_bytes_per_sec: l.unproven_bytes.per_second,
            unproven_burst_bytes: l.unproven_bytes.burst,
        }
    }
}

impl LimitsSection {
    /// Checks what serde cannot: networks that parse, and no limit of zero (which would
    /// refuse everything).
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        if let Some(bad) = self.trusted.iter().find(|t| network(t).is_none()) {
            return Err(ConfigError::Invalid(format!("limits.trusted: {bad:?} is not an address or network")));
        }
        let counts = [
            ("requests_per_sec", self.requests_per_sec as usize),
            ("requests_burst", self.requests_burst as usize),
            ("new_state_per_sec", self.new_state_per_sec as usize),
            ("new_state_burst", self.new_state_burst as usize),
            ("max_sources", self.max_sources),
            ("transactions_per_source", self.transactions_per_source),
            ("subscriptions_per_source", self.subscriptions_per_source),
            ("max_subscriptions", self.max_subscriptions),
            ("registrations_per_source", self.registrations_per_source),
            ("max_registrations", self.max_registrations),
            ("publications_per_source", self.publications_per_source),
            ("max_publications", self.max_publications),
            ("max_bindings_per_aor", self.max_bindings_per_aor),
            ("unproven_bytes_per_sec", self.unproven_bytes_per_sec as usize),
            ("unproven_burst_bytes", self.unproven_burst_bytes as usize),
        ];
        match counts.iter().find(|(_, n)| *n == 0) {
            Some((name, _)) => Err(ConfigError::Invalid(format!("limits.{name} must be above zero"))),
            None => Ok(()),
        }
    }

    /// The engine's limits.
    pub(crate) fn engine(&self) -> Limits {
        Limits {
            trusted: self.trusted.iter().filter_map(|t| network(t)).collect(),
            requests: Rate { per_second: self.requests_per_sec, burst: self.requests_burst },
            new_state: Rate { per_second: self.new_state_per_sec, burst: self.new_state_burst },
            max_sources: self.max_sources,
            transactions_per_source: self.transactions_per_source,
            subscriptions: Quota { per_source: self.subscriptions_per_source, total: self.max_subscriptions },
            registrations: Quota { per_source: self.registrations_per_source, total: self.max_registrations },
            publications: Quota { per_source: self.publications_per_source, total: self.max_publications },
            max_bindings_per_aor: self.max_bindings_per_aor,
            unproven_bytes: Rate { per_second: self.unproven_bytes_per_sec, burst: self.unproven_burst_bytes },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trusted_networks_and_zero_limits_are_checked() {
        let section = LimitsSection { trusted: vec!["10.0.0.0/8".into(), "192.0.2.7".into()], ..Default::default() };
        assert!(section.validate().is_ok());
        assert_eq!(section.engine().trusted.len(), 2);
        assert_eq!(LimitsSection::default().engine(), Limits::default());
        let bad = LimitsSection { trusted: vec!["10.0.0.0/40".into()], ..Default::default() };
        assert!(bad.validate().unwrap_err().to_string().contains("10.0.0.0/40"));
        let zero = LimitsSection { max_bindings_per_aor: 0, ..Default::default() };
        assert!(zero.validate().unwrap_err().to_string().contains("limits.max_bindings_per_aor"));
    }
}
