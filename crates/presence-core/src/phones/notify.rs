//! A NOTIFY from a phone we subscribe to (RFC 6665 §4.1.3): answered 200, or 400/415 naming
//! why its body cannot be used, or 481 when it belongs to no subscription of ours; what it
//! reports becomes an update of the phone's entity, and a presence report is raised as
//! `presence.status.in`.

use sip_proto::header::SubState;
use sip_proto::{HeaderName, Response};

use crate::api::{InEvent, SourceAddress, StatusReport};
use crate::bodies::{BodyError, Format, dialog_info, pidf, xpidf};
use crate::context::Ctx;
use crate::entities::{Source, Status, Update};
use crate::entity_key::EntityKey;
use crate::peer::Peer;
use crate::request::Incoming;

use super::Phones;

/// What a phone's NOTIFY body reports.
enum DeviceReport {
    Presence(Status),
    Dialogs(dialog_info::DialogInfo),
}

impl Phones {
    /// Answers a phone's NOTIFY; returns what it changes in the phone's entity.
    pub(crate) fn on_notify(
        &mut self,
        req: &Incoming,
        source: Peer,
        cx: &mut Ctx<'_>,
    ) -> (Response, Vec<(EntityKey, Update)>) {
        let no_such = || req.answer(481).with_reason("Subscription Does Not Exist");
        let Some(dialog_id) = &req.dialog else { return (no_such(), Vec::new()) };
        let Some(id) = self.watches.by_dialog(&dialog_id.call_id, &dialog_id.local_tag) else {
            return (no_such(), Vec::new());
        };
        let Some(w) = self.watches.get_mut(id) else { return (no_such(), Vec::new()) };
        match w.dialog.as_mut() {
            // RFC 6665 §4.1.2.4: the NOTIFY may arrive before our SUBSCRIBE's 2xx and then
            // establishes the dialog (recording its CSeq).
            None => match req.uas_dialog(&w.local_tag, w.cseq) {
                Ok(dialog) => w.dialog = Some(dialog),
                Err(e) => return (req.answer(400).with_reason(format!("Bad NOTIFY: {e}")), Vec::new()),
            },
            Some(dialog) => {
                if dialog.accept_remote_cseq(req.cseq.seq).is_err() {
                    return (req.answer(500).with_reason("CSeq Out of Order"), Vec::new());
                }
            }
        }
        let terminated = req.subscription_state.as_ref().is_some_and(|s| s.state == SubState::Terminated);
        if w.ending {
            // The final NOTIFY after our unsubscribe: answered, not applied.
            if terminated {
                self.stop(id, false, cx);
            }
            return (req.answer(200), Vec::new());
        }
        let report = if req.request.body.is_empty() { None } else { Some(read_body(req)) };
        let entity = w.entity.clone();
        let mut updates = Vec::new();
        match report {
            Some(Err(refusal)) => return (refusal, Vec::new()),
            None => {}
            Some(Ok(DeviceReport::Dialogs(doc))) => updates.push((entity, Update::DialogInfo(Source::Device(id), doc))),
            Some(Ok(DeviceReport::Presence(status))) => {
                cx.fx.raise(InEvent::StatusIn(StatusReport {
                    entity: entity.to_string(),
                    status: status.basic,
                    note: status.note.clone(),
                    dnd: status.dnd,
                    on_the_phone: status.on_the_phone,
                    source: SourceAddress::of(source),
                }));
                w.reported = Some(status.clone());
                updates.push((entity, Update::Status(Source::Device(id), Some(status))));
                self.store(id, cx.fx);
            }
        }
        if terminated {
            updates.extend(self.stop(id, false, cx));
        }
        (req.answer(200), updates)
    }
}

/// Reads a phone's NOTIFY body, or the 415/400 refusal naming why not.
fn read_body(req: &Incoming) -> Result<DeviceReport, Response> {
    let body = &req.request.body;
    let unreadable = |e: BodyError| req.answer(400).with_reason(format!("Bad NOTIFY Body: {e}"));
    let presence = match req.content_essence() {
        t if t == Format::Pidf.content_type() => pidf::parse(body),
        t if t == Format::Xpidf.content_type() => xpidf::parse(body),
        t if t == Format::DialogInfo.content_type() => {
            return dialog_info::parse(body).map(DeviceReport::Dialogs).map_err(unreadable);
        }
        _ => {
            let mut refusal = req.answer(415);
            let accepted = [Format::Pidf, Format::Xpidf, Format::DialogInfo].map(Format::content_type);
            refusal.headers.push(HeaderName::Accept, accepted.join(", "));
            return Err(refusal);
        }
    };
    let r = presence.map_err(unreadable)?;
    Ok(DeviceReport::Presence(r.into()))
}
