//! The HTTP API against the real binary: a SIPp MWI subscriber whose `presence.voicemail.in`
//! arrives on the WebSocket stream and whose counts are posted back; a SIPp BLF watcher fed
//! calls through the resource form; SSE; look-ups and ending a subscription; metrics, health,
//! the OpenAPI document, the bearer token, and every error path answered as problem+json.

use std::time::Duration;

use futures_util::StreamExt;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use crate::interop::{run_sipp, sipp};
use crate::support::{Server, api_until, get_json, put_accepted, udp_client};

fn url(server: &Server, path: &str) -> String {
    format!("http://{}{path}", server.http)
}

async fn next_ws_event(
    ws: &mut tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
) -> Value {
    loop {
        let message =
            tokio::time::timeout(Duration::from_secs(10), ws.next()).await.expect("an event").unwrap().unwrap();
        if let Message::Text(text) = message {
            return serde_json::from_str(&text).unwrap();
        }
    }
}

#[cfg_attr(not(has_sipp), ignore = "needs SIPp: apt-get install sip-tester")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mwi_subscriber_event_on_websocket_and_counts_posted_back() {
    let Some(sipp) = sipp() else { return };
    let server = Server::start(&[]);
    let ws_url = format!("ws://{}/api/v1/events/ws?event=presence.voicemail.in", server.http);
    let (mut ws, _) = tokio_tungstenite::connect_async(ws_url).await.unwrap();
    let target = server.udp;
    let watcher = tokio::task::spawn_blocking(move || run_sipp(&sipp, target, "subscribe_mwi.xml", "u1", &[]));

    let event = next_ws_event(&mut ws).await;
    assert_eq!(event["event"], "presence.voicemail.in");
    assert_eq!(event["data"]["entity"], "1001@127.0.0.1");
    assert_eq!(event["data"]["contenttype"], "application/simple-message-summary");
    assert!(event["seq"].as_u64().is_some_and(|s| s >= 1));

    // The seed's field names: newcount/oldcount.
    let body = json!({"event": "presence.voicemail.out", "data": {"entity": event["data"]["entity"], "newcount": 2, "oldcount": 5, "oldurgent": 1}});
    let r = reqwest::Client::new().post(url(&server, "/api/v1/events")).json(&body).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    watcher.await.unwrap();
}

#[cfg_attr(not(has_sipp), ignore = "needs SIPp: apt-get install sip-tester")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blf_watcher_fed_calls_through_the_resource_form_and_sse() {
    let Some(sipp) = sipp() else { return };
    let server = Server::start(&[]);
    let client = reqwest::Client::new();
    let mut sse = client.get(url(&server, "/api/v1/events/sse?entity=1001@127.0.0.1")).send().await.unwrap();
    assert_eq!(sse.status(), StatusCode::OK);
    let target = server.tcp;
    let watcher = tokio::task::spawn_blocking(move || run_sipp(&sipp, target, "subscribe_dialog.xml", "t1", &[]));

    let mut text = String::new();
    while !text.contains("\n\n") {
        let chunk =
            tokio::time::timeout(Duration::from_secs(10), sse.chunk()).await.expect("an SSE event").unwrap().unwrap();
        text.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(text.contains("event: presence.subscribe.in"), "{text}");
    assert!(text.contains("id: "), "{text}");

    let call = json!({"partial": {"sip": {"callid": "sipp-call-1"}, "state": "early", "direction": "recipient"}});
    let r = client.put(url(&server, "/api/v1/entities/1001@127.0.0.1/dialogs")).json(&call).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    watcher.await.unwrap();

    let entity: Value =
        client.get(url(&server, "/api/v1/entities/1001@127.0.0.1")).send().await.unwrap().json().await.unwrap();
    assert_eq!(entity["calls"][0]["state"], "early");
    assert_eq!(entity["available"], true, "ringing is not on the phone");
}

#[cfg_attr(not(has_sipp), ignore = "needs SIPp: apt-get install sip-tester")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lookups_and_ending_a_subscription_from_the_api() {
    let Some(sipp) = sipp() else { return };
    let server = Server::start(&[]);
    let client = reqwest::Client::new();
    let target = server.udp;
    let watcher = tokio::task::spawn_blocking(move || run_sipp(&sipp, target, "watch_deactivated.xml", "u1", &[]));
    let mut subs: Vec<Value> = Vec::new();
    // Polls (bounded) until SIPp's SUBSCRIBE has been served.
    for _ in 0..200 {
        subs = client.get(url(&server, "/api/v1/subscriptions")).send().await.unwrap().json().await.unwrap();
        if !subs.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(!subs.is_empty(), "the watcher's subscription is listed");
    assert_eq!((subs[0]["entity"].as_str(), subs[0]["event"].as_str()), (Some("1001@127.0.0.1"), Some("presence")));
    let page: Value =
        client.get(url(&server, "/api/v1/entities?prefix=10")).send().await.unwrap().json().await.unwrap();
    assert_eq!(page["total"], 1);
    assert_eq!(page["items"][0]["watchers"], 1);
    let id = subs[0]["id"].as_u64().unwrap();
    // Paged by id: the header counts them all; a page after the last id is empty.
    let listed = client.get(url(&server, "/api/v1/subscriptions?limit=1")).send().await.unwrap();
    assert_eq!(listed.headers()["x-total-count"], "1");
    let after = get_json(server.http, &format!("/api/v1/subscriptions?after={id}")).await;
    assert_eq!(after, json!([]), "nothing after the last id");
    let r = client.delete(url(&server, &format!("/api/v1/subscriptions/{id}"))).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    watcher.await.unwrap();
    let again = client.delete(url(&server, &format!("/api/v1/subscriptions/{id}"))).send().await.unwrap();
    assert_eq!(again.status(), StatusCode::NOT_FOUND);

    for path in ["/api/v1/registrations", "/api/v1/publications"] {
        let list: Vec<Value> = client.get(url(&server, path)).send().await.unwrap().json().await.unwrap();
        assert!(list.is_empty(), "{path}");
    }
    // Nothing is known of either: for queue routing that is not available, and the answer
    // names them (before, an entity never seen, even a typo, counted as available).
    let avail = get_json(server.http, "/api/v1/availability?entities=1001@127.0.0.1,bogus").await;
    assert_eq!(avail, json!({"available": 0, "entities": [], "unknown": ["1001@127.0.0.1", "bogus"]}));
    let open = json!({"status": "open"});
    put_accepted(server.http, "/api/v1/entities/1001@127.0.0.1/status", &open).await;
    let avail = get_json(server.http, "/api/v1/availability?entities=1001@127.0.0.1,bogus").await;
    assert_eq!(avail, json!({"available": 1, "entities": ["1001@127.0.0.1"], "unknown": ["bogus"]}));
}

/// Asserts a problem+json answer with `status` naming `field` (when given).
async fn problem(response: reqwest::Response, status: StatusCode, field: Option<&str>) -> Value {
    assert_eq!(response.status(), status);
    assert_eq!(response.headers()["content-type"], "application/problem+json");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], status.as_u16());
    if let Some(field) = field {
        assert_eq!(body["field"], field, "{body}");
    }
    body
}

/// The dashboard's look-ups on the real binary: a group paged from its own index with the
/// counts of every group, a search of display names, a group that is not one refused naming
/// `state`, and an entity's detail saying why it cannot take a call.
#[tokio::test]
async fn entity_groups_search_and_detail() {
    let server = Server::start(&[]);
    let http = server.http;
    put_accepted(http, "/api/v1/entities/2001@pbx/voicemail", &json!({"new": 1})).await;
    put_accepted(http, "/api/v1/entities/2002@pbx/voicemail", &json!({"new": 0, "old": 4})).await;
    put_accepted(http, "/api/v1/entities/2003@pbx/status", &json!({"dnd": true})).await;
    let call = json!({"display": "Front desk", "partial": {"callid": "g1", "state": "confirmed"}});
    put_accepted(http, "/api/v1/entities/2004@pbx/dialogs", &call).await;

    let all_counted = |v: &Value| v["counts"]["entities"] == 4;
    let page = api_until(http, "/api/v1/entities?state=messages", "every entity counted", all_counted).await;
    assert_eq!(page["counts"], json!({"entities": 4, "registered": 0, "busy": 1, "dnd": 1, "messages": 1}));
    assert_eq!((page["total"].clone(), page["items"][0]["entity"].clone()), (json!(1), json!("2001@pbx")), "{page}");
    let dnd = get_json(http, "/api/v1/entities?state=dnd").await;
    assert_eq!(dnd["items"].as_array().unwrap().len(), 1, "{dnd}");
    assert_eq!(dnd["items"][0]["entity"], "2003@pbx");
    let found = get_json(http, "/api/v1/entities?q=FRONT").await;
    assert_eq!((found["total"].clone(), found["items"][0]["entity"].clone()), (json!(1), json!("2004@pbx")), "{found}");
    let busy_front = get_json(http, "/api/v1/entities?q=front&state=dnd").await;
    assert_eq!(busy_front["total"], 0, "{busy_front}");

    let refused = reqwest::get(format!("http://{http}/api/v1/entities?state=away")).await.unwrap();
    problem(refused, StatusCode::BAD_REQUEST, Some("state")).await;

    let detail = get_json(http, "/api/v1/entities/2003@pbx/detail").await;
    assert_eq!(detail["entity"]["available"], false, "{detail}");
    assert_eq!(detail["entity"]["unavailable"], "do not disturb", "{detail}");
    let on_call = get_json(http, "/api/v1/entities/2004@pbx/detail").await;
    assert_eq!(on_call["entity"]["unavailable"], "on the phone", "{on_call}");
    assert_eq!(on_call["entity"]["display"], "Front desk", "{on_call}");
}

/// A typo in a field name is refused with 422 naming it, and the state it would have reset is
/// kept (issue 20: `{"neww": 7}` was taken as counts 0/0).
#[tokio::test]
async fn unknown_fields_are_refused_and_keep_the_state() {
    let server = Server::start(&[]);
    let client = reqwest::Client::new();
    let voicemail = url(&server, "/api/v1/entities/1001@pbx/voicemail");
    assert_eq!(client.put(&voicemail).json(&json!({"new": 3, "old": 1})).send().await.unwrap().status(), 202);
    let typo = client.put(&voicemail).json(&json!({"neww": 7})).send().await.unwrap();
    let body = problem(typo, StatusCode::UNPROCESSABLE_ENTITY, Some("neww")).await;
    assert!(body["detail"].as_str().unwrap().contains("takes new, newcount"), "{body}");
    let event = json!({"event": "presence.voicemail.out", "data": {"entity": "1001@pbx", "new_count": 9}});
    let typo = client.post(url(&server, "/api/v1/events")).json(&event).send().await.unwrap();
    problem(typo, StatusCode::UNPROCESSABLE_ENTITY, Some("data.new_count")).await;
    let entity: Value =
        client.get(url(&server, "/api/v1/entities/1001@pbx")).send().await.unwrap().json().await.unwrap();
    assert_eq!(entity["voicemail"], json!({"new": 3, "old": 1, "newurgent": 0, "oldurgent": 0}), "{entity}");

    let status = url(&server, "/api/v1/entities/1001@pbx/status");
    assert_eq!(
        client.put(&status).json(&json!({"status": "closed", "note": "away"})).send().await.unwrap().status(),
        202
    );
    let typo = client.put(&status).json(&json!({"staus": "open"})).send().await.unwrap();
    problem(typo, StatusCode::UNPROCESSABLE_ENTITY, Some("staus")).await;
    let dialogs = url(&server, "/api/v1/entities/1001@pbx/dialogs");
    let call = json!({"partial": {"callid": "c1", "state": "early", "remote": {"uri": "sip:2000@pbx", "name": "K"}}});
    let typo = client.put(&dialogs).json(&call).send().await.unwrap();
    problem(typo, StatusCode::UNPROCESSABLE_ENTITY, Some("partial.remote.name")).await;
    let entity: Value =
        client.get(url(&server, "/api/v1/entities/1001@pbx")).send().await.unwrap().json().await.unwrap();
    assert_eq!((&entity["note"], &entity["calls"]), (&json!("away"), &json!([])), "{entity}");
}

#[tokio::test]
async fn error_paths_are_problem_documents() {
    let server = Server::start(&[]);
    let client = reqwest::Client::new();
    let post = |body: &'static str| {
        client.post(url(&server, "/api/v1/events")).header("content-type", "application/json").body(body).send()
    };
    problem(post("{not json").await.unwrap(), StatusCode::BAD_REQUEST, None).await;
    // Without Content-Type: application/json, the answer says so (it said "Malformed JSON").
    let untyped = client.post(url(&server, "/api/v1/events")).body(r#"{"event": "x", "data": {}}"#).send();
    let body = problem(untyped.await.unwrap(), StatusCode::UNSUPPORTED_MEDIA_TYPE, None).await;
    assert!(body["detail"].as_str().unwrap().contains("application/json"), "{body}");
    problem(post(r#"{"data": {}}"#).await.unwrap(), StatusCode::UNPROCESSABLE_ENTITY, Some("event")).await;
    let extra = post(r#"{"event": "presence.checksync.out", "data": {"entity": "e"}, "dat": 1}"#);
    problem(extra.await.unwrap(), StatusCode::UNPROCESSABLE_ENTITY, Some("dat")).await;
    problem(
        post(r#"{"event": "presence.nope.out", "data": {"entity": "1001@pbx"}}"#).await.unwrap(),
        StatusCode::UNPROCESSABLE_ENTITY,
        Some("event"),
    )
    .await;
    problem(
        post(r#"{"event": "presence.voicemail.out", "data": {"entity": "1001@pbx", "new": -1}}"#).await.unwrap(),
        StatusCode::UNPROCESSABLE_ENTITY,
        Some("data.new"),
    )
    .await;
    problem(post(r#"{"event": "presence.dialog.out", "data": {"entity": "e", "full": [{"sip": {"callid": "a"}, "state": "ringing"}]}}"#).await.unwrap(), StatusCode::UNPROCESSABLE_ENTITY, Some("data.full[0].state")).await;
    problem(
        post(r#"{"event": "presence.checksync.out", "data": {}}"#).await.unwrap(),
        StatusCode::UNPROCESSABLE_ENTITY,
        Some("data.entity"),
    )
    .await;
    let array = client.put(url(&server, "/api/v1/entities/1001@pbx/voicemail")).json(&json!([1])).send().await.unwrap();
    problem(array, StatusCode::UNPROCESSABLE_ENTITY, Some("body")).await;
    let status = client
        .put(url(&server, "/api/v1/entities/1001@pbx/status"))
        .json(&json!({"status": "sideways"}))
        .send()
        .await
        .unwrap();
    problem(status, StatusCode::UNPROCESSABLE_ENTITY, Some("status")).await;
    problem(
        client.delete(url(&server, "/api/v1/subscriptions/999")).send().await.unwrap(),
        StatusCode::NOT_FOUND,
        None,
    )
    .await;
    problem(client.get(url(&server, "/api/v1/nothing")).send().await.unwrap(), StatusCode::NOT_FOUND, None).await;
    let wrong_method = client.get(url(&server, "/api/v1/events")).send().await.unwrap();
    assert!(wrong_method.headers().contains_key("allow"), "405 says what is allowed");
    problem(wrong_method, StatusCode::METHOD_NOT_ALLOWED, None).await;
    let not_upgraded = client.get(url(&server, "/api/v1/events/ws")).send().await.unwrap();
    problem(not_upgraded, StatusCode::BAD_REQUEST, None).await;
    problem(client.get(url(&server, "/api/v1/entities?limit=0")).send().await.unwrap(), StatusCode::BAD_REQUEST, None)
        .await;
    let no_entities = client.get(url(&server, "/api/v1/availability")).send().await.unwrap();
    let body = problem(no_entities, StatusCode::BAD_REQUEST, Some("entities")).await;
    assert!(body["detail"].as_str().unwrap().starts_with("entities is required"), "{body}");
    let too_many = client.get(url(&server, "/api/v1/subscriptions?limit=1001")).send().await.unwrap();
    problem(too_many, StatusCode::BAD_REQUEST, None).await;
    let ok = client.post(url(&server, "/api/v1/entities/1001@pbx/checksync")).send().await.unwrap();
    assert_eq!(ok.status(), StatusCode::ACCEPTED);
}

#[tokio::test]
async fn metrics_health_openapi_and_the_bearer_token() {
    let dir = std::env::temp_dir().join(format!("bp-api-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("token.toml");
    std::fs::write(&config, "[http]\ntoken = \"s3cret\"\n").unwrap();
    let server = Server::start(&["--config", config.to_str().unwrap()]);
    let client = reqwest::Client::new();

    let health: Value = client.get(url(&server, "/healthz")).send().await.unwrap().json().await.unwrap();
    assert_eq!(health["status"], "ok", "health needs no token");
    let denied = client.get(url(&server, "/metrics")).send().await.unwrap();
    problem(denied, StatusCode::UNAUTHORIZED, None).await;
    let wrong = client.get(url(&server, "/api/v1/entities")).bearer_auth("nope").send().await.unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);

    // Some SIP traffic for the counters.
    let udp = crate::support::udp_client();
    udp.send_to(crate::support::options(udp.local_addr().unwrap(), "UDP", "metrics").as_bytes(), server.udp).unwrap();
    assert!(crate::support::recv_text(&udp).is_some());
    let metrics =
        client.get(url(&server, "/metrics")).bearer_auth("s3cret").send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("babble_sip_requests_received_total 1"), "{metrics}");
    // Every metric says what it counts.
    for family in metrics.lines().filter_map(|l| l.strip_prefix("# TYPE ")) {
        let name = family.split_whitespace().next().unwrap();
        assert!(metrics.contains(&format!("# HELP {name} ")), "no # HELP for {name}");
    }
    assert!(metrics.contains(r#"babble_subscriptions{event="presence",state="active"} 0"#), "{metrics}");
    for shell in ["udp_queue_drops", "tcp_backlog_drops", "store_commit_failures", "store_changes_dropped"] {
        assert!(metrics.contains(&format!("babble_{shell}_total 0")), "{metrics}");
    }

    let spec: Value = client
        .get(url(&server, "/api/v1/openapi.json"))
        .bearer_auth("s3cret")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(spec["openapi"].as_str().is_some_and(|v| v.starts_with('3')));
    for path in
        ["/api/v1/events", "/api/v1/entities/{entity}", "/api/v1/subscriptions/{id}", "/api/v1/events/sse", "/metrics"]
    {
        assert!(spec["paths"].get(path).is_some(), "{path} documented");
    }
    std::fs::remove_dir_all(&dir).ok();
}

/// The document's request schemas name exactly the fields the contract reads, for every event
/// and object in both forms, so neither can drift from the other.
#[tokio::test]
async fn request_schemas_are_the_contracts_fields() {
    use babble_presence::contract::fields;
    let server = Server::start(&[]);
    let spec = get_json(server.http, "/api/v1/openapi.json").await;
    let schemas = &spec["components"]["schemas"];
    let names = |schema: &Value| {
        assert_eq!(schema["additionalProperties"], false, "{schema}");
        let mut names: Vec<String> = schema["properties"].as_object().unwrap().keys().cloned().collect();
        names.sort();
        names
    };
    let sorted = |list: &[&str]| {
        let mut list: Vec<String> = list.iter().map(|s| s.to_string()).collect();
        list.sort();
        list
    };
    let events = [
        ("presence.voicemail.out", "VoicemailBody", fields::VOICEMAIL),
        ("presence.registration.out", "RegistrationBody", fields::REGISTRATION),
        ("presence.dialog.out", "DialogsBody", fields::DIALOG),
        ("presence.status.out", "StatusBody", fields::STATUS),
        ("presence.checksync.out", "CheckSyncBody", fields::CHECKSYNC),
        ("presence.feature.out", "FeaturesBody", fields::FEATURES),
        ("presence.lamp.out", "LampBody", fields::LAMP),
    ];
    let body = &spec["paths"]["/api/v1/events"]["post"]["requestBody"]["content"]["application/json"]["schema"];
    assert_eq!(body["$ref"], "#/components/schemas/EventEnvelope");
    let envelopes =
        schemas["EventEnvelope"]["oneOf"].as_array().expect("POST /api/v1/events takes one of the events").clone();
    assert_eq!(envelopes.len(), events.len());
    for (event, body, accepted) in events {
        if let Some(resource) = schemas.get(body) {
            assert_eq!(names(resource), sorted(&accepted[1..]), "{body}");
        }
        let envelope = envelopes.iter().find(|e| e["properties"]["event"]["enum"][0] == event).expect(event);
        assert_eq!(names(&envelope["properties"]["data"]), sorted(accepted), "{event}");
    }
    assert!(schemas.get("RegistrationBody").is_none(), "registration has no resource form");
    for (schema, accepted) in [
        ("CallBody", fields::CALL),
        ("CallSipBody", fields::CALL_SIP),
        ("RemoteBody", fields::CALL_REMOTE),
        ("ForwardingBody", fields::FORWARDING),
        ("ForwardBody", fields::FORWARD),
        ("NoAnswerForwardBody", fields::FORWARD_NOANSWER),
    ] {
        assert_eq!(names(&schemas[schema]), sorted(accepted), "{schema}");
    }
}

/// Schemathesis (PyPI) generates requests from the served OpenAPI document and checks the
/// live server's answers against it: no 5xx, only documented status codes, content types,
/// headers and response schemas, and (negative mode) every request the schemas call invalid
/// (an unknown field, a wrong type, a count out of range) refused with a 4xx. Not checked:
/// that every schema-valid request is taken, since the schemas do not say that a name and its
/// alias, or `full` and `partial`, exclude each other. The event streams are left out (they
/// never end).
#[cfg_attr(not(has_schemathesis), ignore = "needs Schemathesis: pip install schemathesis")]
#[test]
fn openapi_document_holds_against_the_live_server() {
    let found = std::process::Command::new("schemathesis").arg("--version").output().is_ok_and(|o| o.status.success());
    if !crate::support::tool_available(found, "schemathesis", "pip install schemathesis") {
        return;
    }
    let server = Server::start(&[]);
    let out = std::process::Command::new("schemathesis")
        .args(["run", &url(&server, "/api/v1/openapi.json")])
        .args(["--max-examples", "30", "--seed", "1", "--exclude-path", "/api/v1/events/ws", "--exclude-path", "/api/v1/events/sse"])
        // The same examples on every machine: no database of earlier runs' finds to replay.
        .args(["--generation-database", "none", "--mode", "all"])
        .args(["--checks", "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,response_headers_conformance,negative_data_rejection"])
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "schemathesis found problems:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The next SSE event of `response`, as (id, event name, data), read past keep-alive comments.
async fn next_sse(response: &mut reqwest::Response, buffer: &mut String) -> (String, String, Value) {
    loop {
        if let Some(end) = buffer.find("\n\n") {
            let block: String = buffer.drain(..end + 2).collect();
            let field = |name: &str| {
                block.lines().find_map(|l| l.strip_prefix(name).map(|v| v.trim().to_owned())).unwrap_or_default()
            };
            if block.lines().all(|l| l.starts_with(':') || l.is_empty()) {
                continue;
            }
            return (field("id:"), field("event:"), serde_json::from_str(&field("data:")).unwrap());
        }
        let chunk = tokio::time::timeout(Duration::from_secs(10), response.chunk()).await.expect("an SSE event");
        buffer.push_str(&String::from_utf8_lossy(&chunk.unwrap().expect("the stream stays open")));
    }
}

/// A consumer that reconnects with `Last-Event-ID` gets what it missed, in order, then what
/// follows; with the id of another run (a restarted server) it gets a `resync` event first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_sse_consumer_resumes_from_its_last_event_id() {
    let server = Server::start(&[]);
    let client = reqwest::Client::new();
    let phone = udp_client();
    let sse = url(&server, "/api/v1/events/sse?event=presence.subscribe.in");
    let subscribe = |entity: &str, call_id: &str| {
        let request = crate::hostile::subscribe(phone.local_addr().unwrap(), entity, call_id);
        phone.send_to(request.as_bytes(), server.udp).unwrap();
    };

    let mut first = client.get(&sse).send().await.unwrap();
    let mut buffer = String::new();
    subscribe("2001", "resume1");
    let (seen, name, data) = next_sse(&mut first, &mut buffer).await;
    assert_eq!((name.as_str(), &data["data"]["entity"]), ("presence.subscribe.in", &json!("2001@pbx.example.com")));
    drop(first);
    subscribe("2002", "resume2");
    subscribe("2003", "resume3");
    // The two are raised before the consumer is back: wait until the server has both.
    for _ in 0..100 {
        let subs: Value = client.get(url(&server, "/api/v1/subscriptions")).send().await.unwrap().json().await.unwrap();
        if subs.as_array().unwrap().len() == 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let mut again = client.get(&sse).header("last-event-id", &seen).send().await.unwrap();
    let mut buffer = String::new();
    let mut entities = Vec::new();
    for _ in 0..2 {
        let (_, name, data) = next_sse(&mut again, &mut buffer).await;
        assert_eq!(name, "presence.subscribe.in");
        entities.push(data["data"]["entity"].as_str().unwrap().to_owned());
    }
    assert_eq!(entities, ["2002@pbx.example.com", "2003@pbx.example.com"], "the missed events, in order");
    subscribe("2004", "resume4");
    let (_, _, data) = next_sse(&mut again, &mut buffer).await;
    assert_eq!(data["data"]["entity"], "2004@pbx.example.com", "then what follows");

    let (epoch, _) = seen.split_once('-').unwrap();
    let other_run = format!("{}-1", epoch.parse::<u64>().unwrap() - 1);
    let mut stale = client.get(&sse).header("last-event-id", other_run).send().await.unwrap();
    let (id, name, data) = next_sse(&mut stale, &mut String::new()).await;
    assert_eq!(name, "resync");
    assert!(data["data"]["reason"].as_str().unwrap().contains("restarted"), "{data}");
    assert!(id.starts_with(&format!("{epoch}-")), "the resync carries a cursor of this run: {id}");
}
