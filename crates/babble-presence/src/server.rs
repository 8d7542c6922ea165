//! The server as a library: [`Server::start`] binds the listeners and runs the engine
//! driver on the current tokio runtime; the returned [`Server`] hands out the typed stream
//! of `.in` events and takes `.out` events as [`Command`]s (the event contract).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use presence_core::api::Command;
use presence_core::contract;

use presence_core::{Engine, Stats, Transport};
use sip_proto::framing::FrameLimits;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, broadcast, mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::config::{Config, ListenSpec};
use crate::counters::{self, ShellCounters};
use crate::driver::{Driver, DriverOptions};
use crate::entity_feed::EntityFeedHandle;
use crate::event_log::{EventLog, SequencedEvent};
use crate::transport::listener::{self, ConnectionLimits, StreamKind};
use crate::transport::tls::{ServerTls, TlsError};
use crate::transport::{FlowIds, Flows, Inbound, StreamRules, udp};

/// How long a stopping server waits for HTTP answers under way to finish.
const HTTP_STOP_WAIT: Duration = Duration::from_secs(5);

/// Events buffered between the network and the engine before UDP input is shed.
const INBOUND_QUEUE: usize = 8192;

/// Why the server could not start or take a command.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// The configuration is not usable.
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    /// A listener could not be bound.
    #[error("binding {listener}: {source}")]
    Bind {
        /// The listener.
        listener: ListenSpec,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// The HTTP API's address could not be bound.
    #[error("binding the HTTP API to {address}: {source}")]
    HttpBind {
        /// The address.
        address: SocketAddr,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// The TLS certificate or key cannot be read or used.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// The data directory's store cannot be opened or read.
    #[error("storage: {0}")]
    Storage(#[from] presence_store::StoreError),
    /// The data directory is in use, or cannot be opened.
    #[error(transparent)]
    DataDir(#[from] crate::storage::OpenError),
    /// The server has stopped.
    #[error("the server has stopped")]
    Stopped,
    /// An `.out` event in JSON form does not fit the contract.
    #[error(transparent)]
    Contract(#[from] contract::ContractError),
}

/// What the HTTP API (and any other front end) needs to reach the engine; cheap to clone.
#[derive(Clone, Debug)]
pub struct Handle {
    inbound: mpsc::Sender<Inbound>,
    events: Arc<EventLog>,
    entity_feed: EntityFeedHandle,
}

impl Handle {
    /// Completes once the server has stopped (its engine driver is gone): what streams to
    /// a client ends then, so that no connection outlives the server.
    pub async fn stopped(&self) {
        self.inbound.closed().await;
    }

    /// The live view of entities: their changes as they come, and the counts.
    pub fn entity_feed(&self) -> &EntityFeedHandle {
        &self.entity_feed
    }

    /// A stream of the `.in` events raised from now on.
    pub fn events(&self) -> broadcast::Receiver<SequencedEvent> {
        self.events.subscribe()
    }

    /// The `.in` events of this run, to resume a stream from a cursor.
    pub fn event_log(&self) -> &EventLog {
        &self.events
    }

    /// Applies an `.out` event; returns once it is applied and, with durable
    /// acknowledgement (`storage.durable_ack`), what it changed is stored.
    pub async fn send(&self, command: Command) -> Result<(), ServerError> {
        let (applied, done) = oneshot::channel();
        self.inbound.send(Inbound::Command { command, applied }).await.map_err(|_| ServerError::Stopped)?;
        done.await.map_err(|_| ServerError::Stopped)
    }

    /// Runs `f` on the engine (in its task, between other inputs) and returns its result.
    pub async fn query<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Engine, std::time::Instant) -> T + Send + 'static,
    ) -> Result<T, ServerError> {
        let (tx, rx) = oneshot::channel();
        let call = crate::transport::EngineCall(Box::new(move |engine, now| {
            let _ = tx.send(f(engine, now));
        }));
        self.inbound.send(Inbound::Call(call)).await.map_err(|_| ServerError::Stopped)?;
        rx.await.map_err(|_| ServerError::Stopped)
    }
}

/// A running server.
#[derive(Debug)]
pub struct Server {
    handle: Handle,
    listeners: Vec<(Transport, SocketAddr)>,
    http: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    driver: JoinHandle<(Engine, Option<crate::storage::Writer>)>,
    /// The listener tasks (UDP receive, stream accept), stopped on shutdown so their ports
    /// are free again.
    listener_tasks: ListenerTasks,
    /// The HTTP server, stopped gracefully on shutdown: no new connections, and the open
    /// ones closed once their answers are done (streams end when the driver stops).
    http_task: ListenerTasks,
    http_stop: Option<oneshot::Sender<()>>,
    /// The certificate of the `tls` and `wss` listeners, if there are any.
    tls: Option<Arc<ServerTls>>,
    counters: Arc<ShellCounters>,
}

/// The listener tasks (UDP receive, stream accept, HTTP), aborted when dropped.
#[derive(Debug, Default)]
struct ListenerTasks(Vec<JoinHandle<()>>);

impl Drop for ListenerTasks {
    fn drop(&mut self) {
        for task in &self.0 {
            task.abort();
        }
    }
}

impl Server {
    /// Binds every listener of `config` and starts serving.
    pub async fn start(config: Config) -> Result<Server, ServerError> {
        config.validate()?;
        if config.policy.watch == crate::config::WatchMode::Open {
            tracing::warn!("policy.watch is \"open\": anyone who can reach the server may watch any entity");
        }
        // Opening and reading the database blocks: off the runtime, and before anything is
        // bound, so a bad data directory leaves nothing behind.
        let data_dir = config.storage.data_dir.clone();
        let stored = tokio::task::spawn_blocking(move || crate::storage::open(&data_dir))
            .await
            .map_err(|_| ServerError::Stopped)??;
        let (inbound_tx, inbound_rx) = mpsc::channel(INBOUND_QUEUE);
        let ids = Arc::new(FlowIds::default());
        let counters = Arc::new(ShellCounters::default());
        let mut flows = Flows::new(counters.clone());
        let mut udp_flows = HashMap::new();
        let mut listeners = Vec::new();
        // Stopped when dropped: if a later listener fails to bind, the earlier ones stop.
        let mut listener_tasks = ListenerTasks::default();
        let limits = FrameLimits { max_head: config.sip.max_message_size, max_body: config.sip.max_message_size };
        let bind_error = |listener: &ListenSpec| {
            let listener = *listener;
            move |source| ServerError::Bind { listener, source }
        };

        let stream_rules = StreamRules {
            max_message_size: config.sip.max_message_size,
            idle_timeout: Duration::from_secs(config.sip.tcp_idle_timeout_secs),
            head_timeout: Duration::from_secs(config.sip.tcp_head_timeout_secs),
            share: Arc::new(Semaphore::new(INBOUND_QUEUE / 2)),
            counters: counters.clone(),
        };
        let connection_limits = ConnectionLimits::new(
            config.sip.max_tcp_connections,
            config.sip.max_tcp_connections_per_source,
            config.limits.engine().trusted,
        );
        let secure = config.sip.listen.iter().any(|l| matches!(l.transport, Transport::Tls | Transport::Wss));
        let tls = if secure { Some(Arc::new(ServerTls::load(&config.sip.tls)?)) } else { None };
        let ping_every = Duration::from_secs(config.sip.ws_ping_interval_secs);
        for spec in &config.sip.listen {
            match spec.transport {
                Transport::Udp => {
                    let (socket, recv_buffer, send_buffer) =
                        udp::bind(spec.addr, config.sip.udp_buffer_bytes).map_err(bind_error(spec))?;
                    let socket = Arc::new(socket);
                    let local = socket.local_addr().map_err(bind_error(spec))?;
                    let flow = ids.next();
                    flows.add_udp(flow, socket.clone(), counters.clone());
                    udp_flows.insert(local, flow);
                    tracing::info!(transport = "udp", local = %local, recv_buffer, send_buffer, "listening");
                    listeners.push((Transport::Udp, local));
                    let max = config.sip.max_message_size;
                    let gate = presence_core::FloodGate::new(&config.limits.engine());
                    let receive = udp::receive_loop(socket, flow, inbound_tx.clone(), max, gate, counters.clone());
                    listener_tasks.0.push(tokio::spawn(receive));
                }
                stream => {
                    let kind = match (stream, &tls) {
                        (Transport::Tcp, _) => StreamKind::Tcp,
                        (Transport::Ws, _) => StreamKind::Ws(ping_every),
                        (Transport::Tls, Some(tls)) => StreamKind::Tls(tls.clone()),
                        (Transport::Wss, Some(tls)) => StreamKind::Wss(tls.clone(), ping_every),
                        _ => return Err(TlsError::NotConfigured.into()),
                    };
                    let listener = TcpListener::bind(spec.addr).await.map_err(bind_error(spec))?;
                    let local = listener.local_addr().map_err(bind_error(spec))?;
                    tracing::info!(transport = %stream, local = %local, "listening");
                    listeners.push((stream, local));
                    let accept = listener::accept_loop(
                        listener,
                        kind,
                        inbound_tx.clone(),
                        ids.clone(),
                        limits,
                        stream_rules.clone(),
                        connection_limits.clone(),
                    );
                    listener_tasks.0.push(tokio::spawn(accept));
                }
            }
        }

        // Every address is bound before the engine starts, so a failed start has sent nothing
        // (restoring sends the final NOTIFYs of subscriptions that expired meanwhile).
        let http_listener = tokio::net::TcpListener::bind(config.http.listen)
            .await
            .map_err(|source| ServerError::HttpBind { address: config.http.listen, source })?;
        let http = http_listener
            .local_addr()
            .map_err(|source| ServerError::HttpBind { address: config.http.listen, source })?;

        let events = Arc::new(EventLog::default());
        let (stop, stopped) = oneshot::channel();
        let mut engine = Engine::new(config.engine(rand::random()));
        let writer = match stored {
            Some((store, snapshot, lock)) => {
                let now = tokio::time::Instant::now().into_std();
                let unix_ms = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
                tracing::info!(
                    subscriptions = snapshot.subscriptions.len(),
                    registrations = snapshot.bindings.len(),
                    publications = snapshot.publications.len(),
                    data_dir = %config.storage.data_dir.display(),
                    "restoring state"
                );
                engine.enable_persistence(now, unix_ms);
                engine.restore(snapshot, &udp_flows, now);
                let window = Duration::from_millis(config.storage.batch_window_ms);
                let writer = crate::storage::Writer::spawn(store, window, Some(lock), counters.clone());
                Some(writer.map_err(presence_store::StoreError::Io)?)
            }
            None => None,
        };
        let options = DriverOptions {
            shed_after: (config.sip.shed_after_ms > 0).then(|| Duration::from_millis(config.sip.shed_after_ms)),
            durable_ack: config.storage.durable_ack,
        };
        let driver = Driver::new(engine, flows, inbound_rx, events.clone(), writer, counters.clone(), options);
        let entity_feed = driver.entity_feed();
        let driver = tokio::spawn(driver.run(async {
            let _ = stopped.await;
        }));
        let handle = Handle { inbound: inbound_tx, events, entity_feed };
        let app = crate::http::router(crate::http::AppState::new(handle.clone(), &config, counters.clone()));
        let (http_stop, http_stopping) = oneshot::channel::<()>();
        let http_task = ListenerTasks(vec![tokio::spawn(async move {
            let stopping = async {
                let _ = http_stopping.await;
            };
            if let Err(e) = axum::serve(http_listener, app).with_graceful_shutdown(stopping).await {
                tracing::error!(error = %e, "the HTTP API stopped");
            }
        })]);
        tracing::info!(transport = "http", local = %http, "listening");
        tracing::info!(version = env!("CARGO_PKG_VERSION"), "babble-presence ready");
        Ok(Server {
            handle,
            listeners,
            http,
            stop: Some(stop),
            driver,
            listener_tasks,
            http_task,
            http_stop: Some(http_stop),
            tls,
            counters,
        })
    }

    /// The address the HTTP API listens on.
    pub fn http_addr(&self) -> SocketAddr {
        self.http
    }

    /// A cloneable handle to the engine.
    pub fn handle(&self) -> Handle {
        self.handle.clone()
    }

    /// The bound listeners (useful with port 0).
    pub fn listeners(&self) -> &[(Transport, SocketAddr)] {
        &self.listeners
    }

    /// The first bound address of `transport`.
    pub fn local_addr(&self, transport: Transport) -> Option<SocketAddr> {
        self.listeners.iter().find(|(t, _)| *t == transport).map(|(_, a)| *a)
    }

    /// A stream of the `.in` events raised from now on.
    pub fn events(&self) -> broadcast::Receiver<SequencedEvent> {
        self.handle.events()
    }

    /// Applies what of `config` can change while running: digest authentication, the watch
    /// policy and the device profiles ([`presence_core::Engine::reload`]), and the TLS
    /// certificate, which new connections get while open ones keep theirs. The rest waits
    /// for a restart.
    pub async fn reload(&self, config: &Config) -> Result<(), ServerError> {
        config.validate()?;
        if let Some(tls) = &self.tls {
            tls.reload(&config.sip.tls)?;
        }
        // The seed is not among what a reload takes.
        let engine = config.engine(0);
        self.handle.query(move |e, _| e.reload(engine)).await
    }

    /// Applies an `.out` event.
    pub async fn send(&self, command: Command) -> Result<(), ServerError> {
        self.handle.send(command).await
    }

    /// Applies an `.out` event in the contract's JSON form, e.g. `("presence.voicemail.out",
    /// {"entity": "1001@pbx", "newcount": 2})`; the seed's field names and aliases work.
    pub async fn send_json(&self, event: &str, data: &serde_json::Value) -> Result<(), ServerError> {
        self.send(contract::command_from_json(event, data)?).await
    }

    /// Stops serving, stores what is still to be stored, and returns the final counters.
    pub async fn shutdown(mut self) -> Result<Stats, ServerError> {
        // Listeners first, so nothing new arrives while the driver finishes what is queued.
        for task in self.listener_tasks.0.drain(..) {
            task.abort();
            let _ = task.await;
        }
        if let Some(stop) = self.http_stop.take() {
            let _ = stop.send(());
        }
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let (engine, writer) = (&mut self.driver).await.map_err(|_| ServerError::Stopped)?;
        // The driver is gone, so every stream has ended; an answer still being written gets
        // a moment to finish.
        for mut task in self.http_task.0.drain(..) {
            if tokio::time::timeout(HTTP_STOP_WAIT, &mut task).await.is_err() {
                task.abort();
                tracing::warn!("HTTP answers still under way at shutdown were cut");
            }
        }
        if let Some(writer) = writer {
            let _ = tokio::task::spawn_blocking(move || writer.finish()).await;
        }
        let stats = engine.stats().clone();
        tracing::info!(
            requests_in = stats.requests_in,
            responses_in = stats.responses_in,
            messages_out = stats.messages_out,
            malformed_answered = stats.malformed_answered,
            malformed_dropped = stats.malformed_dropped,
            oversized = stats.oversized,
            notify_timeouts = stats.notify_timeouts,
            subscriptions_lost = stats.subscriptions_lost,
            udp_queue_drops = counters::read(&self.counters.udp_queue_drops),
            udp_requests_shed = counters::read(&self.counters.udp_requests_shed),
            tcp_backlog_drops = counters::read(&self.counters.tcp_backlog_drops),
            udp_send_drops = counters::read(&self.counters.udp_send_drops),
            store_commit_failures = counters::read(&self.counters.store_commit_failures),
            store_changes_dropped = counters::read(&self.counters.store_changes_dropped),
            "stopped"
        );
        Ok(stats)
    }
}
