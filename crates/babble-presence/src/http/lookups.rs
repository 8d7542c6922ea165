//! Look-ups: entities with their composed state and availability, the
//! subscriptions served (and ending one), registrations and publications.

use axum::Json;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use presence_core::api::SourceAddress;
use presence_core::views::{Category, EntityView, PublicationView, RegistrationView, SubscriptionView, WatchView};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::AppState;
use super::problem::{ApiError, Problem};
use super::stream::{entity_of, payload};
use crate::entity_feed::Counts;

/// Where a party is.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Address {
    transport: String,
    address: String,
    port: u16,
}

impl From<SourceAddress> for Address {
    fn from(s: SourceAddress) -> Self {
        Address { transport: s.transport, address: s.address, port: s.port }
    }
}

/// A call of an entity.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct CallOut {
    callid: String,
    state: &'static str,
    direction: Option<&'static str>,
    duration: Option<u64>,
    /// Whether media flows (RFC 4235 `+sip.rendering`); `false` is a call on hold.
    hasmedia: Option<bool>,
    remote: Option<String>,
}

/// Message counts.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Voicemail {
    new: u32,
    old: u32,
    newurgent: u32,
    oldurgent: u32,
}

/// An entity's composed state.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Entity {
    entity: String,
    /// `null` when nothing reported registration.
    registered: Option<bool>,
    contacts: usize,
    /// `available`, `on-the-phone`, `dnd`, `on-the-phone-dnd` or `offline`.
    shown: &'static str,
    note: Option<String>,
    dnd: bool,
    onthephone: bool,
    /// Can take a call now: not offline, not DND, not on the phone.
    available: bool,
    /// Why it cannot take a call now (`null` when it can): `not registered`, `do not
    /// disturb`, `on the phone`, ...
    unavailable: Option<&'static str>,
    /// The display name the call manager gave it.
    display: Option<String>,
    /// The User-Agents of its registered contacts.
    useragents: Vec<String>,
    calls: Vec<CallOut>,
    voicemail: Option<Voicemail>,
    watchers: usize,
}

impl From<EntityView> for Entity {
    fn from(v: EntityView) -> Self {
        Entity {
            entity: v.entity,
            registered: v.registered,
            contacts: v.contacts,
            shown: v.shown,
            note: v.note,
            dnd: v.dnd,
            onthephone: v.on_the_phone,
            available: v.available,
            unavailable: v.unavailable,
            display: v.display,
            useragents: v.user_agents,
            calls: v
                .calls
                .into_iter()
                .map(|c| CallOut {
                    callid: c.call_id,
                    state: c.state.as_str(),
                    direction: c.direction.map(|d| d.as_str()),
                    duration: c.duration,
                    hasmedia: c.rendering,
                    remote: c.remote.map(|r| r.uri),
                })
                .collect(),
            voicemail: v.voicemail.map(|c| Voicemail {
                new: c.new,
                old: c.old,
                newurgent: c.new_urgent,
                oldurgent: c.old_urgent,
            }),
            watchers: v.watchers,
        }
    }
}

/// How many entities there are, and how many are in each group the dashboard filters by.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct EntityCounts {
    entities: usize,
    registered: usize,
    busy: usize,
    dnd: usize,
    messages: usize,
}

impl From<Counts> for EntityCounts {
    fn from(c: Counts) -> Self {
        EntityCounts {
            entities: c.entities,
            registered: c.of(Category::Registered),
            busy: c.of(Category::Busy),
            dnd: c.of(Category::Dnd),
            messages: c.of(Category::Messages),
        }
    }
}

/// One page of entities.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct EntityPage {
    /// How many match.
    total: usize,
    offset: usize,
    limit: usize,
    items: Vec<Entity>,
    /// Over every entity, whatever the filter (as of at most a fifth of a second ago).
    counts: EntityCounts,
}

/// Paging and filtering of `GET /api/v1/entities`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct EntityQuery {
    /// Only entities starting with this (`10` matches `1001@pbx`).
    prefix: Option<String>,
    /// Only entities whose name or display name contains this, case-insensitively (a
    /// search: it walks the entities in the prefix's range).
    q: Option<String>,
    /// Only entities in this group: `registered`, `busy` (on a call, ringing included), `dnd`
    /// or `messages` (new messages waiting).
    state: Option<String>,
    /// Skip this many (default 0).
    offset: Option<usize>,
    /// At most this many (default 100).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<usize>,
}

/// Lists the entities known (with state, watchers or registrations), sorted.
#[utoipa::path(get, path = "/api/v1/entities", tag = "look-ups", params(EntityQuery),
    responses((status = 200, body = EntityPage), (status = 400, body = Problem, content_type = "application/problem+json")))]
pub(crate) async fn list_entities(
    State(state): State<AppState>,
    q: Result<Query<EntityQuery>, QueryRejection>,
) -> Result<Json<EntityPage>, ApiError> {
    let Query(q) = q?;
    let (offset, limit) = (q.offset.unwrap_or(0), q.limit.unwrap_or(100));
    if limit == 0 || limit > 1000 {
        return Err(ApiError::new(StatusCode::BAD_REQUEST, "Invalid query", "limit must be between 1 and 1000"));
    }
    let category = match q.state.as_deref().filter(|s| !s.is_empty()) {
        None => None,
        Some(name) => Some(Category::parse(name).ok_or_else(|| {
            ApiError::bad_request(format!("state {name:?} is not one of registered, busy, dnd, messages"))
                .for_field("state")
        })?),
    };
    let prefix = q.prefix.unwrap_or_default();
    let needle = q.q.filter(|n| !n.is_empty());
    let feed = state.handle.entity_feed();
    let (total, views) = match (category, needle) {
        (None, None) => state.handle.query(move |engine, _| engine.entity_page(&prefix, offset, limit)).await?,
        // The group's own index: the page costs the page.
        (Some(category), None) => {
            let (total, keys) = feed.page_of(category, &prefix, offset, limit);
            let views =
                state.handle.query(move |engine, _| keys.iter().map(|k| engine.entity_view(k)).collect()).await?;
            (total, views)
        }
        (category, Some(needle)) => {
            let search = move |engine: &mut presence_core::Engine, _| {
                engine.entity_search(&prefix, category, &needle, offset, limit)
            };
            state.handle.query(search).await?
        }
    };
    let counts = feed.counts().into();
    Ok(Json(EntityPage { total, offset, limit, items: views.into_iter().map(Entity::from).collect(), counts }))
}

/// Everything held about one entity.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct EntityDetailOut {
    entity: Entity,
    subscriptions: Vec<Subscription>,
    /// Our subscriptions to its registered phones.
    watches: Vec<Watch>,
    registrations: Vec<Registration>,
    publications: Vec<Publication>,
    /// The last `.in` events about it still kept, oldest first (`{seq, event, data}`).
    #[schema(value_type = Vec<Object>)]
    events: Vec<serde_json::Value>,
}

/// One subscription we hold to a registered phone.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Watch {
    event: &'static str,
    contact: String,
    /// `subscribing`, `active` or `ending`.
    state: &'static str,
    /// What the phone last reported (`open`, `closed`, with `, dnd`).
    reported: Option<String>,
    peer: Address,
}

impl From<WatchView> for Watch {
    fn from(w: WatchView) -> Self {
        Watch { event: w.event, contact: w.contact, state: w.state, reported: w.reported, peer: w.peer.into() }
    }
}

/// How many of its last events an entity's detail shows.
const DETAIL_EVENTS: usize = 20;

/// Everything held about one entity: its state, the subscriptions to it, ours to its phones,
/// its registrations, its publications and its last events. It costs what the entity holds.
#[utoipa::path(get, path = "/api/v1/entities/{entity}/detail", tag = "look-ups",
    params(("entity" = String, Path, description = "user@host (a sip: prefix is ignored)")),
    responses((status = 200, body = EntityDetailOut)))]
pub(crate) async fn get_entity_detail(
    State(state): State<AppState>,
    Path(entity): Path<String>,
) -> Result<Json<EntityDetailOut>, ApiError> {
    let detail = state
        .handle
        .query(move |engine, now| {
            let key = engine.config().entity_key(&entity);
            engine.entity_detail(&key, now)
        })
        .await?;
    let name = detail.entity.entity.clone();
    let events = state.handle.event_log().last_about(DETAIL_EVENTS, |e| entity_of(e).eq_ignore_ascii_case(&name));
    Ok(Json(EntityDetailOut {
        entity: detail.entity.into(),
        subscriptions: detail.subscriptions.into_iter().map(Subscription::from).collect(),
        watches: detail.watches.into_iter().map(Watch::from).collect(),
        registrations: detail.registrations.into_iter().map(Registration::from).collect(),
        publications: detail.publications.into_iter().map(Publication::from).collect(),
        events: events.iter().map(payload).collect(),
    }))
}

/// One entity's composed state; an entity nothing is known about shows the defaults.
#[utoipa::path(get, path = "/api/v1/entities/{entity}", tag = "look-ups",
    params(("entity" = String, Path, description = "user@host (a sip: prefix is ignored)")),
    responses((status = 200, body = Entity)))]
pub(crate) async fn get_entity(
    State(state): State<AppState>,
    Path(entity): Path<String>,
) -> Result<Json<Entity>, ApiError> {
    let view = state
        .handle
        .query(move |engine, _| {
            let key = engine.config().entity_key(&entity);
            engine.entity_view(&key)
        })
        .await?;
    Ok(Json(view.into()))
}

/// Which of `entities` can take a call now (the availability queue routing asks for).
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct AvailabilityQuery {
    /// Comma-separated `user@host` entities.
    #[param(required = true)]
    entities: Option<String>,
}

/// How many of a list of entities can take a call, and which; and which of the list nothing
/// is known about (counted as available only with `http.unknown_is_available`).
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Availability {
    available: usize,
    entities: Vec<String>,
    unknown: Vec<String>,
}

/// Counts the entities of a list that can take a call now.
#[utoipa::path(get, path = "/api/v1/availability", tag = "look-ups", params(AvailabilityQuery),
    responses((status = 200, body = Availability), (status = 400, body = Problem, content_type = "application/problem+json")))]
pub(crate) async fn availability(
    State(state): State<AppState>,
    q: Result<Query<AvailabilityQuery>, QueryRejection>,
) -> Result<Json<Availability>, ApiError> {
    let Query(q) = q?;
    let Some(entities) = q.entities else {
        return Err(
            ApiError::bad_request("entities is required: the comma-separated user@host to count").for_field("entities")
        );
    };
    let wanted: Vec<String> = entities.split(',').map(str::trim).filter(|e| !e.is_empty()).map(str::to_owned).collect();
    let unknown_is_available = state.unknown_is_available;
    let (entities, unknown) = state
        .handle
        .query(move |engine, _| {
            let views: Vec<_> = wanted.iter().map(|e| engine.entity_view(&engine.config().entity_key(e))).collect();
            let unknown: Vec<String> = views.iter().filter(|v| !v.known).map(|v| v.entity.clone()).collect();
            let available = views
                .into_iter()
                .filter(|v| v.available && (v.known || unknown_is_available))
                .map(|v| v.entity)
                .collect::<Vec<_>>();
            (available, unknown)
        })
        .await?;
    Ok(Json(Availability { available: entities.len(), entities, unknown }))
}

/// A subscription served.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Subscription {
    id: u64,
    entity: String,
    subscriber: String,
    event: &'static str,
    contenttype: &'static str,
    callid: String,
    expires: u64,
    /// `active` or `terminating`.
    state: &'static str,
    peer: Address,
    /// The device profile chosen from the subscriber's User-Agent; `null` when none matched.
    profile: Option<String>,
}

impl From<SubscriptionView> for Subscription {
    fn from(v: SubscriptionView) -> Self {
        Subscription {
            id: v.id,
            entity: v.entity,
            subscriber: v.subscriber,
            event: v.event,
            contenttype: v.content_type,
            callid: v.call_id,
            expires: v.expires_in,
            state: v.state,
            peer: v.peer.into(),
            profile: v.profile,
        }
    }
}

/// The engine mints ids below 2^53, so that JavaScript clients read them exactly.
const MAX_ID: u64 = (1 << 53) - 1;

/// Paging of `GET /api/v1/subscriptions`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct SubscriptionQuery {
    /// Only subscriptions with an id above this (the last id of the previous page).
    #[param(maximum = 9007199254740991.0)]
    after: Option<u64>,
    /// At most this many (default 1000).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<usize>,
}

/// Lists the subscriptions served, in id order, a page at a time; `X-Total-Count` says how
/// many there are in all.
#[utoipa::path(get, path = "/api/v1/subscriptions", tag = "look-ups", params(SubscriptionQuery),
    responses(
        (status = 200, body = Vec<Subscription>, headers(("x-total-count" = usize, description = "How many subscriptions there are"))),
        (status = 400, body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn list_subscriptions(
    State(state): State<AppState>,
    q: Result<Query<SubscriptionQuery>, QueryRejection>,
) -> Result<([(&'static str, String); 1], Json<Vec<Subscription>>), ApiError> {
    let Query(q) = q?;
    if q.after.is_some_and(|after| after > MAX_ID) {
        return Err(ApiError::new(StatusCode::BAD_REQUEST, "Invalid query", "after must be at most 2^53 - 1"));
    }
    let limit = q.limit.unwrap_or(1000);
    if limit == 0 || limit > 1000 {
        return Err(ApiError::new(StatusCode::BAD_REQUEST, "Invalid query", "limit must be between 1 and 1000"));
    }
    let (total, views) = state.handle.query(move |engine, now| engine.subscription_page(q.after, limit, now)).await?;
    Ok(([("x-total-count", total.to_string())], Json(views.into_iter().map(Subscription::from).collect())))
}

/// Ends a subscription with `Subscription-State: terminated;reason=deactivated`.
#[utoipa::path(delete, path = "/api/v1/subscriptions/{id}", tag = "look-ups",
    params(("id" = u64, Path, description = "The subscription's id")),
    responses(
        (status = 204, description = "Ending"),
        (status = 400, description = "Not a subscription id", body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn delete_subscription(
    State(state): State<AppState>,
    id: Result<Path<u64>, PathRejection>,
) -> Result<StatusCode, ApiError> {
    let Path(id) = id?;
    let ended = state.handle.query(move |engine, now| engine.deactivate_subscription(id, now)).await?;
    if ended { Ok(StatusCode::NO_CONTENT) } else { Err(ApiError::not_found(format!("no active subscription {id}"))) }
}

/// A registered contact.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Registration {
    entity: String,
    contact: String,
    expires: u64,
    useragent: Option<String>,
    source: Address,
}

/// Lists the registered contacts.
#[utoipa::path(get, path = "/api/v1/registrations", tag = "look-ups", responses((status = 200, body = Vec<Registration>)))]
pub(crate) async fn list_registrations(State(state): State<AppState>) -> Result<Json<Vec<Registration>>, ApiError> {
    let views: Vec<RegistrationView> = state.handle.query(|engine, now| engine.registration_views(now)).await?;
    Ok(Json(views.into_iter().map(Registration::from).collect()))
}

impl From<RegistrationView> for Registration {
    fn from(v: RegistrationView) -> Self {
        Registration {
            entity: v.entity,
            contact: v.contact,
            expires: v.expires_in,
            useragent: v.user_agent,
            source: v.source.into(),
        }
    }
}

/// A live publication.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Publication {
    entity: String,
    event: &'static str,
    etag: String,
    expires: u64,
    /// Who published: the From address and the Contact (or source address).
    device: String,
    /// The address it was published from (`null` for one restored after a restart).
    source: Option<String>,
}

impl From<PublicationView> for Publication {
    fn from(v: PublicationView) -> Self {
        Publication {
            entity: v.entity,
            event: v.event,
            etag: v.etag,
            expires: v.expires_in,
            device: v.device,
            source: v.source,
        }
    }
}

/// Lists the live publications.
#[utoipa::path(get, path = "/api/v1/publications", tag = "look-ups", responses((status = 200, body = Vec<Publication>)))]
pub(crate) async fn list_publications(State(state): State<AppState>) -> Result<Json<Vec<Publication>>, ApiError> {
    let views: Vec<PublicationView> = state.handle.query(|engine, now| engine.publication_views(now)).await?;
    Ok(Json(views.into_iter().map(Publication::from).collect()))
}
