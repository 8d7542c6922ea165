//! The suite every backend must pass (SQLite and in-memory now, PostgreSQL later): create,
//! refresh, expire, remove, reload, the conditional entity-tag update, CSeq monotonicity and
//! atomic batches. A backend's tests call [`run`] with a way to make fresh storage.
//!
//! Panics (with the failing check) rather than returning errors: it is test code.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::{
    BindingRecord, Change, DialogRecord, EntityRecord, PeerRecord, PublicationRecord, Store, SubscriptionRecord,
    WatchRecord,
};

/// Fresh, empty storage; [`Backend::open`] opens it again (a "restart") each time it is called.
pub trait Backend {
    /// Opens the storage.
    fn open(&self) -> Box<dyn Store>;
}

/// Runs every check, each on fresh storage made by `fresh`.
pub fn run<B: Backend>(fresh: impl Fn() -> B) {
    create_refresh_remove_and_reload(&fresh());
    expiry_times_survive_as_written(&fresh());
    conditional_etag_update(&fresh());
    cseq_and_version_never_go_down(&fresh());
    a_failed_batch_changes_nothing(&fresh());
    watches_are_kept_with_a_cseq_that_never_goes_down(&fresh());
}

fn peer() -> PeerRecord {
    PeerRecord {
        transport: "udp".into(),
        addr: "192.0.2.10:5062".into(),
        local: "198.51.100.1:5060".into(),
        flow: Some(1),
    }
}

/// A subscription record for tests.
pub fn subscription(id: u64, local_seq: u32, version: u32) -> SubscriptionRecord {
    SubscriptionRecord {
        id,
        entity: "1001@pbx.example.com".into(),
        package: "dialog".into(),
        content_type: "application/dialog-info+xml".into(),
        event_id: None,
        subscriber: "1002@pbx.example.com".into(),
        dialog: DialogRecord {
            call_id: format!("call-{id}"),
            local_tag: "ours".into(),
            remote_tag: "theirs".into(),
            local_uri: "<sip:1001@pbx.example.com>".into(),
            remote_uri: "<sip:1002@pbx.example.com>".into(),
            remote_target: "sip:1002@192.0.2.10:5062".into(),
            route_set: vec!["<sip:proxy.example.com;lr>".into()],
            local_seq,
            remote_seq: Some(1),
        },
        expires_at_ms: 1_800_000_000_000,
        version,
        peer: peer(),
        our_host: "198.51.100.1".into(),
        profile: Some("bria".into()),
        authenticated: true,
    }
}

fn watch(id: u64, local_seq: u32) -> WatchRecord {
    WatchRecord {
        id,
        aor: "1001@pbx.example.com".into(),
        contact: "<sip:1001@192.0.2.10:5062>".into(),
        package: "presence".into(),
        peer: peer(),
        our_host: "198.51.100.1".into(),
        dialog: DialogRecord {
            call_id: format!("watch-{id}"),
            local_tag: "ours".into(),
            remote_tag: "phone".into(),
            local_uri: "<sip:presence@198.51.100.1>".into(),
            remote_uri: "<sip:1001@pbx.example.com>".into(),
            remote_target: "sip:1001@192.0.2.10:5062".into(),
            route_set: Vec::new(),
            local_seq,
            remote_seq: Some(3),
        },
        refresh_at_ms: 1_800_000_000_000,
        status: Some(("open".into(), Some("DND".into()), true, false)),
    }
}

fn binding(contact: &str) -> BindingRecord {
    BindingRecord {
        aor: "1001@pbx.example.com".into(),
        contact: contact.into(),
        call_id: "reg".into(),
        cseq: 1,
        expires_at_ms: 1_800_000_000_000,
        granted: 3600,
        source: peer(),
        user_agent: Some("phone".into()),
        allow: vec!["SUBSCRIBE".into()],
        path: vec!["<sip:edge.example.com;lr;ob>".into()],
    }
}

fn publication(id: u64, etag: &str) -> PublicationRecord {
    PublicationRecord {
        id,
        entity: "1001@pbx.example.com".into(),
        package: "presence".into(),
        etag: etag.into(),
        expires_at_ms: 1_800_000_000_000,
        device: "phone".into(),
        dialog_version: None,
        content_type: "application/pidf+xml".into(),
        body: "<presence/>".into(),
    }
}

fn create_refresh_remove_and_reload(backend: &impl Backend) {
    let mut store = backend.open();
    let entity = EntityRecord {
        entity: "1001@pbx.example.com".into(),
        voicemail: Some([1, 2, 0, 0]),
        ..EntityRecord::default()
    };
    store
        .apply(&[
            Change::PutSubscription(subscription(1, 1, 0)),
            Change::PutSubscription(subscription(2, 5, 3)),
            Change::PutBinding(binding("sip:1001@192.0.2.10")),
            Change::PutBinding(binding("sip:1001@192.0.2.11")),
            Change::PutPublication { record: publication(7, "e1"), if_etag: None },
            Change::PutEntity(entity.clone()),
        ])
        .unwrap();
    let mut refreshed = subscription(1, 2, 1);
    refreshed.expires_at_ms += 60_000;
    store
        .apply(&[
            Change::PutSubscription(refreshed.clone()),
            Change::DeleteSubscription(2),
            Change::DeleteBinding { aor: "1001@pbx.example.com".into(), contact: "sip:1001@192.0.2.11".into() },
        ])
        .unwrap();
    drop(store);

    let loaded = backend.open().load().unwrap();
    assert_eq!(loaded.subscriptions, vec![refreshed], "refresh replaced, removal removed");
    assert_eq!(loaded.bindings, vec![binding("sip:1001@192.0.2.10")]);
    assert_eq!(loaded.publications, vec![publication(7, "e1")]);
    assert_eq!(loaded.entities, vec![entity]);

    let mut store = backend.open();
    store.apply(&[Change::DeletePublication(7), Change::DeleteEntity("1001@pbx.example.com".into())]).unwrap();
    let loaded = store.load().unwrap();
    assert!(loaded.publications.is_empty() && loaded.entities.is_empty());
}

fn expiry_times_survive_as_written(backend: &impl Backend) {
    // The store keeps what expired while the server was down; the engine decides what to
    // do with it (end it with reason=timeout), so nothing is silently dropped here.
    let mut expired = subscription(3, 9, 4);
    expired.expires_at_ms = 1;
    backend.open().apply(&[Change::PutSubscription(expired.clone())]).unwrap();
    assert_eq!(backend.open().load().unwrap().subscriptions, vec![expired]);
}

fn conditional_etag_update(backend: &impl Backend) {
    let mut store = backend.open();
    store.apply(&[Change::PutPublication { record: publication(1, "a"), if_etag: None }]).unwrap();
    store.apply(&[Change::PutPublication { record: publication(1, "b"), if_etag: Some("a".into()) }]).unwrap();
    let stale = store.apply(&[Change::PutPublication { record: publication(1, "c"), if_etag: Some("a".into()) }]);
    assert!(matches!(stale, Err(crate::StoreError::Conflict { id: 1, .. })), "{stale:?}");
    assert_eq!(backend.open().load().unwrap().publications, vec![publication(1, "b")]);
}

fn cseq_and_version_never_go_down(backend: &impl Backend) {
    let mut store = backend.open();
    store.apply(&[Change::PutSubscription(subscription(4, 10, 6))]).unwrap();
    store.apply(&[Change::PutSubscription(subscription(4, 7, 2))]).unwrap();
    let loaded = backend.open().load().unwrap();
    assert_eq!((loaded.subscriptions[0].dialog.local_seq, loaded.subscriptions[0].version), (10, 6));
}

fn a_failed_batch_changes_nothing(backend: &impl Backend) {
    let mut store = backend.open();
    store.apply(&[Change::PutPublication { record: publication(1, "a"), if_etag: None }]).unwrap();
    let batch = [
        Change::PutSubscription(subscription(5, 1, 0)),
        Change::PutPublication { record: publication(1, "x"), if_etag: Some("not-a".into()) },
    ];
    assert!(store.apply(&batch).is_err());
    let loaded = backend.open().load().unwrap();
    assert!(loaded.subscriptions.is_empty(), "the whole batch rolled back");
    assert_eq!(loaded.publications, vec![publication(1, "a")]);
}

fn watches_are_kept_with_a_cseq_that_never_goes_down(backend: &impl Backend) {
    let mut store = backend.open();
    store.apply(&[Change::PutWatch(watch(1, 4)), Change::PutWatch(watch(2, 1))]).unwrap();
    let mut refreshed = watch(1, 5);
    refreshed.status = None;
    store.apply(&[Change::PutWatch(refreshed.clone()), Change::DeleteWatch(2)]).unwrap();
    assert_eq!(backend.open().load().unwrap().watches, vec![refreshed.clone()]);
    store.apply(&[Change::PutWatch(watch(1, 2))]).unwrap();
    assert_eq!(backend.open().load().unwrap().watches[0].dialog.local_seq, 5, "a late write cannot lower the CSeq");
}
