//! babble-presence: the server binary. Parses the command line and configuration, starts
//! the listeners and the engine driver on tokio, and stops cleanly on SIGINT or SIGTERM.

mod cli;
mod config;
mod driver;
mod telemetry;
mod transport;

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::Context;
use clap::Parser;
use presence_core::{Engine, Transport};
use sip_proto::framing::FrameLimits;
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::mpsc;

use crate::cli::{Cli, Command};
use crate::config::Config;
use crate::driver::Driver;
use crate::transport::{FlowIds, Flows, tcp, udp};

/// Events buffered between the network and the engine before UDP input is shed.
const INBOUND_QUEUE: usize = 8192;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Some(Command::CheckConfig { path }) => check_config(&path),
        Some(Command::Run) | None => run(&cli.run),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("babble-presence: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn check_config(path: &std::path::Path) -> anyhow::Result<()> {
    let config = Config::load(path)?;
    println!("{}: ok", path.display());
    for spec in &config.sip.listen {
        println!("  sip listen {spec}");
    }
    println!("  http listen {}", config.http.listen);
    println!("  data dir {}", config.storage.data_dir.display());
    Ok(())
}

fn run(args: &cli::RunArgs) -> anyhow::Result<()> {
    let config = args.resolve()?;
    telemetry::init(&config.log.level, config.log.format)?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(serve(config))
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let (inbound_tx, inbound_rx) = mpsc::channel(INBOUND_QUEUE);
    let ids = Arc::new(FlowIds::default());
    let udp_queue_drops = Arc::new(AtomicU64::new(0));
    let mut flows = Flows::default();
    let limits = FrameLimits { max_head: config.sip.max_message_size, max_body: config.sip.max_message_size };

    for spec in &config.sip.listen {
        match spec.transport {
            Transport::Udp => {
                let socket = Arc::new(UdpSocket::bind(spec.addr).await.with_context(|| format!("binding {spec}"))?);
                let flow = ids.next();
                flows.add_udp(flow, socket.clone());
                tracing::info!(transport = "udp", local = %socket.local_addr()?, "listening");
                tokio::spawn(udp::receive_loop(
                    socket,
                    flow,
                    inbound_tx.clone(),
                    config.sip.max_message_size,
                    udp_queue_drops.clone(),
                ));
            }
            Transport::Tcp => {
                let listener = TcpListener::bind(spec.addr).await.with_context(|| format!("binding {spec}"))?;
                tracing::info!(transport = "tcp", local = %listener.local_addr()?, "listening");
                tokio::spawn(tcp::accept_loop(
                    listener,
                    inbound_tx.clone(),
                    ids.clone(),
                    limits,
                    config.sip.max_tcp_connections,
                ));
            }
            other => anyhow::bail!("transport {other} is not supported"),
        }
    }
    drop(inbound_tx);

    let engine = Engine::new(config.engine(rand::random()));
    tracing::info!(version = env!("CARGO_PKG_VERSION"), "babble-presence ready");
    let engine = Driver::new(engine, flows, inbound_rx).run(shutdown_signal()).await;
    let stats = engine.stats();
    tracing::info!(
        requests_in = stats.requests_in,
        responses_in = stats.responses_in,
        messages_out = stats.messages_out,
        malformed_answered = stats.malformed_answered,
        malformed_dropped = stats.malformed_dropped,
        oversized = stats.oversized,
        udp_queue_drops = udp_queue_drops.load(Ordering::Relaxed),
        "stopped"
    );
    Ok(())
}

/// Completes on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(signal) => signal,
            Err(e) => {
                tracing::warn!(error = %e, "cannot watch SIGTERM; stopping on SIGINT only");
                let _ = interrupt.await;
                return;
            }
        };
        tokio::select! {
            _ = interrupt => {},
            _ = terminate.recv() => {},
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
    tracing::info!("shutting down");
}
