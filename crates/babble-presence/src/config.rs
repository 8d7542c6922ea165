//! The configuration file (TOML) and its defaults. Every key is documented in
//! `etc/babble-presence.toml`, which a test parses; unknown keys are refused so a typo
//! cannot silently fall back to a default. Command-line flags override the file.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use presence_core::{
    Algorithm, AuthConfig, CallLimits, DndRule, EngineConfig, ExpiryConfig, Grant, Secret, Transport, User, WatchPolicy,
};
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
    /// The registrar.
    pub registrar: RegistrarConfig,
    /// Subscribing back to registered phones.
    pub subscribe_back: SubscribeBackConfig,
    /// Digest authentication.
    pub auth: AuthSection,
    /// Who may watch whom.
    pub policy: PolicyConfig,
    /// What one source may take, and the state tables' totals.
    pub limits: crate::limits_config::LimitsSection,
    /// The integration API.
    pub http: HttpConfig,
    /// Persistent state.
    pub storage: StorageConfig,
    /// Device profiles of the operator's own (`[[profiles]]`).
    pub profiles: Vec<crate::profile_config::ProfileEntry>,
    /// Resource lists (`[[lists]]`, RFC 4662).
    pub lists: Vec<ListEntry>,
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
    /// Most simultaneous TCP connections from one source address outside `limits.trusted`.
    pub max_tcp_connections_per_source: usize,
    /// A TCP connection with nothing received for this many seconds is closed (CRLF
    /// keep-alives count).
    pub tcp_idle_timeout_secs: u64,
    /// A TCP connection whose first message, or a message it began, is not complete within
    /// this many seconds is closed.
    pub tcp_head_timeout_secs: u64,
    /// Receive and send buffer asked of each UDP socket, in bytes (the kernel caps it at
    /// `net.core.rmem_max` / `wmem_max`).
    pub udp_buffer_bytes: usize,
    /// UDP requests outside any dialog that waited in the inbound queue longer than this
    /// many milliseconds are dropped unread and counted, so an overload sheds early; 0 never
    /// sheds by age.
    pub shed_after_ms: u64,
    /// Most server transactions held at once; past it the oldest answered one is forgotten.
    pub max_server_transactions: usize,
    /// RFC 3261 T1 in milliseconds.
    pub t1_ms: u64,
    /// RFC 3261 T2 in milliseconds.
    pub t2_ms: u64,
    /// RFC 3261 T4 in milliseconds.
    pub t4_ms: u64,
    /// The Server/User-Agent header value.
    pub server_name: Option<String>,
    /// A WebSocket connection the server has sent nothing on for this many seconds is
    /// pinged (a browser's script cannot ping; its pongs keep the connection from idling).
    pub ws_ping_interval_secs: u64,
    /// The certificate of the `tls` and `wss` listeners.
    pub tls: TlsConfig,
}

/// `[sip.tls]`: the certificate of the `tls` and `wss` listeners. Relative paths in a file
/// are taken from the file's directory. SIGHUP reads the files again.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct TlsConfig {
    /// PEM file of the certificate chain, the server's certificate first.
    pub certificate: Option<PathBuf>,
    /// PEM file of the private key (PKCS#8, PKCS#1 or SEC1).
    pub private_key: Option<PathBuf>,
    /// PEM file of the CAs a client certificate must chain to; when set, a client without
    /// one is refused (mutual TLS).
    pub client_ca: Option<PathBuf>,
}

impl TlsConfig {
    fn relative_to(&mut self, base: &Path) {
        for path in [&mut self.certificate, &mut self.private_key, &mut self.client_ca].into_iter().flatten() {
            if path.is_relative() {
                *path = base.join(&*path);
            }
        }
    }
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
            max_tcp_connections_per_source: 32,
            // Past the longest registration (7200 s) and subscription: a phone that keeps
            // its state refreshed keeps its connection without keep-alives.
            tcp_idle_timeout_secs: 7_260,
            tcp_head_timeout_secs: 10,
            udp_buffer_bytes: 4 * 1024 * 1024,
            shed_after_ms: 200,
            max_server_transactions: engine.max_server_transactions,
            t1_ms: engine.timers.t1.as_millis() as u64,
            t2_ms: engine.timers.t2.as_millis() as u64,
            t4_ms: engine.timers.t4.as_millis() as u64,
            server_name: None,
            ws_ping_interval_secs: 30,
            tls: TlsConfig::default(),
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
    /// Most subscriptions to one entity from one subscriber at one address.
    pub max_subscriptions_per_watcher: usize,
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
    /// Dialable user part to the user part of the entity it stands for (`"701" = "park+701"`,
    /// or with trailing `*`s, `"70*" = "park+70*"`), at any domain.
    pub user_aliases: std::collections::BTreeMap<String, String>,
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

impl From<DndWhen> for DndRule {
    fn from(when: DndWhen) -> Self {
        match when {
            DndWhen::Any => DndRule::Any,
            DndWhen::All => DndRule::All,
        }
    }
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
            max_subscriptions_per_watcher: engine.max_subscriptions_per_watcher,
            unknown_presence: UnknownPresence::Available,
            dummy_voicemail: engine.zero_voicemail_when_unknown,
            udp_notify_failures: engine.udp_notify_failures,
            early_call_lifetime_secs: engine.calls.early_lifetime.as_secs(),
            confirmed_call_lifetime_secs: engine.calls.confirmed_lifetime.as_secs(),
            ended_call_memory_secs: engine.calls.tombstone_lifetime.as_secs(),
            max_calls_per_entity: engine.calls.max_calls,
            domain_aliases: Default::default(),
            user_aliases: Default::default(),
            dnd_when: DndWhen::Any,
            dnd_on_blf: engine.dnd_as_busy_lamp,
        }
    }
}

/// A resource list (`[[lists]]`): one URI a phone subscribes to for the lamps of all its
/// members (RFC 4662).
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ListEntry {
    /// The list's URI (`sip:blf-sales@pbx.example.com`), which phones subscribe to.
    pub uri: String,
    /// A name for people.
    #[serde(default)]
    pub name: Option<String>,
    /// The members, SIP URIs of entities, in the order phones show them.
    #[serde(default)]
    pub members: Vec<String>,
    /// The event packages it serves.
    #[serde(default = "list_events")]
    pub events: Vec<String>,
    /// How long a member's change waits for changes to others, so they go in one NOTIFY, in
    /// milliseconds (0: at once).
    #[serde(default = "list_batch_interval_ms")]
    pub batch_interval_ms: u32,
}

fn list_batch_interval_ms() -> u32 {
    200
}

fn list_events() -> Vec<String> {
    vec!["dialog".to_owned(), "presence".to_owned()]
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

/// `[registrar]`: REGISTER handling (RFC 3261 §10).
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct RegistrarConfig {
    /// Expiry granted when a REGISTER asks for none, in seconds.
    pub default_expires: u32,
    /// Shortest expiry accepted (shorter gets 423), in seconds.
    pub min_expires: u32,
    /// Longest expiry granted, in seconds.
    pub max_expires: u32,
    /// Push message-waiting NOTIFYs to registered phones that do not subscribe to MWI.
    pub unsolicited_mwi: bool,
}

impl Default for RegistrarConfig {
    fn default() -> Self {
        let engine = EngineConfig::default();
        RegistrarConfig {
            default_expires: engine.registrar_expiry.default,
            min_expires: engine.registrar_expiry.min,
            max_expires: engine.registrar_expiry.max,
            unsolicited_mwi: engine.unsolicited_mwi,
        }
    }
}

/// `[subscribe_back]`: subscribing to phones that register.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct SubscribeBackConfig {
    /// Event packages to subscribe to (`presence`, `dialog`); empty disables it.
    pub events: Vec<String>,
    /// Expiry asked for, in seconds.
    pub expires: u32,
    /// How DND reported by an entity's phones combines.
    pub dnd_when: DndWhen,
}

impl Default for SubscribeBackConfig {
    fn default() -> Self {
        let engine = EngineConfig::default();
        SubscribeBackConfig {
            events: engine.subscribe_back,
            expires: engine.subscribe_back_expires,
            dnd_when: DndWhen::All,
        }
    }
}

/// `[auth]`: digest authentication (RFC 3261 §22, RFC 8760).
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct AuthSection {
    /// The realm; empty uses the Request-URI host.
    pub realm: String,
    /// Challenge REGISTER.
    pub register: bool,
    /// Challenge SUBSCRIBE.
    pub subscribe: bool,
    /// Challenge PUBLISH.
    pub publish: bool,
    /// `www` (401) or `proxy` (407).
    pub challenge: ChallengeKind,
    /// How long a nonce may be used, in seconds.
    pub nonce_lifetime_secs: u64,
    /// Algorithms offered, preferred first: `MD5`, `SHA-256`. Answers with any other are
    /// refused.
    pub algorithms: Vec<DigestAlgorithm>,
    /// Refuse answers without `qop=auth` (RFC 2069 style, which cannot count replays).
    pub require_qop: bool,
    /// Most nonces outstanding; past it the oldest is forgotten.
    pub max_nonces: usize,
    /// The authenticated realm must equal the Request-URI host, else 403.
    pub realm_must_match_host: bool,
    /// Wrong credentials get `forbidden` (403) or a new `challenge`.
    pub bad_credentials: BadCredentials,
    /// Users who may authenticate; also our credentials when a phone challenges us.
    pub users: Vec<UserEntry>,
}

impl Default for AuthSection {
    fn default() -> Self {
        AuthSection {
            realm: String::new(),
            register: false,
            subscribe: false,
            publish: false,
            challenge: ChallengeKind::Www,
            nonce_lifetime_secs: AuthConfig::default().nonce_lifetime.as_secs(),
            algorithms: vec![DigestAlgorithm::Md5],
            require_qop: AuthConfig::default().require_qop,
            max_nonces: AuthConfig::default().max_nonces,
            realm_must_match_host: false,
            bad_credentials: BadCredentials::Forbidden,
            users: Vec::new(),
        }
    }
}

/// A digest algorithm by its RFC 8760 name.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
pub enum DigestAlgorithm {
    /// `MD5`.
    #[serde(rename = "MD5")]
    Md5,
    /// `SHA-256`.
    #[serde(rename = "SHA-256")]
    Sha256,
}

/// The challenge status.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ChallengeKind {
    /// 401 with WWW-Authenticate.
    Www,
    /// 407 with Proxy-Authenticate (the original's `proxy` option).
    Proxy,
}

/// What wrong credentials get.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum BadCredentials {
    /// 403 Forbidden.
    Forbidden,
    /// A new challenge.
    Challenge,
}

/// One `[[auth.users]]` entry: a password, or precomputed HA1 values.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct UserEntry {
    /// The username (usually the extension).
    pub username: String,
    /// Only in this realm; absent: any.
    #[serde(default)]
    pub realm: Option<String>,
    /// The password.
    #[serde(default)]
    pub password: Option<String>,
    /// `MD5(username:realm:password)` in hex, instead of the password.
    #[serde(default)]
    pub ha1_md5: Option<String>,
    /// `SHA-256(username:realm:password)` in hex, instead of the password.
    #[serde(default)]
    pub ha1_sha256: Option<String>,
    /// Entities this user may act as besides its own (`username` at its realm, or at any
    /// domain without one): `1002@pbx.example.com`, `*@pbx.example.com`, or `*`.
    #[serde(default)]
    pub act_for: Vec<String>,
}

/// `[policy]`: who may watch whom (everyone may watch themselves).
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct PolicyConfig {
    /// `open`, `same-domain` or `lists`.
    pub watch: WatchMode,
    /// For `lists`: entity to the subscribers allowed to watch it (`*`: everyone).
    pub lists: std::collections::BTreeMap<String, Vec<String>>,
}

impl Default for PolicyConfig {
    fn default() -> Self {
        PolicyConfig { watch: WatchMode::Open, lists: Default::default() }
    }
}

/// The watch policy.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum WatchMode {
    /// Anyone may watch anyone.
    Open,
    /// Only subscribers of the entity's domain.
    SameDomain,
    /// Only those listed in `policy.lists`.
    Lists,
}

/// `[http]`: the integration API (HTTP/JSON, event streams, metrics, health).
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// Address of the HTTP API.
    #[serde(deserialize_with = "deserialize_bind_address")]
    pub listen: SocketAddr,
    /// Bearer token required on `/api/v1/*` and `/metrics`; empty: none (loopback only).
    pub token: String,
    /// `GET /api/v1/availability` counts an entity nothing is known about as available.
    pub unknown_is_available: bool,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            token: String::new(),
            unknown_is_available: false,
        }
    }
}

/// `[storage]`: where state is kept.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct StorageConfig {
    /// Directory of the SQLite database; `none` keeps state in memory only. A relative path
    /// in a file is taken from the file's directory. Default: [`default_data_dir`].
    pub data_dir: PathBuf,
    /// Responses and API acknowledgements wait until the changes they report are stored.
    pub durable_ack: bool,
    /// How long the writer collects changes before committing them together, in ms.
    pub batch_window_ms: u64,
}

impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig {
            data_dir: default_data_dir(),
            durable_ack: true,
            batch_window_ms: crate::storage::BATCH_WINDOW.as_millis() as u64,
        }
    }
}

/// Where state is kept when nothing says: never under the working directory, which under
/// systemd is `/`. The unit's `StateDirectory=` (`$STATE_DIRECTORY`), else the user's state
/// directory (`$XDG_STATE_HOME/babble-presence`, `~/.local/state/babble-presence`), else
/// `/var/lib/babble-presence`.
pub fn default_data_dir() -> PathBuf {
    let set = |name| std::env::var_os(name).filter(|v| !v.is_empty()).map(PathBuf::from);
    if let Some(dirs) = std::env::var_os("STATE_DIRECTORY").filter(|v| !v.is_empty()) {
        // systemd lists one directory per StateDirectory= entry, separated by colons.
        if let Some(first) = std::env::split_paths(&dirs).next() {
            return first;
        }
    }
    if let Some(state) = set("XDG_STATE_HOME") {
        return state.join("babble-presence");
    }
    match set("HOME") {
        Some(home) => home.join(".local/state/babble-presence"),
        None => PathBuf::from("/var/lib/babble-presence"),
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

/// A listener: `TRANSPORT:HOST:PORT` with TRANSPORT `udp`, `tcp`, `tls`, `ws` or `wss`
/// (IPv6 hosts in brackets).
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
        let transport = Transport::from_name(scheme)
            .ok_or_else(|| invalid(format!("unknown transport {scheme:?} (supported: udp, tcp, tls, ws, wss)")))?;
        Ok(ListenSpec { transport, addr: bind_address(addr).map_err(invalid)? })
    }
}

/// An address to bind, `HOST:PORT` with HOST an IP address. A name is refused, saying so:
/// it may resolve to several addresses, and the one bound is what goes into Via and Contact.
pub fn bind_address(s: &str) -> Result<SocketAddr, String> {
    if let Ok(addr) = s.parse() {
        return Ok(addr);
    }
    match s.rsplit_once(':') {
        Some((host, port)) if port.parse::<u16>().is_ok() && !host.is_empty() && !host.starts_with('[') => {
            Err(format!(
                "{host:?} is a name, and HOST must be an IP address: 127.0.0.1 (or [::1]) for this machine only, \
             0.0.0.0 (or [::]) for every address"
            ))
        }
        _ => Err(format!("{s:?} is not HOST:PORT, e.g. 0.0.0.0:5060 or [::]:5060")),
    }
}

fn deserialize_bind_address<'de, D: serde::Deserializer<'de>>(d: D) -> Result<SocketAddr, D::Error> {
    bind_address(&String::deserialize(d)?).map_err(serde::de::Error::custom)
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
        let mut config: Config =
            toml::from_str(&text).map_err(|e| ConfigError::Invalid(format!("parsing {}: {e}", path.display())))?;
        let data_dir = &config.storage.data_dir;
        if data_dir.is_relative() && data_dir != Path::new("none") {
            // The file's own directory, so the service and a shell find the same state.
            let base = path.parent().unwrap_or(Path::new("."));
            config.storage.data_dir = base.join(data_dir);
        }
        config.sip.tls.relative_to(path.parent().unwrap_or(Path::new(".")));
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
        if !self.http.listen.ip().is_loopback() && self.http.token.is_empty() {
            return bail("http.token is required when http.listen is not a loopback address");
        }
        if sip.max_tcp_connections_per_source == 0 || sip.tcp_idle_timeout_secs == 0 || sip.tcp_head_timeout_secs == 0 {
            return bail(
                "sip.max_tcp_connections_per_source, tcp_idle_timeout_secs and tcp_head_timeout_secs must be above zero",
            );
        }
        let secure = sip.listen.iter().any(|l| matches!(l.transport, Transport::Tls | Transport::Wss));
        if secure && (sip.tls.certificate.is_none() || sip.tls.private_key.is_none()) {
            return Err(ConfigError::Invalid(crate::transport::tls::TlsError::NotConfigured.to_string()));
        }
        if sip.ws_ping_interval_secs == 0 {
            return bail("sip.ws_ping_interval_secs must be above zero");
        }
        let aliases: Result<Vec<_>, _> = (self.notifier.user_aliases.iter())
            .map(|(dialed, entity)| presence_core::aliases::UserAlias::parse(dialed, entity))
            .collect();
        if let Err(e) = aliases.and_then(|aliases| presence_core::aliases::check(&aliases)) {
            return Err(ConfigError::Invalid(format!("notifier.{e}")));
        }
        if sip.max_tcp_connections == 0 || sip.max_server_transactions == 0 || sip.udp_buffer_bytes == 0 {
            return bail(
                "sip.max_tcp_connections, sip.max_server_transactions and sip.udp_buffer_bytes must be above zero",
            );
        }
        let n = &self.notifier;
        let p = &self.publish;
        let r = &self.registrar;
        for (section, min, default, max) in [
            ("notifier", n.min_expires, n.default_expires, n.max_expires),
            ("publish", p.min_expires, p.default_expires, p.max_expires),
            ("registrar", r.min_expires, r.default_expires, r.max_expires),
        ] {
            if min == 0 || !(min..=max).contains(&default) {
                return Err(ConfigError::Invalid(format!(
                    "{section} expiry must satisfy 0 < min_expires <= default_expires <= max_expires"
                )));
            }
        }
        if p.max_per_entity == 0 {
            return bail("publish.max_per_entity must be above zero");
        }

        if self.subscribe_back.expires < 60 {
            return bail("subscribe_back.expires must be at least 60 seconds");
        }
        for event in &self.subscribe_back.events {
            if !["presence", "dialog"].contains(&event.as_str()) {
                return bail("subscribe_back.events may hold \"presence\" and \"dialog\"");
            }
        }
        if self.auth.algorithms.is_empty() || self.auth.nonce_lifetime_secs == 0 || self.auth.max_nonces == 0 {
            return bail("auth needs at least one algorithm, and a nonce lifetime and max_nonces above zero");
        }
        for user in &self.auth.users {
            if user.password.is_none() && user.ha1_md5.is_none() && user.ha1_sha256.is_none() {
                return bail("every auth user needs a password, ha1_md5 or ha1_sha256");
            }
        }
        if n.udp_notify_failures == 0
            || n.max_subscriptions_per_entity == 0
            || n.max_subscriptions_per_watcher == 0
            || n.max_calls_per_entity == 0
        {
            return bail(
                "notifier.udp_notify_failures, max_subscriptions_per_entity, max_subscriptions_per_watcher and \
                 max_calls_per_entity must be above zero",
            );
        }
        if self.storage.batch_window_ms > 1000 {
            return bail("storage.batch_window_ms must be at most 1000");
        }
        self.limits.validate()?;
        presence_core::lists::check(&self.engine(0)).map_err(|e| ConfigError::Invalid(format!("lists: {e}")))?;
        crate::profile_config::validate(&self.profiles)
    }

    /// The engine's settings.
    pub fn engine(&self, seed: u64) -> EngineConfig {
        let defaults = EngineConfig::default();
        let mut engine = EngineConfig {
            timers: TimerConfig {
                t1: Duration::from_millis(self.sip.t1_ms),
                t2: Duration::from_millis(self.sip.t2_ms),
                t4: Duration::from_millis(self.sip.t4_ms),
            },
            server_name: self.sip.server_name.clone().unwrap_or(defaults.server_name),
            max_message_size: self.sip.max_message_size,
            max_server_transactions: self.sip.max_server_transactions,
            seed,
            // A single node: every server mints ids as node 0 until nodes share a store.
            node_id: defaults.node_id,
            expiry: ExpiryConfig {
                default: self.notifier.default_expires,
                min: self.notifier.min_expires,
                max: self.notifier.max_expires,
            },
            max_subscriptions_per_entity: self.notifier.max_subscriptions_per_entity,
            max_subscriptions_per_watcher: self.notifier.max_subscriptions_per_watcher,
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
            // `validate` refused any alias that does not read.
            user_aliases: (self.notifier.user_aliases.iter())
                .filter_map(|(dialed, entity)| presence_core::aliases::UserAlias::parse(dialed, entity).ok())
                .collect(),
            udp_notify_failures: self.notifier.udp_notify_failures,
            dnd_rule: self.notifier.dnd_when.into(),
            dnd_as_busy_lamp: self.notifier.dnd_on_blf,
            publish_expiry: ExpiryConfig {
                default: self.publish.default_expires,
                min: self.publish.min_expires,
                max: self.publish.max_expires,
            },
            max_publications_per_entity: self.publish.max_per_entity,
            registrar_expiry: ExpiryConfig {
                default: self.registrar.default_expires,
                min: self.registrar.min_expires,
                max: self.registrar.max_expires,
            },
            auth: self.auth_config(),
            limits: self.limits.engine(),
            // Set below, once entities can be keyed with the domain aliases.
            watch_policy: WatchPolicy::Open,
            subscribe_back: self.subscribe_back.events.clone(),
            subscribe_back_expires: self.subscribe_back.expires,
            device_dnd_rule: self.subscribe_back.dnd_when.into(),
            unsolicited_mwi: self.registrar.unsolicited_mwi,
            profiles: Vec::new(),
            lists: (self.lists.iter())
                .map(|l| presence_core::lists::ListConfig {
                    uri: l.uri.clone(),
                    name: l.name.clone(),
                    members: l.members.clone(),
                    events: l.events.clone(),
                    batch_interval_ms: l.batch_interval_ms,
                })
                .collect(),
        };
        // Assigned subscribers and watch lists are keyed as the engine keys entities, domain
        // aliases included.
        engine.profiles = crate::profile_config::engine_profiles(&self.profiles, |s| engine.entity_key(s));
        engine.watch_policy = self.watch_policy(&engine);
        engine.auth.users = self.auth_users(&engine);
        engine
    }

    /// The watch policy, with the listed entities keyed as `keys` keys them.
    fn watch_policy(&self, keys: &EngineConfig) -> WatchPolicy {
        match self.policy.watch {
            WatchMode::Open => WatchPolicy::Open,
            WatchMode::SameDomain => WatchPolicy::SameDomain,
            WatchMode::Lists => WatchPolicy::Lists(
                (self.policy.lists.iter())
                    .map(|(entity, who)| (keys.entity_key(entity), who.iter().map(|w| keys.entity_key(w)).collect()))
                    .collect(),
            ),
        }
    }

    /// The users who may authenticate, their grants keyed as `keys` keys entities.
    fn auth_users(&self, keys: &EngineConfig) -> Vec<User> {
        (self.auth.users.iter())
            .map(|u| User {
                username: u.username.clone(),
                realm: u.realm.clone(),
                secret: match &u.password {
                    Some(password) => Secret::Password(password.clone()),
                    None => Secret::Ha1 { md5: u.ha1_md5.clone(), sha256: u.ha1_sha256.clone() },
                },
                act_for: u.act_for.iter().map(|grant| Grant::parse(grant, keys)).collect(),
            })
            .collect()
    }

    fn auth_config(&self) -> AuthConfig {
        let a = &self.auth;
        AuthConfig {
            realm: (!a.realm.is_empty()).then(|| a.realm.clone()),
            register: a.register,
            subscribe: a.subscribe,
            publish: a.publish,
            proxy: a.challenge == ChallengeKind::Proxy,
            nonce_lifetime: Duration::from_secs(a.nonce_lifetime_secs),
            algorithms: a
                .algorithms
                .iter()
                .map(|algorithm| match algorithm {
                    DigestAlgorithm::Md5 => Algorithm::Md5,
                    DigestAlgorithm::Sha256 => Algorithm::Sha256,
                })
                .collect(),
            // Set by `engine`, once grants can be keyed with the domain aliases.
            users: Vec::new(),
            require_qop: a.require_qop,
            max_nonces: a.max_nonces,
            realm_must_match_host: a.realm_must_match_host,
            challenge_bad_credentials: a.bad_credentials == BadCredentials::Challenge,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_relative_data_dir_in_a_file_is_taken_from_the_files_directory() {
        let dir = std::env::temp_dir().join(format!("bp-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("site.toml");
        for (setting, expected) in
            [("\"state\"", dir.join("state")), ("\"/srv/bp\"", PathBuf::from("/srv/bp")), ("\"none\"", "none".into())]
        {
            std::fs::write(&file, format!("[storage]\ndata_dir = {setting}\n")).unwrap();
            assert_eq!(Config::load(&file).unwrap().storage.data_dir, expected, "{setting}");
        }
        std::fs::remove_dir_all(&dir).ok();
    }

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
        let sha1 = toml::from_str::<Config>("[auth]\nalgorithms = [\"SHA-1\"]").unwrap_err();
        assert!(sha1.to_string().contains("SHA-256"), "the error names what is allowed: {sha1}");
        let both: Config = toml::from_str("[auth]\nalgorithms = [\"SHA-256\", \"MD5\"]").unwrap();
        assert_eq!(both.engine(0).auth.algorithms, vec![Algorithm::Sha256, Algorithm::Md5]);
        let slow: Config = toml::from_str("[sip]\nt1_ms = 0").unwrap();
        assert!(slow.validate().is_err());
        for bad in ["[registrar]\nmin_expires = 0", "[publish]\ndefault_expires = 5", "[notifier]\nmax_expires = 30"] {
            let config: Config = toml::from_str(bad).unwrap();
            assert!(config.validate().unwrap_err().to_string().contains("expiry"), "{bad}");
        }
        let exposed: Config = toml::from_str("[http]\nlisten = \"0.0.0.0:8080\"").unwrap();
        assert!(exposed.validate().unwrap_err().to_string().contains("http.token"));
    }

    /// Watch lists name entities as the engine keys them, so a list written with a scheme,
    /// capitals or an aliased host still applies (they were only lowercased before, so such a
    /// list never matched and its entity could be watched by nobody but itself).
    #[test]
    fn watch_lists_are_keyed_with_the_domain_aliases() {
        let config: Config = toml::from_str(
            "[notifier.domain_aliases]\n\"10.0.0.5\" = \"pbx.example.com\"\n\
             [policy]\nwatch = \"lists\"\n[policy.lists]\n\"sip:1001@10.0.0.5\" = [\"1002@PBX.example.com\"]\n",
        )
        .unwrap();
        let engine = config.engine(0);
        let key = |text| engine.entity_key(text);
        assert!(engine.watch_policy.allows(&key("1002@pbx.example.com"), &key("1001@pbx.example.com")));
        assert!(!engine.watch_policy.allows(&key("1003@pbx.example.com"), &key("1001@pbx.example.com")));
    }

    #[test]
    fn user_aliases_that_do_not_read_or_chain_are_refused() {
        let with = |aliases: &str| {
            let config: Config = toml::from_str(&format!("[notifier.user_aliases]\n{aliases}")).unwrap();
            config.validate().map_err(|e| e.to_string())
        };
        assert!(with("\"70*\" = \"park+70*\"").is_ok());
        assert!(with("\"70*\" = \"park+70\"").unwrap_err().contains("both end in *"));
        let chain = with("\"8000\" = \"9000\"\n\"9*\" = \"park+9*\"").unwrap_err();
        assert!(chain.contains("notifier.user alias \"8000\" = \"9000\"") && chain.contains("a chain"), "{chain}");
    }

    #[test]
    fn lists_that_cannot_be_served_are_refused() {
        let with = |lists: &str| {
            let config: Config = toml::from_str(lists).unwrap();
            config.validate().map_err(|e| e.to_string())
        };
        let list = |uri: &str, members: &str, extra: &str| {
            format!("[[lists]]\nuri = \"{uri}\"\nmembers = [{members}]\n{extra}\n")
        };
        assert!(with(&list("sip:sales@pbx", "\"sip:1001@pbx\"", "")).is_ok());
        let nested = list("sip:sales@pbx", "\"sip:all@pbx\"", "") + &list("sip:all@pbx", "\"sip:1001@pbx\"", "");
        assert!(with(&nested).unwrap_err().contains("nested lists are not served yet"));
        let mwi = list("sip:sales@pbx", "", "events = [\"message-summary\"]");
        assert!(with(&mwi).unwrap_err().contains("a list serves dialog and presence"));
        let twice = list("sip:sales@pbx", "", "") + &list("sip:sales@PBX:5060", "", "");
        assert!(with(&twice).unwrap_err().contains("defined twice"));
    }

    #[test]
    fn listen_specs() {
        let v6: ListenSpec = "tcp:[::1]:5070".parse().unwrap();
        assert_eq!((v6.transport, v6.addr), (Transport::Tcp, "[::1]:5070".parse().unwrap()));
        assert!("udp:nohost".parse::<ListenSpec>().is_err());
        let named = "udp:pbx.example.com:5060".parse::<ListenSpec>().unwrap_err().to_string();
        assert!(named.contains("\"pbx.example.com\" is a name"), "{named}");
        assert!("5060".parse::<ListenSpec>().is_err());
    }
}
