//! Hostile traffic against the running server over real sockets: a user with valid
//! credentials tries to act as another with SIPp over UDP and TCP (register its address, read
//! its message counts, publish its presence), and every attempt is refused with 403 and leaves
//! no state; and one source floods OPTIONS and SUBSCRIBEs while a good client on another
//! address is answered every time.

use babble_presence::Transport;

use crate::interop::{run_sipp, sipp, sipp_flag};
use crate::matrix::{self, Client};
use crate::support::*;

#[cfg_attr(not(has_sipp), ignore = "needs SIPp: apt-get install sip-tester")]
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

/// A SUBSCRIBE from `local` to `entity`, in a new dialog `call_id`.
pub(crate) fn subscribe(local: std::net::SocketAddr, entity: &str, call_id: &str) -> String {
    format!(
        "SUBSCRIBE sip:{entity}@pbx.example.com SIP/2.0\r\n\
         Via: SIP/2.0/UDP {local};branch=z9hG4bK{call_id};rport\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:{call_id}@pbx.example.com>;tag=f{call_id}\r\n\
         To: <sip:{entity}@pbx.example.com>\r\n\
         Call-ID: {call_id}@flood\r\n\
         CSeq: 1 SUBSCRIBE\r\n\
         Contact: <sip:flood@{local}>\r\n\
         Event: dialog\r\n\
         Expires: 3600\r\n\
         Content-Length: 0\r\n\r\n"
    )
}

/// One source floods OPTIONS and SUBSCRIBEs (the lock-out the issue found: the transaction
/// table and the subscriptions filled from one address) while a good client on another
/// address keeps asking: every one of its requests is answered, and what the flood left
/// stays within the flooding source's shares.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_source_flooding_does_not_lock_out_another() {
    let server = start_in_process(|_| {}).await;
    let target = server.local_addr(Transport::Udp).unwrap();
    let flooding = tokio::task::spawn_blocking(move || {
        let flood = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let local = flood.local_addr().unwrap();
        for n in 0..20_000 {
            let request = if n % 2 == 0 {
                options(local, "UDP", &format!("flood{n}"))
            } else {
                subscribe(local, &format!("{}", 3000 + n % 500), &format!("flood{n}"))
            };
            let _ = flood.send_to(request.as_bytes(), target);
        }
    });
    let good = tokio::task::spawn_blocking(move || {
        let client = std::net::UdpSocket::bind("127.0.0.2:0").unwrap();
        client.set_read_timeout(Some(std::time::Duration::from_millis(500))).unwrap();
        let local = client.local_addr().unwrap();
        let mut answered = 0;
        for n in 0..20 {
            let request = options(local, "UDP", &format!("good{n}"));
            // Retransmitted as a phone would (Timer E), should the queue drop a datagram.
            let got = (0..4).any(|_| {
                client.send_to(request.as_bytes(), target).unwrap();
                recv_text(&client).is_some_and(|r| status_of(&r) == 200 && r.contains(&format!("good{n}@test")))
            });
            answered += usize::from(got);
            #[allow(clippy::disallowed_methods)] // pacing a plain client thread
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        answered
    });
    let answered = good.await.unwrap();
    flooding.await.unwrap();
    let (throttled, subscriptions, transactions) = server
        .handle()
        .query(|engine, _| {
            let stats = engine.stats();
            (stats.requests_throttled, engine.subscription_count(), engine.server_transaction_count())
        })
        .await
        .unwrap();
    eprintln!("flood: {throttled} requests throttled, {subscriptions} subscriptions, {transactions} transactions");
    assert_eq!(answered, 20, "the good client was answered every time");
    assert!(throttled > 0, "the flood was throttled");
    let limits = babble_presence::limits_config::LimitsSection::default();
    assert!(subscriptions <= limits.new_state_burst as usize + 100, "{subscriptions} subscriptions from one source");
    assert!(transactions <= limits.transactions_per_source + 20, "{transactions} transactions held");
    server.shutdown().await.unwrap();
}
