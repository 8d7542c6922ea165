//! The live view of entities over Server-Sent Events (what the dashboard follows): one
//! `entities` event per take of the entity feed, with the entities that changed (as
//! `GET /api/v1/entities/{entity}` shows them), those no longer listed, and the counts. The
//! first event, and one after the consumer fell behind, says `relist`: list the entities
//! shown again, since the changes before it are not all in the stream.

use std::convert::Infallible;
use std::sync::Arc;

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::Stream;
use serde::Serialize;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::BroadcastStream;
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;

use super::AppState;
use super::lookups::{Entity, EntityCounts};
use crate::entity_feed::{Counts, FeedBatch};

/// What changed among the entities since the last `entities` event.
#[derive(Debug, Serialize)]
pub(crate) struct EntityChanges {
    /// The entities that changed, as they are now.
    changed: Vec<Entity>,
    /// The entities no longer listed (nothing is held about them any more).
    gone: Vec<String>,
    counts: EntityCounts,
    /// The changes before this event are not all in the stream: list again.
    relist: bool,
}

impl EntityChanges {
    fn relist(counts: Counts) -> Self {
        EntityChanges { changed: Vec::new(), gone: Vec::new(), counts: counts.into(), relist: true }
    }

    fn of(batch: &FeedBatch) -> Self {
        EntityChanges {
            changed: batch.changed.iter().cloned().map(Entity::from).collect(),
            gone: batch.gone.clone(),
            counts: batch.counts.into(),
            relist: batch.relist,
        }
    }
}

/// Streams entity changes as Server-Sent Events named `entities` (at most five a second,
/// each entity once however often it changed meanwhile).
#[utoipa::path(get, path = "/api/v1/events/entities", tag = "events",
    responses((status = 200, content_type = "text/event-stream",
        description = "text/event-stream of `entities` events, each `{changed: [Entity], gone: [entity], counts: EntityCounts, relist}`")))]
pub(crate) async fn entities(State(state): State<AppState>) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let feed = state.handle.entity_feed().clone();
    let batches = BroadcastStream::new(feed.follow());
    let first = EntityChanges::relist(feed.counts());
    let changes = batches.map(move |item: Result<Arc<FeedBatch>, BroadcastStreamRecvError>| match item {
        Ok(batch) => EntityChanges::of(&batch),
        // Behind: what it missed is gone, so it starts over from a fresh listing.
        Err(BroadcastStreamRecvError::Lagged(missed)) => {
            tracing::debug!(missed, "an entity stream consumer fell behind; it lists again");
            EntityChanges::relist(feed.counts())
        }
    });
    let events = tokio_stream::iter([first]).chain(changes).map(|changes| {
        let data = serde_json::to_string(&changes).unwrap_or_default();
        Ok(Event::default().event("entities").data(data))
    });
    // It ends with the server, so the page sees the connection go and reconnects.
    let handle = state.handle.clone();
    let until_stopped = futures_util::StreamExt::take_until(events, async move { handle.stopped().await });
    Sse::new(until_stopped).keep_alive(KeepAlive::default())
}
