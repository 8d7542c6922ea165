//! Hostile traffic against the running server with SIPp over UDP and TCP: a user with valid
//! credentials tries to act as another (register its address, read its message counts,
//! publish its presence), and every attempt is refused with 403 and leaves no state.

use babble_presence::Transport;

use crate::interop::{run_sipp, sipp, sipp_flag};
use crate::matrix::{self, Client};
use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sipp_valid_credentials_do_not_let_one_user_act_as_another() {
    let Some(sipp) = sipp() else { return };
    let feature = "hostile: user 1001's valid credentials cannot register, subscribe or publish as 1002 (403)";
    for transport in [Transport::Udp, Transport::Tcp] {
        let server = start_in_process(|c| {
            (c.auth.register, c.auth.subscribe, c.auth.publish) = (true, true, true);
            c.auth.users = vec![user_1001()];
        })
        .await;
        let target = server.local_addr(transport).unwrap();
        let s = sipp.clone();
        tokio::task::spawn_blocking(move || {
            run_sipp(&s, target, "impersonate_register.xml", sipp_flag(transport), &[]);
            // SIPp computes credentials for `sip:host:port` unless told the Request-URI.
            let auth_uri = format!("1002@{target}");
            let extra = ["-auth_uri", auth_uri.as_str()];
            run_sipp(&s, target, "impersonate_subscribe_publish.xml", sipp_flag(transport), &extra);
        })
        .await
        .unwrap();
        let (bindings, subscriptions, publications, refusals) = server
            .handle()
            .query(|engine, _| {
                let refusals = engine.stats().auth_refusals;
                (engine.binding_count(), engine.subscription_count(), engine.publication_count(), refusals)
            })
            .await
            .unwrap();
        assert_eq!((bindings, subscriptions, publications), (0, 0, 0), "no state for the impersonator");
        assert_eq!(refusals, 4, "each of the four attempts refused once");
        server.shutdown().await.unwrap();
        matrix::passed(Client::Sipp, transport, feature);
    }
}
