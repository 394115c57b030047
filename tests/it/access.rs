//! Who may reach the server, probed as an attacker would: browser origins on the upgrade and
//! CORS, the operator endpoints on their own port, sessions per address, request bodies that
//! never arrive, job quotas, methods and the headers every answer carries.

use serde_json::{json, Value};
use std::io::{Read, Write};
use std::net::TcpStream;
use tungstenite::client::IntoClientRequest;

use crate::util::{api, free_port, http_exchange, settings_for, token, wait_for, App, Redis, WAIT};

type Socket = tungstenite::WebSocket<tungstenite::stream::MaybeTlsStream<TcpStream>>;

/// The status of a WebSocket upgrade with these extra headers: 101 when a session opened.
fn upgrade(app: &App, headers: &[(&str, &str)]) -> u16 {
    open(app, headers).map_or_else(|status| status, |_| 101)
}

/// A session opened with these extra headers, or the status that refused it.
fn open(app: &App, headers: &[(&str, &str)]) -> Result<Socket, u16> {
    let mut request = format!("ws://{}/ws", app.addr)
        .into_client_request()
        .unwrap();
    for (name, value) in headers {
        let name = tungstenite::http::HeaderName::from_bytes(name.as_bytes()).unwrap();
        request.headers_mut().insert(name, value.parse().unwrap());
    }
    match tungstenite::connect(request) {
        Ok((socket, _)) => Ok(socket),
        Err(tungstenite::Error::Http(answer)) => Err(answer.status().as_u16()),
        Err(e) => panic!("upgrade failed: {e}"),
    }
}

#[test]
fn only_pages_from_allowed_origins_may_connect() {
    let redis = Redis::start();
    let app = App::start(&redis);
    let own = format!("http://127.0.0.1:{}", free_port());
    assert_eq!(upgrade(&app, &[]), 101, "no Origin: not a browser");
    assert_eq!(
        upgrade(&app, &[("Origin", &own)]),
        101,
        "the server's own host"
    );
    assert_eq!(upgrade(&app, &[("Origin", "http://evil.example")]), 403);
    assert_eq!(upgrade(&app, &[("Origin", "null")]), 403);

    let mut settings = settings_for(&redis);
    settings.server.allowed_origins = vec!["https://app.example.com".into()];
    let listed = App::start_with(settings);
    assert_eq!(
        upgrade(&listed, &[("Origin", "https://app.example.com")]),
        101
    );
    assert_eq!(upgrade(&listed, &[("Origin", &own)]), 403, "only the list");

    // CORS follows the same list: the API and the JS client, preflight included.
    let preflight = |origin: &str| {
        http_exchange(
            listed.addr,
            "OPTIONS",
            "/api/backtests",
            &[
                ("Origin", origin),
                ("Access-Control-Request-Method", "POST"),
                (
                    "Access-Control-Request-Headers",
                    "authorization, content-type",
                ),
            ],
            None,
        )
    };
    let allowed = preflight("https://app.example.com");
    assert_eq!(allowed.status, 200);
    assert_eq!(
        allowed.header("access-control-allow-origin"),
        Some("https://app.example.com")
    );
    let refused = preflight("http://evil.example");
    assert!(refused.header("access-control-allow-origin").is_none());
    let script = http_exchange(
        listed.addr,
        "GET",
        "/static/tickrouter.js",
        &[("Origin", "https://app.example.com")],
        None,
    );
    assert_eq!(script.status, 200);
    assert_eq!(
        script.header("access-control-allow-origin"),
        Some("https://app.example.com")
    );
}

#[test]
fn operator_endpoints_move_to_the_admin_port() {
    let redis = Redis::start();
    let mut settings = settings_for(&redis);
    let admin = std::net::SocketAddr::from(([127, 0, 0, 1], free_port()));
    settings.server.admin_bind = Some(admin);
    let app = App::start_with(settings);
    for path in ["/metrics", "/stats", "/debug", "/debug/messages"] {
        assert_eq!(app.get(path).0, 404, "{path} on the client port");
    }
    for path in ["/metrics", "/stats", "/debug", "/health", "/ready"] {
        assert_eq!(
            crate::util::http_get(admin, path).0,
            200,
            "{path} on the admin port"
        );
    }
    assert_eq!(app.get("/health").0, 200, "probes stay on the client port");
    let instance = app.stats()["instance"].clone();
    assert!(
        instance.as_str().is_some_and(|name| !name.is_empty()),
        "/stats names the instance (the host name by default): {instance}"
    );
    assert_eq!(
        crate::util::http_get(admin, "/ws").0,
        404,
        "no clients there"
    );
}

#[test]
fn one_address_cannot_take_every_session() {
    let redis = Redis::start();
    let mut settings = settings_for(&redis);
    settings.server.max_sessions_per_address = 5;
    settings.server.trusted_proxies = vec!["127.0.0.1".into()];
    let app = App::start_with(settings);
    let mut flood: Vec<Result<Socket, u16>> = (0..20)
        .map(|_| open(&app, &[("X-Forwarded-For", "203.0.113.9")]))
        .collect();
    let refused: Vec<u16> = flood
        .iter()
        .filter_map(|r| r.as_ref().err())
        .copied()
        .collect();
    assert_eq!(refused, [503; 15]);
    assert_eq!(
        upgrade(&app, &[("X-Forwarded-For", "198.51.100.4")]),
        101,
        "another client behind the same proxy still gets in"
    );
    assert_eq!(
        upgrade(&app, &[]),
        101,
        "the proxy's own address is counted apart"
    );
    // A session of the flood ends: its place comes back.
    flood.retain(Result::is_ok);
    flood.pop();
    wait_for("the ended session's place", WAIT, || {
        open(&app, &[("X-Forwarded-For", "203.0.113.9")]).ok()
    });
}

#[test]
fn a_body_that_never_arrives_is_cut_off() {
    let redis = Redis::start();
    let mut settings = settings_for(&redis);
    settings.server.body_timeout_secs = 1;
    let app = App::start_with(settings);
    let bearer = format!("Bearer {}", token("mallory"));
    let stalled: Vec<TcpStream> = (0..300)
        .map(|_| {
            let mut s = TcpStream::connect(app.addr).unwrap();
            let head = format!(
                "POST /api/backtests HTTP/1.1\r\nHost: x\r\nAuthorization: {bearer}\r\n\
                 Content-Type: application/json\r\nContent-Length: 200000\r\n\r\n{{"
            );
            s.write_all(head.as_bytes()).unwrap();
            s.set_read_timeout(Some(WAIT + WAIT)).unwrap();
            s
        })
        .collect();
    for mut s in stalled {
        let mut answer = String::new();
        // Read to the end: the server answers 408 and closes the connection.
        s.read_to_string(&mut answer).expect("closed by the server");
        assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
        assert!(answer.contains("body_timeout"));
    }
}

#[test]
fn a_user_has_a_quota_of_active_jobs_even_in_a_burst() {
    let redis = Redis::start();
    let app = App::start(&redis);
    let request = json!({"symbols": ["AAPL"], "start_date": "2024-01-01",
                         "end_date": "2024-06-30", "patterns": ["Doji"]});
    let statuses: Vec<u16> = std::thread::scope(|scope| {
        let burst: Vec<_> = (0..20)
            .map(|_| {
                scope.spawn(|| {
                    api(
                        &app,
                        "POST",
                        "/api/backtests",
                        Some("quinn"),
                        Some(&request),
                    )
                    .0
                })
            })
            .collect();
        burst.into_iter().map(|t| t.join().unwrap()).collect()
    });
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        5,
        "{statuses:?}"
    );
    assert_eq!(statuses.iter().filter(|s| **s == 429).count(), 15);
    let (_, jobs) = api(&app, "GET", "/api/backtests", Some("quinn"), None);
    let first = jobs["jobs"][0]["job_id"].as_str().unwrap().to_owned();
    let cancel = format!("/api/backtests/{first}/cancel");
    assert_eq!(api(&app, "POST", &cancel, Some("quinn"), None).0, 200);
    assert_eq!(
        api(
            &app,
            "POST",
            "/api/backtests",
            Some("quinn"),
            Some(&request)
        )
        .0,
        201,
        "a cancelled job frees its place"
    );
    let many: Vec<String> = (0..257).map(|i| format!("P{i}")).collect();
    let (status, reply) = api(
        &app,
        "POST",
        "/api/backtests",
        Some("rita"),
        Some(&json!({"symbols": ["AAPL"], "start_date": "2024-01-01",
                     "end_date": "2024-06-30", "patterns": many})),
    );
    assert_eq!(status, 400);
    assert!(reply["fields"]["patterns"]
        .as_str()
        .unwrap()
        .contains("256"));
    let mut client = app.ws();
    let long = "x".repeat(60_000);
    let reply = client.op(json!({"op": "pattern_subscriptions",
                                 "subscriptions": [{"pattern": long}]}));
    assert_eq!(reply["event"], "error", "the same name limit as the API");
}

#[test]
fn wrong_methods_get_405_head_works_and_answers_carry_security_headers() {
    let redis = Redis::start();
    let app = App::start(&redis);
    let wrong = http_exchange(app.addr, "POST", "/health", &[], Some("{}"));
    assert_eq!(wrong.status, 405);
    assert_eq!(wrong.header("allow"), Some("GET, HEAD"));
    let bearer = format!("Bearer {}", token("sam"));
    let delete = http_exchange(
        app.addr,
        "DELETE",
        "/api/backtests",
        &[("Authorization", &bearer)],
        None,
    );
    assert_eq!(
        (delete.status, delete.header("allow")),
        (405, Some("GET, HEAD, POST"))
    );
    let head = http_exchange(app.addr, "HEAD", "/health", &[], None);
    assert_eq!((head.status, head.body.as_str()), (200, ""));
    let page = http_exchange(app.addr, "GET", "/", &[], None);
    assert!(page
        .header("content-security-policy")
        .unwrap()
        .contains("frame-ancestors 'none'"));
    assert_eq!(page.header("x-content-type-options"), Some("nosniff"));
    let api_answer = http_exchange(app.addr, "GET", "/api/backtests", &[], None);
    assert_eq!(api_answer.status, 401);
    assert_eq!(api_answer.header("x-content-type-options"), Some("nosniff"));
    assert!(api_answer.header("content-security-policy").is_some());
    let missing = http_exchange(app.addr, "GET", "/static/nothing.js", &[], None);
    assert_eq!(missing.status, 404);
    assert!(
        !missing.body.contains("static"),
        "a 404 names no server path: {}",
        missing.body
    );
    let _: Value = serde_json::from_str(&wrong.body).expect("a JSON error body");
    let (status, info) = app.get("/api/info");
    assert_eq!(status, 200);
    assert_eq!(
        serde_json::from_str::<Value>(&info).unwrap(),
        json!({"auth": true, "demo_mode": false})
    );
}
