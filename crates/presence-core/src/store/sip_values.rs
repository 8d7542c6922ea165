//! The stored form of the SIP values several components keep (a dialog, a peer), so the
//! notifier, the registrar and our subscriptions to phones store and restore them alike.

use std::collections::HashMap;
use std::net::SocketAddr;

use sip_proto::dialog::{Dialog, DialogId, without_tag};
use sip_proto::header::NameAddr;
use sip_proto::uri::Uri;

use super::{DialogRecord, PeerRecord};
use crate::peer::{FlowId, Peer, Transport};

/// Added to a restored dialog's CSeq (and a subscription's dialog-info version): requests
/// sent in the last moments before a crash, whose numbers did not reach the disk, are not
/// repeated.
pub(crate) const RESTART_MARGIN: u32 = 100;

pub(crate) fn dialog_record(d: &Dialog) -> DialogRecord {
    DialogRecord {
        call_id: d.id.call_id.clone(),
        local_tag: d.id.local_tag.clone(),
        remote_tag: d.id.remote_tag.clone(),
        local_uri: d.local_uri.clone(),
        remote_uri: d.remote_uri.clone(),
        remote_target: d.remote_target.to_string(),
        route_set: d.route_set.iter().map(ToString::to_string).collect(),
        local_seq: d.local_seq,
        remote_seq: d.remote_seq,
    }
}

/// The stored dialog, with our CSeq moved past the restart margin; `None` when its text no
/// longer parses.
pub(crate) fn restored_dialog(r: &DialogRecord) -> Option<Dialog> {
    Some(Dialog {
        id: DialogId { call_id: r.call_id.clone(), local_tag: r.local_tag.clone(), remote_tag: r.remote_tag.clone() },
        local_uri: without_tag(NameAddr::parse(&r.local_uri).ok()?),
        remote_uri: without_tag(NameAddr::parse(&r.remote_uri).ok()?),
        remote_target: Uri::parse(&r.remote_target).ok()?,
        route_set: r.route_set.iter().map(|route| NameAddr::parse(route)).collect::<Result<_, _>>().ok()?,
        local_seq: r.local_seq.saturating_add(RESTART_MARGIN),
        remote_seq: r.remote_seq,
    })
}

pub(crate) fn peer_record(p: Peer) -> PeerRecord {
    PeerRecord {
        transport: p.transport.to_string(),
        addr: p.addr.to_string(),
        local: p.local.to_string(),
        flow: p.flow.map(|f| f.0),
    }
}

/// The peer in this run: UDP through the socket with the same local address; a stream
/// transport without a flow (its connection is gone).
pub(crate) fn peer(r: &PeerRecord, udp_flows: &HashMap<SocketAddr, FlowId>) -> Option<Peer> {
    let (addr, local) = (r.addr.parse().ok()?, r.local.parse().ok()?);
    Some(match Transport::from_name(&r.transport)? {
        Transport::Udp => Peer { transport: Transport::Udp, addr, local, flow: Some(*udp_flows.get(&local)?) },
        stream => Peer { transport: stream, addr, local, flow: None },
    })
}
