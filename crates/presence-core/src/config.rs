//! The engine's settings: plain values with safe defaults. The binary maps its TOML file
//! onto this; the engine never reads files or the environment.

use sip_proto::transaction::TimerConfig;

use std::collections::HashMap;

use crate::admission::Limits;
use crate::auth::AuthConfig;
use crate::entities::{CallLimits, DndRule, RenderOptions};
use crate::entity_key::EntityKey;

/// Engine settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EngineConfig {
    /// RFC 3261 timers T1, T2, T4.
    pub timers: TimerConfig,
    /// The `Server` and `User-Agent` header value.
    pub server_name: String,
    /// Largest message accepted, in bytes; larger datagrams are dropped and counted.
    pub max_message_size: usize,
    /// Most server transactions held at once; past it the oldest answered one is forgotten
    /// before its Timer J.
    pub max_server_transactions: usize,
    /// Seed for the identifiers we mint (tags). The shell seeds it from the OS; tests fix it.
    pub seed: u64,
    /// This node's number, carried in the ids we mint so nodes sharing a store never mint
    /// the same one.
    pub node_id: u16,
    /// Subscription expiry rules.
    pub expiry: ExpiryConfig,
    /// Most subscriptions one entity may have; further SUBSCRIBEs get 503.
    pub max_subscriptions_per_entity: usize,
    /// Most subscriptions to one entity a subscriber may hold from one address (several BLF
    /// keys for one extension stay well below it); further SUBSCRIBEs get 503, so a client
    /// that re-subscribes in a loop cannot fill the entity's quota.
    pub max_subscriptions_per_watcher: usize,
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
    /// Dialable user parts for entities a phone cannot dial (`701` for `park+701`), at any
    /// domain.
    pub user_aliases: Vec<crate::aliases::UserAlias>,
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
    /// Registration expiry rules (RFC 3261 §10.3).
    pub registrar_expiry: ExpiryConfig,
    /// Digest authentication.
    pub auth: AuthConfig,
    /// Per-source rates and shares, and the state tables' totals.
    pub limits: Limits,
    /// Who may watch whom.
    pub watch_policy: WatchPolicy,
    /// Event packages to subscribe to on phones that register and accept SUBSCRIBE
    /// (`presence`, `dialog`); empty: none.
    pub subscribe_back: Vec<String>,
    /// The expiry asked for in those subscriptions, in seconds.
    pub subscribe_back_expires: u32,
    /// How DND reports of an entity's registered phones combine.
    pub device_dnd_rule: DndRule,
    /// Send message-waiting NOTIFYs unsolicited to registered phones without an MWI
    /// subscription.
    pub unsolicited_mwi: bool,
    /// Device profiles: the first assigned to a subscriber's account or address, else the
    /// first matching its User-Agent.
    pub profiles: Vec<crate::profiles::DeviceProfile>,
    /// Resource lists phones subscribe to once for all their members (RFC 4662).
    pub lists: Vec<crate::lists::ListConfig>,
}

/// Who may subscribe to whom. Everyone may always watch their own entity (MWI).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WatchPolicy {
    /// Anyone may watch anyone.
    Open,
    /// Only subscribers of the entity's own domain.
    SameDomain,
    /// Only the subscribers listed per entity (a listed `*` allows everyone).
    Lists(HashMap<EntityKey, Vec<EntityKey>>),
}

impl WatchPolicy {
    /// Whether `subscriber` may watch `entity`.
    pub fn allows(&self, subscriber: &EntityKey, entity: &EntityKey) -> bool {
        subscriber == entity
            || match self {
                WatchPolicy::Open => true,
                WatchPolicy::SameDomain => subscriber.domain() == entity.domain(),
                WatchPolicy::Lists(lists) => lists
                    .get(entity)
                    .is_some_and(|allowed| allowed.iter().any(|a| a.as_str() == "*" || a == subscriber)),
            }
    }
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

impl ExpiryConfig {
    /// The expiry to grant for `requested` (the default when absent): lowered to the
    /// maximum, or the 423 answering `req` with Min-Expires when it is too brief (0, a
    /// removal, always passes).
    pub(crate) fn grant(self, requested: Option<u32>, req: &sip_proto::Request) -> Result<u32, sip_proto::Response> {
        let requested = requested.unwrap_or(self.default);
        if requested != 0 && requested < self.min {
            let mut refusal = sip_proto::Response::to(req, 423);
            refusal.headers.push(sip_proto::HeaderName::MinExpires, self.min.to_string());
            return Err(refusal);
        }
        Ok(requested.min(self.max))
    }
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
            node_id: 0,
            expiry: ExpiryConfig::default(),
            max_subscriptions_per_entity: 10_000,
            max_subscriptions_per_watcher: 16,
            unknown_is_available: true,
            zero_voicemail_when_unknown: true,
            calls: CallLimits::default(),
            domain_aliases: Vec::new(),
            user_aliases: Vec::new(),
            udp_notify_failures: 3,
            dnd_rule: DndRule::Any,
            dnd_as_busy_lamp: true,
            // A proxy publishes a call's end for a few seconds (Kamailio's pua_dialoginfo asks
            // for 11): refused, the lamp would stay busy (docs: interop/kamailio/README.md).
            publish_expiry: ExpiryConfig { min: 10, ..ExpiryConfig::default() },
            max_publications_per_entity: 32,
            registrar_expiry: ExpiryConfig { default: 3600, min: 60, max: 7200 },
            auth: AuthConfig::default(),
            limits: Limits::default(),
            watch_policy: WatchPolicy::Open,
            subscribe_back: vec!["presence".to_owned()],
            subscribe_back_expires: 3600,
            device_dnd_rule: DndRule::All,
            unsolicited_mwi: true,
            profiles: crate::profiles::builtin(),
            lists: Vec::new(),
        }
    }
}

impl EngineConfig {
    /// The settings that shape what watchers are shown.
    pub(crate) fn render_options(&self) -> RenderOptions {
        RenderOptions {
            unknown_is_available: self.unknown_is_available,
            zero_voicemail_when_unknown: self.zero_voicemail_when_unknown,
            dnd_rule: self.dnd_rule,
            device_dnd_rule: self.device_dnd_rule,
            dnd_as_busy_lamp: self.dnd_as_busy_lamp,
        }
    }

    /// The entity watched at `user@host`: [`EngineConfig::entity_key`], its user part then
    /// mapped by the user aliases (a SUBSCRIBE's target, an integration's entity; never who
    /// sends, so a phone registering as 7012 is 7012 whatever the aliases).
    pub fn watched_key(&self, address: &str) -> EntityKey {
        let key = self.entity_key(address);
        let mapped = key.user().and_then(|user| crate::aliases::resolve(&self.user_aliases, user));
        match mapped {
            Some(user) => EntityKey::canonical(format!("{user}@{}", key.domain())),
            None => key,
        }
    }

    /// The entity key for `user@host` text (an optional `sip:`/`sips:` scheme and any
    /// parameters and the port are dropped, the host lowercased and alias-folded).
    pub fn entity_key(&self, address: &str) -> EntityKey {
        let address = address.trim();
        let address = address.strip_prefix("sip:").or_else(|| address.strip_prefix("sips:")).unwrap_or(address);
        let address = address.split([';', '?', '>']).next().unwrap_or_default();
        let (user, host) = match address.rsplit_once('@') {
            Some((user, host)) => (Some(user), host),
            None => (None, address),
        };
        // The port is not part of the entity: a phone registering as `1001@10.0.0.5:5060` and
        // a watcher subscribing to `1001@10.0.0.5` mean the same extension.
        let host = match host.strip_prefix('[') {
            Some(v6) => v6.split_once(']').map_or(host, |(inner, _)| &host[..inner.len() + 2]),
            None => host.split(':').next().unwrap_or(host),
        };
        let host = host.to_ascii_lowercase();
        let host =
            self.domain_aliases.iter().find(|(alias, _)| *alias == host).map_or(host.clone(), |(_, c)| c.clone());
        EntityKey::canonical(match user {
            Some(user) => format!("{user}@{host}"),
            None => host,
        })
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
        assert_eq!(config.entity_key("sip:1001@PBX.Example.com;transport=tcp").as_str(), "1001@pbx.example.com");
        assert_eq!(config.entity_key("1001@10.0.0.5").as_str(), "1001@pbx.example.com");
        assert_eq!(config.entity_key(" 1001@other.example.com ").as_str(), "1001@other.example.com");
        assert_eq!(config.entity_key("sip:1001@Other.example.com:5090").as_str(), "1001@other.example.com", "no port");
        assert_eq!(config.entity_key("sip:1001@[2001:DB8::1]:5060").as_str(), "1001@[2001:db8::1]");
    }

    #[test]
    fn dialable_names_reach_their_entity() {
        let alias = crate::aliases::UserAlias::parse("70*", "park+70*").unwrap();
        let config = EngineConfig { user_aliases: vec![alias], ..EngineConfig::default() };
        assert_eq!(config.watched_key("sip:701@pbx.example.com").as_str(), "park+701@pbx.example.com");
        assert_eq!(config.watched_key("park+701@pbx.example.com").as_str(), "park+701@pbx.example.com");
        assert_eq!(config.watched_key("sip:1001@pbx.example.com").as_str(), "1001@pbx.example.com");
        assert_eq!(
            config.entity_key("sip:701@pbx.example.com").as_str(),
            "701@pbx.example.com",
            "who acts is not aliased"
        );
    }
}
