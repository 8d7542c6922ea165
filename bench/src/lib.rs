//! What the benchmarks share: the engine's settings for load that stands for a proxy's, free
//! loopback ports for a server under test, what a process uses (CPU, memory) as Linux reports
//! it, and (`sim`) the engine driven as the shell drives it.

pub mod sim;

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

/// A UDP port on loopback that was free a moment ago.
pub fn free_udp_port() -> std::io::Result<u16> {
    Ok(std::net::UdpSocket::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// A TCP port on loopback that was free a moment ago.
pub fn free_tcp_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Clock ticks per second, the unit of `/proc/PID/stat`'s CPU times.
pub fn clock_ticks() -> Option<f64> {
    let out = std::process::Command::new("getconf").arg("CLK_TCK").output().ok()?;
    String::from_utf8_lossy(&out.stdout).trim().parse().ok()
}

/// User plus system CPU seconds process `pid` has used.
pub fn cpu_seconds(pid: u32, clock_ticks: f64) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let (user, system): (f64, f64) = (fields.get(11)?.parse().ok()?, fields.get(12)?.parse().ok()?);
    Some((user + system) / clock_ticks)
}

/// Proportional set size of process `pid`, KiB.
pub fn pss_kib(pid: u32) -> Option<u64> {
    let rollup = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).ok()?;
    rollup.lines().find(|l| l.starts_with("Pss:"))?.split_whitespace().nth(1)?.parse().ok()
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
