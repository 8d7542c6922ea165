//! Lamps for things that are not phones (docs/lamps.md) on a virtual clock: a park slot's
//! lamp set through the API is seen by a BLF key dialling `701` (a user alias) ringing, busy,
//! held (no media) and out, with what directed pickup needs; presence watchers see the same;
//! a lamp goes out at its expiry, keeps its dialog while lit, and survives a restart.

use std::collections::HashMap;

use presence_core::aliases::UserAlias;
use presence_core::api::Command;
use presence_core::bodies::{dialog_info, pidf};
use presence_core::call::{CallState, Direction, Party};
use presence_core::lamp::{Lamp, LampState};
use presence_core::{Engine, EngineConfig, FlowId};
use presence_store::{MemoryStore, Store};
use sip_proto::{HeaderName, Request};

use crate::support::*;

const SLOT: &str = "park+701@pbx.example.com";

fn config() -> EngineConfig {
    EngineConfig {
        seed: 11,
        user_aliases: vec![UserAlias::parse("70*", "park+70*").unwrap()],
        ..EngineConfig::default()
    }
}

fn lamp(state: LampState) -> Lamp {
    Lamp { state, caller: None, call_id: None, local_tag: None, remote_tag: None, expires: None }
}

fn set(h: &mut Harness, lamp: Lamp, secs: f64) -> Vec<Request> {
    h.engine.handle_command(Command::Lamp { entity: SLOT.into(), lamp }, h.at(secs));
    let notifies = split(&h.drain()).1;
    for n in &notifies {
        h.send(&answer(n, 200), udp_peer(), secs);
    }
    notifies
}

fn of_event<'a>(notifies: &'a [Request], event: &str) -> &'a Request {
    notifies.iter().find(|n| header(n, HeaderName::Event) == event).unwrap_or_else(|| panic!("no {event} NOTIFY"))
}

#[test]
fn a_park_slot_lamp_rings_lights_blinks_and_goes_out_on_a_key_dialling_701() {
    let mut h = Harness::with_config(config());
    let mut blf = Watch::new("blf", "dialog", "701@pbx.example.com");
    let (_, first) = established(&mut h, &mut blf, None, 0.0);
    assert_eq!(dialog_info::parse(&first.body).unwrap().entity, format!("sip:{SLOT}"), "701 is the slot");
    let mut presence = Watch::new("pres", "presence", "701@pbx.example.com");
    established(&mut h, &mut presence, None, 0.0);

    let caller = Party { display: Some("Bob".into()), uri: "sip:2000@pbx.example.com".into() };
    let ringing = Lamp { caller: Some(caller), ..lamp(LampState::Ringing) };
    let sent = set(&mut h, ringing, 1.0);
    let doc = dialog_info::parse(&of_event(&sent, "dialog").body).unwrap();
    let call = &doc.calls[0];
    assert_eq!((call.state, call.direction), (CallState::Early, Some(Direction::Recipient)), "a fast blink");
    assert_eq!(call.remote.as_ref().unwrap().display.as_deref(), Some("Bob"), "the key shows the caller");
    let dialog = call.call_id.clone();

    // Parked: held, the call's own Call-ID and tags for the key's directed pickup.
    let parked = Lamp {
        call_id: Some("parked-call@pbx".into()),
        local_tag: Some("slot".into()),
        remote_tag: Some("bob".into()),
        ..lamp(LampState::Held)
    };
    let sent = set(&mut h, parked, 2.0);
    let doc = dialog_info::parse(&of_event(&sent, "dialog").body).unwrap();
    let held = doc.calls.iter().find(|c| c.state == CallState::Confirmed).unwrap();
    assert_eq!(held.rendering, Some(false), "held: no media, which keys show as a slow blink");
    assert_eq!(
        (held.call_id.as_str(), held.local_tag.as_deref(), held.remote_tag.as_deref()),
        ("parked-call@pbx", Some("slot"), Some("bob"))
    );
    assert!(doc.calls.iter().any(|c| c.call_id == dialog && c.state == CallState::Terminated), "the ringing one ended");
    let shown = pidf::parse(&of_event(&sent, "presence").body).unwrap();
    assert!(shown.on_the_phone, "presence watchers see the slot in use");

    let sent = set(&mut h, lamp(LampState::Busy), 3.0);
    let doc = dialog_info::parse(&of_event(&sent, "dialog").body).unwrap();
    assert_eq!(doc.calls.len(), 1);
    assert_eq!(
        (doc.calls[0].call_id.as_str(), doc.calls[0].rendering),
        ("parked-call@pbx", Some(true)),
        "the same dialog, steady"
    );

    let sent = set(&mut h, lamp(LampState::Idle), 4.0);
    let doc = dialog_info::parse(&of_event(&sent, "dialog").body).unwrap();
    assert_eq!(doc.calls.iter().map(|c| c.state).collect::<Vec<_>>(), [CallState::Terminated], "shown ended once");
    assert!(!pidf::parse(&of_event(&sent, "presence").body).unwrap().on_the_phone);

    // Lit again at once: a Call-ID of its own, not hidden by the one that just ended.
    let sent = set(&mut h, lamp(LampState::Ringing), 5.0);
    let doc = dialog_info::parse(&of_event(&sent, "dialog").body).unwrap();
    let live: Vec<_> = doc.calls.iter().filter(|c| c.state != CallState::Terminated).collect();
    assert_eq!(live.len(), 1);
    assert_ne!(live[0].call_id, dialog);

    // The same call parked again under its own Call-ID, just after the slot went out.
    set(&mut h, lamp(LampState::Idle), 6.0);
    let again = Lamp { call_id: Some("parked-call@pbx".into()), ..lamp(LampState::Held) };
    let sent = set(&mut h, again, 7.0);
    let doc = dialog_info::parse(&of_event(&sent, "dialog").body).unwrap();
    assert!(doc.calls.iter().any(|c| c.call_id == "parked-call@pbx" && c.state == CallState::Confirmed), "lit again");
}

#[test]
fn a_lamp_with_an_expiry_goes_out_by_itself() {
    let mut h = Harness::with_config(config());
    let mut blf = Watch::new("blf", "dialog", SLOT);
    established(&mut h, &mut blf, None, 0.0);
    set(&mut h, Lamp { expires: Some(30), ..lamp(LampState::Busy) }, 1.0);
    h.engine.handle_timeout(h.at(30.9));
    assert!(split(&h.drain()).1.is_empty(), "still lit before its time");
    h.engine.handle_timeout(h.at(31.0));
    let notifies = split(&h.drain()).1;
    let doc = dialog_info::parse(&notifies[0].body).unwrap();
    assert_eq!(doc.calls.iter().map(|c| c.state).collect::<Vec<_>>(), [CallState::Terminated]);
    // Without an expiry it stays lit past any call lifetime.
    set(&mut h, lamp(LampState::Ringing), 40.0);
    h.engine.handle_timeout(h.at(40.0 + 4.0 * 3600.0));
    let view = h.engine.entity_view(&h.engine.config().entity_key(SLOT));
    assert_eq!(view.calls.len(), 1, "a lamp is not a call that was never answered");
}

#[test]
fn a_lit_lamp_survives_a_restart_with_the_rest_of_its_time() {
    const T0_MS: u64 = 1_800_000_000_000;
    let mut h = Harness::with_config(config());
    h.engine.enable_persistence(h.t0, T0_MS);
    h.engine.handle_command(
        Command::Lamp { entity: SLOT.into(), lamp: Lamp { expires: Some(100), ..lamp(LampState::Held) } },
        h.at(0.0),
    );
    h.engine.handle_command(
        Command::Lamp {
            entity: "park+702@pbx.example.com".into(),
            lamp: Lamp { expires: Some(5), ..lamp(LampState::Busy) },
        },
        h.at(0.0),
    );
    let mut store = MemoryStore::new();
    store.apply(&h.engine.take_changes()).unwrap();

    let mut after = Harness { engine: Engine::new(config()), t0: h.t0 };
    after.engine.enable_persistence(after.t0, T0_MS);
    let flows = HashMap::from([(LOCAL.parse().unwrap(), FlowId(1))]);
    after.engine.restore(store.load().unwrap(), &flows, after.at(10.0));
    let key = after.engine.config().entity_key(SLOT);
    let view = after.engine.entity_view(&key);
    assert_eq!(view.calls.len(), 1, "the held slot is lit again");
    assert_eq!(view.calls[0].rendering, Some(false));
    assert!(
        after.engine.entity_view(&after.engine.config().entity_key("702@pbx.example.com")).calls.is_empty(),
        "702's lamp went out while the server was down"
    );
    after.engine.handle_timeout(after.at(100.0));
    assert!(after.engine.entity_view(&key).calls.is_empty(), "at its own expiry, not a fresh one");
}
