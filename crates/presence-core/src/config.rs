//! The engine's settings: plain values with safe defaults. The binary maps its TOML file
//! onto this; the engine never reads files or the environment.

use sip_proto::transaction::TimerConfig;

use crate::entity::{CallLimits, DndRule};

/// Engine settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EngineConfig {
    /// RFC 3261 timers T1, T2, T4.
    pub timers: TimerConfig,
    /// The `Server` and `User-Agent` header value.
    pub server_name: String,
    /// Largest message accepted, in bytes; larger datagrams are dropped and counted.
    pub max_message_size: usize,
    /// Most server transactions held at once; past it requests get 503 statelessly.
    pub max_server_transactions: usize,
    /// Seed for the identifiers we mint (tags). The shell seeds it from the OS; tests fix it.
    pub seed: u64,
    /// Subscription expiry rules.
    pub expiry: ExpiryConfig,
    /// Most subscriptions one entity may have; further SUBSCRIBEs get 503.
    pub max_subscriptions_per_entity: usize,
    /// Show an entity nothing is known about as available (else offline).
    pub unknown_is_available: bool,
    /// Answer MWI subscriptions with zero counts while no voicemail system has reported
    /// (the seed's `dummyvoicemail`); when off, the first NOTIFY carries no body.
    pub zero_voicemail_when_unknown: bool,
    /// Lifetimes of calls pushed by integrations.
    pub calls: CallLimits,
    /// Hosts folded into another: `(alias, canonical)`, both lowercase, so `1001@10.0.0.5`
    /// and `1001@pbx.example.com` can be one entity.
    pub domain_aliases: Vec<(String, String)>,
    /// Consecutive NOTIFY timeouts that end a UDP subscription (a stream one ends at the first).
    pub udp_notify_failures: u8,
    /// How DND reports of several sources (publications, integrations) combine.
    pub dnd_rule: DndRule,
    /// Show DND to dialog (BLF) watchers as a busy lamp.
    pub dnd_as_busy_lamp: bool,
    /// Publication expiry rules (RFC 3903 §6).
    pub publish_expiry: ExpiryConfig,
    /// Most live publications one entity may have; further ones get 503.
    pub max_publications_per_entity: usize,
}

/// RFC 6665 §4.2.1.1 expiry handling.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExpiryConfig {
    /// Used when a SUBSCRIBE has no Expires.
    pub default: u32,
    /// Below this: 423 with Min-Expires.
    pub min: u32,
    /// Above this: lowered to it.
    pub max: u32,
}

impl Default for ExpiryConfig {
    fn default() -> Self {
        ExpiryConfig { default: 3600, min: 60, max: 3600 }
    }
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            timers: TimerConfig::default(),
            server_name: concat!("babble-presence/", env!("CARGO_PKG_VERSION")).to_owned(),
            max_message_size: 64 * 1024,
            max_server_transactions: 100_000,
            seed: 0,
            expiry: ExpiryConfig::default(),
            max_subscriptions_per_entity: 1000,
            unknown_is_available: true,
            zero_voicemail_when_unknown: true,
            calls: CallLimits::default(),
            domain_aliases: Vec::new(),
            udp_notify_failures: 3,
            dnd_rule: DndRule::Any,
            dnd_as_busy_lamp: true,
            publish_expiry: ExpiryConfig::default(),
            max_publications_per_entity: 32,
        }
    }
}

impl EngineConfig {
    /// The entity key for `user@host` text (an optional `sip:`/`sips:` scheme and any
    /// parameters are dropped, the host lowercased and alias-folded).
    pub fn entity_key(&self, address: &str) -> String {
        let address = address.trim();
        let address = address.strip_prefix("sip:").or_else(|| address.strip_prefix("sips:")).unwrap_or(address);
        let address = address.split([';', '?', '>']).next().unwrap_or_default();
        let (user, host) = match address.rsplit_once('@') {
            Some((user, host)) => (Some(user), host),
            None => (None, address),
        };
        let host = host.to_ascii_lowercase();
        let host =
            self.domain_aliases.iter().find(|(alias, _)| *alias == host).map_or(host.clone(), |(_, c)| c.clone());
        match user {
            Some(user) => format!("{user}@{host}"),
            None => host,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entity_keys_fold_scheme_case_and_aliases() {
        let config = EngineConfig {
            domain_aliases: vec![("10.0.0.5".into(), "pbx.example.com".into())],
            ..EngineConfig::default()
        };
        assert_eq!(config.entity_key("sip:1001@PBX.Example.com;transport=tcp"), "1001@pbx.example.com");
        assert_eq!(config.entity_key("1001@10.0.0.5"), "1001@pbx.example.com");
        assert_eq!(config.entity_key(" 1001@other.example.com "), "1001@other.example.com");
    }
}
