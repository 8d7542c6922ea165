//! The configuration file (TOML) and its defaults. Every key is documented in
//! `etc/babble-presence.toml`, which a test parses; unknown keys are refused so a typo
//! cannot silently fall back to a default. Command-line flags override the file.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use presence_core::{CallLimits, DndRule, EngineConfig, ExpiryConfig, Transport};
use serde::Deserialize;
use sip_proto::transaction::TimerConfig;

/// A configuration that cannot be used; the message says what and where.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub enum ConfigError {
    /// The file cannot be read or parsed, or a value is out of range.
    Invalid(String),
}

/// The whole file.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// SIP listeners, limits and timers.
    pub sip: SipConfig,
    /// Subscription handling.
    pub notifier: NotifierConfig,
    /// Publication handling.
    pub publish: PublishConfig,
    /// The integration API.
    pub http: HttpConfig,
    /// Persistent state.
    pub storage: StorageConfig,
    /// Logging.
    pub log: LogConfig,
}

/// `[sip]`: listeners, limits and RFC 3261 timers.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct SipConfig {
    /// Where to accept SIP.
    pub listen: Vec<ListenSpec>,
    /// Largest SIP message accepted, in bytes.
    pub max_message_size: usize,
    /// Most simultaneous TCP connections.
    pub max_tcp_connections: usize,
    /// Most server transactions held at once.
    pub max_server_transactions: usize,
    /// RFC 3261 T1 in milliseconds.
    pub t1_ms: u64,
    /// RFC 3261 T2 in milliseconds.
    pub t2_ms: u64,
    /// RFC 3261 T4 in milliseconds.
    pub t4_ms: u64,
    /// The Server/User-Agent header value.
    pub server_name: Option<String>,
}

impl Default for SipConfig {
    fn default() -> Self {
        let engine = EngineConfig::default();
        SipConfig {
            listen: vec![
                ListenSpec { transport: Transport::Udp, addr: SocketAddr::from(([0, 0, 0, 0], 5060)) },
                ListenSpec { transport: Transport::Tcp, addr: SocketAddr::from(([0, 0, 0, 0], 5060)) },
            ],
            max_message_size: engine.max_message_size,
            max_tcp_connections: 10_000,
            max_server_transactions: engine.max_server_transactions,
            t1_ms: 500,
            t2_ms: 4_000,
            t4_ms: 5_000,
            server_name: None,
        }
    }
}

/// `[notifier]`: how subscriptions are served (RFC 6665) and what watchers see.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct NotifierConfig {
    /// Expiry granted when a SUBSCRIBE has none, in seconds.
    pub default_expires: u32,
    /// Shortest expiry accepted (shorter gets 423), in seconds.
    pub min_expires: u32,
    /// Longest expiry granted, in seconds.
    pub max_expires: u32,
    /// Most subscriptions to one entity.
    pub max_subscriptions_per_entity: usize,
    /// What watchers of an entity nothing reported on see.
    pub unknown_presence: UnknownPresence,
    /// Zero message counts until a voicemail system reports.
    pub dummy_voicemail: bool,
    /// Consecutive NOTIFY timeouts that end a UDP subscription.
    pub udp_notify_failures: u8,
    /// How long a call may stay unanswered, in seconds.
    pub early_call_lifetime_secs: u64,
    /// How long an answered call may go without update, in seconds.
    pub confirmed_call_lifetime_secs: u64,
    /// How long an ended call is remembered, in seconds.
    pub ended_call_memory_secs: u64,
    /// Most calls kept per entity.
    pub max_calls_per_entity: usize,
    /// Alias host to canonical host.
    pub domain_aliases: std::collections::BTreeMap<String, String>,
    /// Whether DND from any source or only from all sources shows.
    pub dnd_when: DndWhen,
    /// Show DND on BLF keys as a busy lamp.
    pub dnd_on_blf: bool,
}

/// How DND reports of several sources combine.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum DndWhen {
    /// DND set anywhere shows everywhere.
    Any,
    /// Only when every source that reports presence says DND.
    All,
}

/// `[publish]`: PUBLISH handling (RFC 3903).
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct PublishConfig {
    /// Expiry granted when a PUBLISH has none, in seconds.
    pub default_expires: u32,
    /// Shortest expiry accepted (shorter gets 423), in seconds.
    pub min_expires: u32,
    /// Longest expiry granted, in seconds.
    pub max_expires: u32,
    /// Most live publications of one entity.
    pub max_per_entity: usize,
}

impl Default for PublishConfig {
    fn default() -> Self {
        let engine = EngineConfig::default();
        PublishConfig {
            default_expires: engine.publish_expiry.default,
            min_expires: engine.publish_expiry.min,
            max_expires: engine.publish_expiry.max,
            max_per_entity: engine.max_publications_per_entity,
        }
    }
}

impl Default for NotifierConfig {
    fn default() -> Self {
        let engine = EngineConfig::default();
        NotifierConfig {
            default_expires: engine.expiry.default,
            min_expires: engine.expiry.min,
            max_expires: engine.expiry.max,
            max_subscriptions_per_entity: engine.max_subscriptions_per_entity,
            unknown_presence: UnknownPresence::Available,
            dummy_voicemail: engine.zero_voicemail_when_unknown,
            udp_notify_failures: engine.udp_notify_failures,
            early_call_lifetime_secs: engine.calls.early_lifetime.as_secs(),
            confirmed_call_lifetime_secs: engine.calls.confirmed_lifetime.as_secs(),
            ended_call_memory_secs: engine.calls.tombstone_lifetime.as_secs(),
            max_calls_per_entity: engine.calls.max_calls,
            domain_aliases: Default::default(),
            dnd_when: DndWhen::Any,
            dnd_on_blf: engine.dnd_as_busy_lamp,
        }
    }
}

/// What presence watchers of an entity nobody has reported on see.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum UnknownPresence {
    /// Open / available.
    Available,
    /// Closed / offline.
    Offline,
}

/// `[http]`: the integration API (served from a later release; the address is reserved).
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// Address of the HTTP API.
    pub listen: SocketAddr,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig { listen: SocketAddr::from(([127, 0, 0, 1], 8080)) }
    }
}

/// `[storage]`: where state is kept.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct StorageConfig {
    /// Directory for persistent state.
    pub data_dir: PathBuf,
}

impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig { data_dir: PathBuf::from("./data") }
    }
}

/// `[log]`: verbosity and format.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// A tracing filter such as `info`.
    pub level: String,
    /// Text or JSON.
    pub format: LogFormat,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig { level: "info".to_owned(), format: LogFormat::Text }
    }
}

/// How log lines are written.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// A listener: `udp:HOST:PORT` or `tcp:HOST:PORT` (IPv6 hosts in brackets).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ListenSpec {
    /// The transport.
    pub transport: Transport,
    /// The address to bind.
    pub addr: SocketAddr,
}

impl FromStr for ListenSpec {
    type Err = ConfigError;

    fn from_str(s: &str) -> Result<Self, ConfigError> {
        let invalid = |why: String| ConfigError::Invalid(format!("listener {s:?}: {why}"));
        let (scheme, addr) =
            s.split_once(':').ok_or_else(|| invalid("expected TRANSPORT:HOST:PORT, e.g. udp:0.0.0.0:5060".into()))?;
        let transport = match scheme.to_ascii_lowercase().as_str() {
            "udp" => Transport::Udp,
            "tcp" => Transport::Tcp,
            other => return Err(invalid(format!("unknown transport {other:?} (supported: udp, tcp)"))),
        };
        let addr = addr.parse().map_err(|_| invalid(format!("{addr:?} is not HOST:PORT")))?;
        Ok(ListenSpec { transport, addr })
    }
}

impl<'de> Deserialize<'de> for ListenSpec {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(|e: ConfigError| serde::de::Error::custom(e))
    }
}

impl std::fmt::Display for ListenSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.transport, self.addr)
    }
}

impl Config {
    /// Reads and validates a file.
    pub fn load(path: &std::path::Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError::Invalid(format!("reading {}: {e}", path.display())))?;
        let config: Config =
            toml::from_str(&text).map_err(|e| ConfigError::Invalid(format!("parsing {}: {e}", path.display())))?;
        config.validate()?;
        Ok(config)
    }

    /// Checks what serde cannot.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bail = |why: &str| Err(ConfigError::Invalid(why.to_owned()));
        let sip = &self.sip;
        if sip.listen.is_empty() {
            return bail("sip.listen is empty: the server would not listen anywhere");
        }
        if !(1..=60_000).contains(&sip.t1_ms) || sip.t2_ms < sip.t1_ms || sip.t4_ms == 0 {
            return bail("timers must satisfy 1 <= t1_ms <= 60000, t2_ms >= t1_ms, t4_ms > 0");
        }
        if !(1024..=1_048_576).contains(&sip.max_message_size) {
            return bail("sip.max_message_size must be between 1024 and 1048576 bytes");
        }
        if sip.max_tcp_connections == 0 || sip.max_server_transactions == 0 {
            return bail("sip.max_tcp_connections and sip.max_server_transactions must be above zero");
        }
        let n = &self.notifier;
        if n.min_expires == 0
            || n.min_expires > n.max_expires
            || !(n.min_expires..=n.max_expires).contains(&n.default_expires)
        {
            return bail("notifier expiry must satisfy 0 < min_expires <= default_expires <= max_expires");
        }
        let p = &self.publish;
        if p.min_expires == 0
            || p.min_expires > p.max_expires
            || !(p.min_expires..=p.max_expires).contains(&p.default_expires)
        {
            return bail("publish expiry must satisfy 0 < min_expires <= default_expires <= max_expires");
        }
        if p.max_per_entity == 0 {
            return bail("publish.max_per_entity must be above zero");
        }
        if n.udp_notify_failures == 0 || n.max_subscriptions_per_entity == 0 || n.max_calls_per_entity == 0 {
            return bail(
                "notifier.udp_notify_failures, max_subscriptions_per_entity and max_calls_per_entity must be above zero",
            );
        }
        Ok(())
    }

    /// The engine's settings.
    pub fn engine(&self, seed: u64) -> EngineConfig {
        let defaults = EngineConfig::default();
        EngineConfig {
            timers: TimerConfig {
                t1: Duration::from_millis(self.sip.t1_ms),
                t2: Duration::from_millis(self.sip.t2_ms),
                t4: Duration::from_millis(self.sip.t4_ms),
            },
            server_name: self.sip.server_name.clone().unwrap_or(defaults.server_name),
            max_message_size: self.sip.max_message_size,
            max_server_transactions: self.sip.max_server_transactions,
            seed,
            expiry: ExpiryConfig {
                default: self.notifier.default_expires,
                min: self.notifier.min_expires,
                max: self.notifier.max_expires,
            },
            max_subscriptions_per_entity: self.notifier.max_subscriptions_per_entity,
            unknown_is_available: self.notifier.unknown_presence == UnknownPresence::Available,
            zero_voicemail_when_unknown: self.notifier.dummy_voicemail,
            calls: CallLimits {
                early_lifetime: Duration::from_secs(self.notifier.early_call_lifetime_secs),
                confirmed_lifetime: Duration::from_secs(self.notifier.confirmed_call_lifetime_secs),
                tombstone_lifetime: Duration::from_secs(self.notifier.ended_call_memory_secs),
                max_calls: self.notifier.max_calls_per_entity,
            },
            domain_aliases: self
                .notifier
                .domain_aliases
                .iter()
                .map(|(alias, canonical)| (alias.to_ascii_lowercase(), canonical.to_ascii_lowercase()))
                .collect(),
            udp_notify_failures: self.notifier.udp_notify_failures,
            dnd_rule: match self.notifier.dnd_when {
                DndWhen::Any => DndRule::Any,
                DndWhen::All => DndRule::All,
            },
            dnd_as_busy_lamp: self.notifier.dnd_on_blf,
            publish_expiry: ExpiryConfig {
                default: self.publish.default_expires,
                min: self.publish.min_expires,
                max: self.publish.max_expires,
            },
            max_publications_per_entity: self.publish.max_per_entity,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn example_file_parses_and_equals_the_defaults() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../etc/babble-presence.toml");
        let example = Config::load(&path).unwrap();
        assert_eq!(example, Config::default(), "etc/babble-presence.toml documents the defaults");
    }

    #[test]
    fn unknown_keys_and_bad_values_are_refused() {
        assert!(toml::from_str::<Config>("[sip]\nlisten_on = []").is_err());
        assert!(toml::from_str::<Config>("[sip]\nlisten = [\"sctp:1.2.3.4:5060\"]").is_err());
        let empty: Config = toml::from_str("[sip]\nlisten = []").unwrap();
        assert!(empty.validate().is_err());
        let slow: Config = toml::from_str("[sip]\nt1_ms = 0").unwrap();
        assert!(slow.validate().is_err());
    }

    #[test]
    fn listen_specs() {
        let v6: ListenSpec = "tcp:[::1]:5070".parse().unwrap();
        assert_eq!((v6.transport, v6.addr), (Transport::Tcp, "[::1]:5070".parse().unwrap()));
        assert!("udp:nohost".parse::<ListenSpec>().is_err());
        assert!("5060".parse::<ListenSpec>().is_err());
    }
}
