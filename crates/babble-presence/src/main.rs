//! babble-presence: the server binary. Parses the command line and configuration, runs
//! the server on tokio, and stops cleanly on SIGINT or SIGTERM.

mod cli;
mod service;

use std::process::ExitCode;

use anyhow::Context;
use babble_presence::Server;
use babble_presence::config::Config;
use clap::Parser;

use crate::cli::{Cli, Command};

/// Every message allocates (its parse, the NOTIFYs it causes, their encoding); mimalloc's
/// thread-local free lists cost less than glibc's under that churn.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Some(Command::CheckConfig { path }) => check_config(&path),
        Some(Command::Backup { file }) => backup(&cli.run, &file),
        Some(Command::Restore { file }) => restore(&cli.run, &file),
        Some(Command::GenCert { dir, names }) => gen_cert(&dir, &names),
        Some(Command::Run) | None => run(&cli.run),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("babble-presence: {}", explain(&e));
            ExitCode::FAILURE
        }
    }
}

/// The error and its causes, each said once: many errors' messages already end with their
/// cause's (`binding udp:…: Address already in use`), so a cause is left out when the message
/// above it ends with it.
fn explain(error: &anyhow::Error) -> String {
    let mut said = String::new();
    let mut above = String::new();
    for cause in error.chain() {
        let message = cause.to_string();
        if !above.ends_with(&message) {
            if !said.is_empty() {
                said.push_str(": ");
            }
            said.push_str(&message);
        }
        above = message;
    }
    said
}

fn check_config(path: &std::path::Path) -> anyhow::Result<()> {
    use std::fmt::Write as _;
    use std::io::Write as _;
    let config = Config::load(path)?;
    let mut report = format!("{}: ok\n", path.display());
    for spec in &config.sip.listen {
        let _ = writeln!(report, "  sip listen {spec}");
    }
    let _ = writeln!(report, "  http listen {}", config.http.listen);
    let _ = writeln!(report, "  data dir {}", config.storage.data_dir.display());
    // The device profiles in the order they are tried, with what selects each.
    for profile in config.engine(0).profiles {
        let mut selectors = Vec::new();
        if !profile.subscribers.is_empty() {
            selectors.push(format!("subscribers {}", profile.subscribers.join(", ")));
        }
        if !profile.addresses.is_empty() {
            let addresses: Vec<String> = profile.addresses.iter().map(ToString::to_string).collect();
            selectors.push(format!("addresses {}", addresses.join(", ")));
        }
        if !profile.user_agents.is_empty() {
            selectors.push(format!("User-Agent {}", profile.user_agents.join(", ")));
        }
        let selectors = if selectors.is_empty() { "never selected".to_owned() } else { selectors.join("; ") };
        let _ = writeln!(report, "  profile {}: {selectors}", profile.name);
    }
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(report.as_bytes()).and_then(|()| stdout.flush()) {
        // A reader that stops early (`check-config FILE | head -1`) is not a failure.
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(()),
    }
}

fn backup(args: &cli::RunArgs, file: &std::path::Path) -> anyhow::Result<()> {
    let data_dir = stored_data_dir(args)?;
    anyhow::ensure!(!file.exists(), "{} exists: a backup is written to a new file", file.display());
    let contents = babble_presence::backup::backup(&data_dir, file)?;
    println!("backed up {} into {}: {contents}", data_dir.display(), file.display());
    Ok(())
}

fn restore(args: &cli::RunArgs, file: &std::path::Path) -> anyhow::Result<()> {
    let data_dir = stored_data_dir(args)?;
    let contents = babble_presence::backup::restore(&data_dir, file)?;
    println!("restored {} from {}: {contents}", data_dir.display(), file.display());
    Ok(())
}

fn gen_cert(dir: &std::path::Path, names: &[String]) -> anyhow::Result<()> {
    let (certificate, key) = babble_presence::certificate::write_self_signed(dir, names)?;
    println!("wrote {} and {} for {}", certificate.display(), key.display(), names.join(", "));
    println!("[sip.tls]\ncertificate = {:?}\nprivate_key = {:?}", certificate, key);
    Ok(())
}

/// The data directory the configuration names; `none` has nothing to back up or restore.
fn stored_data_dir(args: &cli::RunArgs) -> anyhow::Result<std::path::PathBuf> {
    let data_dir = args.resolve()?.storage.data_dir;
    anyhow::ensure!(data_dir != std::path::Path::new("none"), "storage.data_dir is none: state is kept in memory only");
    Ok(data_dir)
}

fn run(args: &cli::RunArgs) -> anyhow::Result<()> {
    let config = args.resolve()?;
    let log = babble_presence::telemetry::init(&config.log.level, config.log.format).map_err(anyhow::Error::msg)?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async {
        let server = Server::start(config.clone()).await.context("starting")?;
        service::serve(&server, config, || args.resolve(), &log).await.context("watching signals")?;
        server.shutdown().await.context("stopping")?;
        Ok(())
    })
}
