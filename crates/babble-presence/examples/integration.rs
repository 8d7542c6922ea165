//! A Rust integration driving babble-presence through its library API: it answers every
//! message-waiting subscription with counts and every presence or BLF subscription with
//! the entity's registration, the way a voicemail system and a call manager would.
//!
//! ```sh
//! cargo run -p babble-presence --example integration -- udp:127.0.0.1:5060
//! sipp 127.0.0.1:5060 -sf interop/sipp/subscribe_mwi.xml -m 1   # sees the counts
//! ```

use babble_presence::api::{Command, InEvent, VoicemailReason};
use babble_presence::config::Config;
use babble_presence::{MessageCounts, Server, contract};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut config = Config::default();
    let listen = std::env::args().nth(1).unwrap_or_else(|| "udp:127.0.0.1:5060".to_owned());
    config.sip.listen = vec![listen.parse()?];
    // The HTTP API on an ephemeral port, so the example runs beside a server.
    config.http.listen = "127.0.0.1:0".parse()?;
    // State in memory: every run starts afresh, so the first NOTIFY carries the counts this
    // run pushes, not ones stored by the last.
    config.storage.data_dir = "none".into();
    let server = Server::start(config).await?;
    let mut events = server.events();
    for (transport, address) in server.listeners() {
        println!("listening on {transport}:{address}");
    }
    println!("Ctrl-C to stop");
    loop {
        let event = tokio::select! {
            _ = tokio::signal::ctrl_c() => break,
            event = events.recv() => event?,
        };
        println!("#{} {}: {}", event.seq, event.event.name(), contract::in_event_json(&event.event));
        let reply = match event.event {
            InEvent::VoicemailIn(watcher) => Command::Voicemail {
                entity: watcher.entity,
                counts: MessageCounts { new: 2, old: 5, new_urgent: 0, old_urgent: 1 },
                reason: VoicemailReason::Init,
            },
            InEvent::SubscribeIn(watcher) => Command::Registration {
                entity: watcher.entity,
                registered: true,
                call_count: 0,
                call_id: Some(watcher.call_id),
            },
            _ => continue,
        };
        server.send(reply).await?;
    }
    let stats = server.shutdown().await?;
    println!("stopped after {} requests", stats.requests_in);
    Ok(())
}
