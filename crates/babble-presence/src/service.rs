//! Running as a service: readiness, watchdog pings and stopping reported to systemd
//! (`sd_notify`, when the unit sets `NOTIFY_SOCKET`), and the configuration re-read on SIGHUP.
//! A reload applies what can change while running (`Server::reload`: `[auth]`, `[policy]`,
//! `[[profiles]]`, and `log.level`) and names the sections whose changes wait for a restart.

use std::time::Duration;

use babble_presence::Server;
use babble_presence::config::{Config, ConfigError};
use babble_presence::telemetry::LogLevel;
use sd_notify::NotifyState;
use tokio::signal::unix::{SignalKind, signal};

/// Serves until SIGINT or SIGTERM, reloading on SIGHUP from what `reread` returns.
pub(crate) async fn serve(
    server: &Server,
    mut running: Config,
    reread: impl Fn() -> Result<Config, ConfigError>,
    log: &LogLevel,
) -> std::io::Result<()> {
    let mut terminate = signal(SignalKind::terminate())?;
    let mut hangup = signal(SignalKind::hangup())?;
    notify(&[NotifyState::Ready, NotifyState::Status("serving")]);
    let watchdog = sd_notify::watchdog_enabled().map(|period| tokio::spawn(ping_while_alive(server.handle(), period)));
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => break,
            _ = terminate.recv() => break,
            _ = hangup.recv() => {
                let reloading = sd_notify::NotifyState::monotonic_usec_now();
                match reloading {
                    Ok(now) => notify(&[NotifyState::Reloading, now]),
                    Err(_) => notify(&[NotifyState::Reloading]),
                }
                match reload(server, &running, &reread, log).await {
                    Ok(new) => running = new,
                    Err(e) => tracing::error!(error = %e, "reload refused; the running configuration stays"),
                }
                notify(&[NotifyState::Ready, NotifyState::Status("serving")]);
            }
        }
    }
    tracing::info!("shutting down");
    notify(&[NotifyState::Stopping, NotifyState::Status("stopping")]);
    if let Some(task) = watchdog {
        task.abort();
    }
    Ok(())
}

/// Re-reads the configuration and applies what can change while running.
async fn reload(
    server: &Server,
    running: &Config,
    reread: &impl Fn() -> Result<Config, ConfigError>,
    log: &LogLevel,
) -> anyhow::Result<Config> {
    let new = reread()?;
    server.reload(&new).await?;
    if !log.set(&new.log.level).map_err(anyhow::Error::msg)? && new.log.level != running.log.level {
        tracing::warn!("log.level changed, but RUST_LOG sets the level");
    }
    let waiting = restart_only_changes(running, &new);
    if waiting.is_empty() {
        tracing::info!("configuration reloaded");
    } else {
        tracing::warn!(sections = %waiting.join(", "), "configuration reloaded; these changes take effect at the next restart");
    }
    Ok(new)
}

/// The settings that differ between `running` and `new` but are not applied by a reload.
fn restart_only_changes(running: &Config, new: &Config) -> Vec<&'static str> {
    let auth_nonces = |c: &Config| (c.auth.nonce_lifetime_secs, c.auth.max_nonces);
    [
        ("sip", running.sip != new.sip),
        ("notifier", running.notifier != new.notifier),
        ("publish", running.publish != new.publish),
        ("registrar", running.registrar != new.registrar),
        ("subscribe_back", running.subscribe_back != new.subscribe_back),
        ("auth.nonce_lifetime_secs, auth.max_nonces", auth_nonces(running) != auth_nonces(new)),
        ("limits", running.limits != new.limits),
        ("http", running.http != new.http),
        ("storage", running.storage != new.storage),
        ("log.format", running.log.format != new.log.format),
    ]
    .into_iter()
    .filter_map(|(section, changed)| changed.then_some(section))
    .collect()
}

/// Pings the watchdog every half period while the engine answers; a stuck engine stops the
/// pings, and systemd restarts the service.
///
/// A ping is a send on the notify socket, which blocks once the service manager stops reading
/// it and its queue is full: each is sent from a blocking thread, one at a time (a ping due
/// while the last one still waits is skipped), so that no worker of the runtime, and so no
/// socket or the engine, ever waits for the service manager.
async fn ping_while_alive(handle: babble_presence::Handle, period: Duration) {
    let mut every = tokio::time::interval(period / 2);
    let mut sending: Option<tokio::task::JoinHandle<()>> = None;
    loop {
        every.tick().await;
        let answered = tokio::time::timeout(period / 2, handle.query(|_, _| ())).await;
        let idle = sending.as_ref().is_none_or(tokio::task::JoinHandle::is_finished);
        if matches!(answered, Ok(Ok(()))) && idle {
            sending = Some(tokio::task::spawn_blocking(|| notify(&[NotifyState::Watchdog])));
        }
    }
}

/// Tells systemd, when it listens; a failure is logged, since the service runs on regardless.
fn notify(state: &[NotifyState]) {
    if let Err(e) = sd_notify::notify(state) {
        tracing::warn!(error = %e, "cannot notify the service manager");
    }
}
