//! Resource lists (RFC 4662) on a virtual clock: a phone subscribes once to a list and is sent
//! every member's lamp, full state first and then only the members that changed; a list is
//! refused with 421 to a subscriber without eventlist; an empty list is a subscription to
//! nothing, never a 404; one NOTIFY in flight, changes merged, versions increasing.

use presence_core::EngineConfig;
use presence_core::api::{CallsUpdate, Command};
use presence_core::bodies::dialog_info;
use presence_core::call::{Call, CallState};
use presence_core::lists::ListConfig;
use sip_proto::{HeaderName, Request};

use crate::support::*;

const LIST: &str = "blf-sales@pbx.example.com";
const MEMBERS: [&str; 3] = ["1001@pbx.example.com", "1002@pbx.example.com", "1003@pbx.example.com"];

fn config(members: &[&str]) -> EngineConfig {
    batching(members, 0)
}

fn batching(members: &[&str], batch_interval_ms: u32) -> EngineConfig {
    let list = ListConfig {
        uri: format!("sip:{LIST}"),
        name: Some("Sales".into()),
        members: members.iter().map(|m| format!("sip:{m}")).collect(),
        events: vec!["dialog".into()],
        batch_interval_ms,
    };
    EngineConfig { seed: 21, lists: vec![list], ..EngineConfig::default() }
}

/// A NOTIFY's list document and its parts: (fullState, version, resources as (uri, cid)),
/// and the parts as (cid, content type, text), the list document's own left out.
struct ListNotify {
    full: bool,
    version: u32,
    resources: Vec<(String, Option<String>)>,
    parts: Vec<(String, String, String)>,
}

fn read(n: &Request) -> ListNotify {
    assert_eq!(header(n, HeaderName::Require), "eventlist");
    let content_type = header(n, HeaderName::ContentType);
    assert!(content_type.starts_with(r#"multipart/related;type="application/rlmi+xml";start="<"#), "{content_type}");
    let start = content_type.split("start=\"<").nth(1).unwrap().split(">\"").next().unwrap().to_owned();
    let boundary = content_type.split("boundary=\"").nth(1).unwrap().trim_end_matches('"').to_owned();
    let text = body(n);
    assert!(text.ends_with(&format!("--{boundary}--\r\n")));
    let mut parts: Vec<(String, String, String)> = text
        .split(&format!("--{boundary}\r\n"))
        .skip(1)
        .map(|p| {
            let p = p.split(&format!("\r\n--{boundary}--")).next().unwrap();
            let (head, body) = p.split_once("\r\n\r\n").unwrap();
            let field = |name: &str| {
                head.lines()
                    .find_map(|l| l.strip_prefix(name))
                    .unwrap_or_else(|| panic!("{name} in {head}"))
                    .trim()
                    .to_owned()
            };
            let cid = field("Content-ID:").trim_matches(['<', '>']).to_owned();
            (cid, field("Content-Type:"), body.trim_end_matches("\r\n").to_owned())
        })
        .collect();
    let (root_cid, root_type, rlmi) = parts.remove(0);
    assert_eq!(
        (root_cid, root_type.as_str()),
        (start, r#"application/rlmi+xml;charset="UTF-8""#),
        "the root comes first"
    );
    let doc = roxmltree::Document::parse(&rlmi).unwrap();
    let list = doc.root_element();
    assert_eq!((list.tag_name().namespace(), list.tag_name().name()), (Some("urn:ietf:params:xml:ns:rlmi"), "list"));
    assert_eq!(list.attribute("uri"), Some(format!("sip:{LIST}").as_str()));
    let resources = list
        .children()
        .filter(|c| c.tag_name().name() == "resource")
        .map(|r| {
            let instance = r.children().find(|c| c.tag_name().name() == "instance").unwrap();
            assert_eq!(instance.attribute("state"), Some("active"));
            (r.attribute("uri").unwrap().to_owned(), instance.attribute("cid").map(str::to_owned))
        })
        .collect();
    ListNotify {
        full: list.attribute("fullState") == Some("true"),
        version: list.attribute("version").unwrap().parse().unwrap(),
        resources,
        parts,
    }
}

fn subscribe_list(h: &mut Harness, call_id: &str) -> (Watch, ListNotify) {
    let mut watch = Watch::new(call_id, "dialog", LIST)
        .accept("multipart/related, application/rlmi+xml, application/dialog-info+xml")
        .header("Supported: eventlist");
    let (ok, first) = established(h, &mut watch, None, 0.0);
    assert_eq!(ok.headers.get(&HeaderName::Require), Some("eventlist"));
    (watch, read(&first))
}

fn call(entity: &str, id: &str, state: CallState) -> Command {
    Command::Dialog {
        entity: entity.into(),
        display: None,
        call_count: None,
        calls: CallsUpdate::Partial(Call::new(id, state)),
        call_id: None,
    }
}

fn notifies_after(h: &mut Harness, command: Command, secs: f64) -> Vec<Request> {
    h.engine.handle_command(command, h.at(secs));
    split(&h.drain()).1
}

#[test]
fn one_subscription_shows_every_member_then_only_what_changed() {
    let mut h = Harness::with_config(config(&MEMBERS));
    let (mut watch, first) = subscribe_list(&mut h, "list1");
    assert!(first.full, "the first NOTIFY is full state");
    assert_eq!(first.version, 0);
    let uris: Vec<&str> = first.resources.iter().map(|(u, _)| u.as_str()).collect();
    assert_eq!(
        uris,
        MEMBERS.map(|m| format!("sip:{m}")).iter().map(String::as_str).collect::<Vec<_>>(),
        "in the list's order"
    );
    assert_eq!(first.parts.len(), 3, "a part per member");
    for ((_, cid), (part_cid, content_type, text)) in first.resources.iter().zip(&first.parts) {
        assert_eq!(cid.as_deref(), Some(part_cid.as_str()), "each resource names its part");
        assert_eq!(content_type, r#"application/dialog-info+xml;charset="UTF-8""#);
        assert!(dialog_info::parse(text.as_bytes()).unwrap().calls.is_empty(), "all idle");
    }

    // 1002 rings: one part, for 1002 only.
    let sent = notifies_after(&mut h, call(MEMBERS[1], "c1", CallState::Early), 1.0);
    assert_eq!(sent.len(), 1, "one NOTIFY for the list, however many members it has");
    let partial = read(&sent[0]);
    assert!(!partial.full);
    assert_eq!(partial.version, 1);
    assert_eq!(partial.resources.len(), 1);
    assert_eq!(partial.resources[0].0, format!("sip:{}", MEMBERS[1]));
    let lamp = dialog_info::parse(partial.parts[0].2.as_bytes()).unwrap();
    assert_eq!(lamp.calls[0].state, CallState::Early);
    let mut cids: Vec<&String> = first.parts.iter().chain(&partial.parts).map(|(c, _, _)| c).collect();
    cids.dedup();
    assert_eq!(cids.len(), 4, "a Content-ID is never reused");

    // While that NOTIFY is unanswered, 1001 and 1003 change: merged into one more NOTIFY.
    assert!(notifies_after(&mut h, call(MEMBERS[0], "c2", CallState::Confirmed), 1.1).is_empty());
    assert!(notifies_after(&mut h, call(MEMBERS[2], "c3", CallState::Early), 1.2).is_empty());
    let next = split(&h.send(&answer(&sent[0], 200), udp_peer(), 1.3)).1;
    assert_eq!(next.len(), 1);
    let merged = read(&next[0]);
    assert_eq!((merged.full, merged.version), (false, 2));
    let changed: Vec<&str> = merged.resources.iter().map(|(u, _)| u.as_str()).collect();
    assert_eq!(changed, [format!("sip:{}", MEMBERS[0]), format!("sip:{}", MEMBERS[2])]);
    let cseq = |n: &Request| header(n, HeaderName::CSeq).split(' ').next().unwrap().parse::<u32>().unwrap();
    assert!(cseq(&next[0]) > cseq(&sent[0]), "CSeq increases");
    h.send(&answer(&next[0], 200), udp_peer(), 1.4);

    // A change that no part shows (voicemail) sends nothing; a refresh is full state again.
    let voicemail = Command::Voicemail {
        entity: MEMBERS[1].into(),
        counts: presence_core::bodies::mwi::MessageCounts { new: 1, ..Default::default() },
        reason: presence_core::api::VoicemailReason::Update,
    };
    assert!(notifies_after(&mut h, voicemail, 2.0).is_empty());
    let (responses, notifies) = split(&h.send(&watch.subscribe(None), udp_peer(), 3.0));
    assert_eq!(responses[0].status, 200);
    let refreshed = read(&notifies[0]);
    assert!(refreshed.full && refreshed.resources.len() == 3 && refreshed.version == 3);
}

#[test]
fn without_eventlist_a_list_is_refused_with_421_and_its_uri_stays_an_entity_for_other_packages() {
    let mut h = Harness::with_config(config(&MEMBERS));
    let mut plain = Watch::new("plain", "dialog", LIST);
    let refused = only_response(&h.send(&plain.subscribe(None), udp_peer(), 0.0));
    assert_eq!((refused.status, refused.headers.get(&HeaderName::Require)), (421, Some("eventlist")));
    // The list serves dialog only: a presence watcher of its URI is an ordinary one.
    let mut presence = Watch::new("pres", "presence", LIST);
    let (ok, n) = established(&mut h, &mut presence, None, 0.0);
    assert_eq!(ok.status, 200);
    assert!(!header(&n, HeaderName::ContentType).starts_with("multipart"));
}

#[test]
fn an_empty_list_is_a_subscription_to_nothing() {
    let mut h = Harness::with_config(config(&[]));
    let (_, first) = subscribe_list(&mut h, "empty");
    assert!(first.full);
    assert!(first.resources.is_empty() && first.parts.is_empty());
}

#[test]
fn changes_to_several_members_within_the_batch_interval_go_in_one_notify() {
    let mut h = Harness::with_config(batching(&MEMBERS, 200));
    subscribe_list(&mut h, "batch");
    assert!(notifies_after(&mut h, call(MEMBERS[0], "b1", CallState::Early), 1.0).is_empty(), "waits for the others");
    assert!(notifies_after(&mut h, call(MEMBERS[2], "b2", CallState::Confirmed), 1.15).is_empty());
    assert_eq!(h.engine.poll_timeout(), Some(h.at(1.2)), "the batch ends 200 ms after its first change");
    h.engine.handle_timeout(h.at(1.2));
    let sent = split(&h.drain()).1;
    assert_eq!(sent.len(), 1, "one NOTIFY for the batch");
    let batch = read(&sent[0]);
    assert_eq!((batch.full, batch.version, batch.resources.len()), (false, 1, 2));
    h.send(&answer(&sent[0], 200), udp_peer(), 1.25);
    // A change after the batch went out starts the next one.
    assert!(notifies_after(&mut h, call(MEMBERS[1], "b3", CallState::Early), 2.0).is_empty());
    h.engine.handle_timeout(h.at(2.2));
    let next = read(&split(&h.drain()).1[0]);
    assert_eq!((next.version, next.resources.len()), (2, 1));
}
