//! The command line: `babble-presence [run]` with overrides, `check-config`, `backup` and
//! `restore`.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use babble_presence::config::{Config, ConfigError, ListenSpec, LogFormat};

/// A SIP presence server: BLF, presence/DND and message-waiting for phones.
#[derive(Debug, Parser)]
#[command(version, about)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Option<Command>,
    #[command(flatten)]
    pub(crate) run: RunArgs,
}

/// Subcommands; with none, the server runs.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Run the server (the default).
    Run,
    /// Check a configuration file and print the settings it results in.
    CheckConfig {
        /// The TOML file to check.
        path: PathBuf,
    },
    /// Copy the store of the data directory into FILE, while the server runs.
    Backup {
        /// The new file to write (it must not exist).
        file: PathBuf,
    },
    /// Replace the store of the data directory with the backup FILE; the server must be
    /// stopped.
    Restore {
        /// A file written by `backup`.
        file: PathBuf,
    },
    /// Write a self-signed certificate and key (babble-presence.crt and .key) for a first
    /// try of the tls and wss listeners.
    GenCert {
        /// The directory to write them into.
        #[arg(long, default_value = ".")]
        dir: PathBuf,
        /// A host name or IP address the certificate is for; repeatable.
        #[arg(long = "name", value_name = "NAME", default_values_t = ["localhost".to_owned(), "127.0.0.1".to_owned(), "::1".to_owned()])]
        names: Vec<String>,
    },
}

/// Settings for running; flags override the configuration file.
#[derive(Debug, Default, Clone, clap::Args)]
pub(crate) struct RunArgs {
    /// TOML configuration file (see etc/babble-presence.toml). Without it, built-in defaults.
    #[arg(long, global = true)]
    pub(crate) config: Option<PathBuf>,
    /// Listen on TRANSPORT:HOST:PORT (udp, tcp, tls, ws or wss); repeatable; replaces sip.listen.
    #[arg(long = "listen", value_name = "TRANSPORT:HOST:PORT", global = true)]
    pub(crate) listen: Vec<ListenSpec>,
    /// Address of the HTTP API (replaces http.listen).
    #[arg(long, value_name = "HOST:PORT", global = true, value_parser = babble_presence::config::bind_address)]
    pub(crate) http: Option<std::net::SocketAddr>,
    /// Directory of the SQLite database, or `none` for memory only (replaces storage.data_dir).
    #[arg(long, value_name = "PATH", global = true)]
    pub(crate) data_dir: Option<PathBuf>,
    /// Log format (replaces log.format).
    #[arg(long, value_enum, global = true)]
    pub(crate) log_format: Option<LogFormat>,
}

impl RunArgs {
    /// The configuration: the file (or defaults) with these flags applied, validated.
    pub(crate) fn resolve(&self) -> Result<Config, ConfigError> {
        let mut config = match &self.config {
            Some(path) => Config::load(path)?,
            None => Config::default(),
        };
        if !self.listen.is_empty() {
            config.sip.listen.clone_from(&self.listen);
        }
        if let Some(http) = self.http {
            config.http.listen = http;
        }
        if let Some(dir) = &self.data_dir {
            config.storage.data_dir.clone_from(dir);
        }
        if let Some(format) = self.log_format {
            config.log.format = format;
        }
        config.validate()?;
        Ok(config)
    }
}
