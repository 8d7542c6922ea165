//! The engine's settings: plain values with safe defaults. The binary maps its TOML file
//! onto this; the engine never reads files or the environment.

use sip_proto::transaction::TimerConfig;

/// Engine settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EngineConfig {
    /// RFC 3261 timers T1, T2, T4.
    pub timers: TimerConfig,
    /// The `Server` header value on our responses.
    pub server_name: String,
    /// Largest message accepted, in bytes; larger datagrams are dropped and counted.
    pub max_message_size: usize,
    /// Most server transactions held at once; past it requests get 503 statelessly.
    pub max_server_transactions: usize,
    /// Seed for the identifiers we mint (tags). The shell seeds it from the OS; tests fix it.
    pub seed: u64,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            timers: TimerConfig::default(),
            server_name: concat!("babble-presence/", env!("CARGO_PKG_VERSION")).to_owned(),
            max_message_size: 64 * 1024,
            max_server_transactions: 100_000,
            seed: 0,
        }
    }
}
