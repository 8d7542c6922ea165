//! What the benchmarks share: the engine's settings for load that stands for a proxy's.

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use presence_core::{EngineConfig, Limits};

/// The defaults, with every source trusted: a benchmark's load comes from one address, as a
/// proxy's would, so the per-source rates and shares (which the hostile-traffic tests
/// exercise) would measure themselves instead of the engine.
pub fn engine_config() -> EngineConfig {
    // The default networks are the whole of each family: 0.0.0.0/0 and ::/0.
    let trusted = vec![IpNet::V4(Ipv4Net::default()), IpNet::V6(Ipv6Net::default())];
    EngineConfig { limits: Limits { trusted, ..Limits::default() }, ..EngineConfig::default() }
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_source_is_trusted() {
        let limits = super::engine_config().limits;
        for source in ["203.0.113.9", "2001:db8::1"] {
            let source: std::net::IpAddr = source.parse().unwrap();
            assert!(limits.trusted.iter().any(|net| net.contains(&source)), "{source}");
        }
    }
}
