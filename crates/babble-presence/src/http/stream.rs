//! `.in` events out: a WebSocket and a Server-Sent Events stream of every event as
//! `{"seq", "event", "data"}`, filtered by event name and entity. A consumer too slow to keep
//! up is dropped with a logged reason (and a close reason on the WebSocket), never buffered
//! without bound and never slowing SIP. An SSE consumer that reconnects with the standard
//! `Last-Event-ID` gets the events it missed first, or a `resync` event saying why it cannot
//! (the server restarted, or it fell too far behind).

use std::convert::Infallible;

use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::Stream;
use presence_core::api::InEvent;
use presence_core::contract::in_event_json;
use serde::Deserialize;
use serde_json::Value;
use tokio::sync::broadcast::error::RecvError;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::BroadcastStream;
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;
use utoipa::IntoParams;

use super::AppState;
use super::problem::ApiError;
use crate::event_log::{Cursor, Gap, SequencedEvent};

/// Which events a stream carries.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct Filter {
    /// Comma-separated event names (`presence.voicemail.in,register`); all when absent.
    event: Option<String>,
    /// Only events about this entity (`user@host`).
    entity: Option<String>,
}

impl Filter {
    fn wants(&self, event: &InEvent) -> bool {
        let name_ok = self.event.as_deref().is_none_or(|names| names.split(',').any(|n| n.trim() == event.name()));
        let entity_ok = self.entity.as_deref().is_none_or(|wanted| entity_of(event).eq_ignore_ascii_case(wanted));
        name_ok && entity_ok
    }
}

pub(super) fn entity_of(event: &InEvent) -> &str {
    match event {
        InEvent::SubscribeIn(w) | InEvent::VoicemailIn(w) => &w.entity,
        InEvent::StatusIn(s) => &s.entity,
        InEvent::Register(r) | InEvent::Unregister(r) => &r.entity,
        _ => "",
    }
}

/// The wire form: the contract's `{"event", "data"}` plus the sequence number.
pub(super) fn payload(e: &SequencedEvent) -> Value {
    let mut json = in_event_json(&e.event);
    if let Some(object) = json.as_object_mut() {
        object.insert("seq".to_owned(), Value::from(e.seq));
    }
    json
}

/// Streams `.in` events as Server-Sent Events (`id` = `EPOCH-SEQ`, `event` = name). With
/// `Last-Event-ID`, the kept events after it come first; when they cannot, a `resync` event
/// (`{"event": "resync", "data": {"reason", "missed_after"}}`) says why and the stream goes on
/// from now.
#[utoipa::path(get, path = "/api/v1/events/sse", tag = "events", params(Filter),
    responses((status = 200, description = "text/event-stream of {seq, event, data}, or a resync event", content_type = "text/event-stream")))]
pub(crate) async fn sse(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(filter): Query<Filter>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let log = state.handle.event_log();
    let epoch = log.epoch();
    let asked = headers.get("last-event-id").map(|v| v.to_str().ok().and_then(Cursor::parse));
    let resumed = match asked {
        None => Ok(None),
        Some(None) => Err("the Last-Event-ID is not one this server gives"),
        Some(Some(cursor)) => match log.resume(cursor) {
            Ok(resumed) => Ok(Some(resumed)),
            Err(Gap::Restarted) => Err("the server restarted: its earlier events are gone"),
            Err(Gap::TooFarBehind) => Err("events after the Last-Event-ID are no longer kept"),
        },
    };
    let (notice, missed, live) = match resumed {
        Ok(Some((missed, live))) => (None, missed, live),
        Ok(None) => (None, Vec::new(), log.subscribe()),
        Err(reason) => {
            let (now, live) = log.follow();
            let missed_after = headers.get("last-event-id").and_then(|v| v.to_str().ok()).unwrap_or_default();
            let data = serde_json::json!({"event": "resync", "data": {"reason": reason, "missed_after": missed_after}});
            (Some(Event::default().id(now.to_string()).event("resync").data(data.to_string())), Vec::new(), live)
        }
    };
    let resumed_to = missed.last().map_or(0, |e| e.seq);
    let live = BroadcastStream::new(live)
        .map_while(|item| match item {
            Ok(event) => Some(event),
            Err(BroadcastStreamRecvError::Lagged(missed)) => {
                tracing::warn!(missed, "dropping a slow SSE consumer");
                None
            }
        })
        .filter(move |e| e.seq > resumed_to);
    let events = tokio_stream::iter(missed).chain(live).filter(move |e| filter.wants(&e.event)).map(move |e| {
        let id = Cursor { epoch, seq: e.seq };
        Ok(Event::default().id(id.to_string()).event(e.event.name()).data(payload(&e).to_string()))
    });
    let events = tokio_stream::iter(notice.map(Ok)).chain(events);
    // It ends with the server, so a consumer sees the connection go and reconnects.
    let handle = state.handle.clone();
    let until_stopped = futures_util::StreamExt::take_until(events, async move { handle.stopped().await });
    Sse::new(until_stopped).keep_alive(KeepAlive::default())
}

/// Streams `.in` events over a WebSocket, one JSON text message each.
#[utoipa::path(get, path = "/api/v1/events/ws", tag = "events", params(Filter),
    responses((status = 101, description = "WebSocket of {seq, event, data} text messages")))]
pub(crate) async fn ws(
    State(state): State<AppState>,
    Query(filter): Query<Filter>,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    match upgrade {
        Ok(upgrade) => upgrade.on_upgrade(move |socket| follow(socket, state, filter)),
        Err(rejection) => ApiError::bad_request(rejection.body_text()).into_response(),
    }
}

async fn follow(mut socket: WebSocket, state: AppState, filter: Filter) {
    let mut events = state.handle.events();
    loop {
        tokio::select! {
            () = state.handle.stopped() => {
                let reason = "the server is stopping";
                let _ = socket.send(Message::Close(Some(CloseFrame { code: 1001, reason: reason.into() }))).await;
                return;
            }
            received = events.recv() => match received {
                Ok(event) if filter.wants(&event.event) => {
                    if socket.send(Message::Text(payload(&event).to_string().into())).await.is_err() {
                        return;
                    }
                }
                Ok(_) => {}
                Err(RecvError::Lagged(missed)) => {
                    tracing::warn!(missed, "dropping a slow WebSocket consumer");
                    let reason = format!("slow consumer: {missed} events missed");
                    let _ = socket.send(Message::Close(Some(CloseFrame { code: 1008, reason: reason.into() }))).await;
                    return;
                }
                Err(RecvError::Closed) => return,
            },
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                Some(Ok(_)) => {}
            },
        }
    }
}
