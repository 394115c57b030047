//! Identity and access: token expiry on open sessions and refresh with `auth`, Bearer tokens on
//! the upgrade, public-key and JWKS verification, `aud`/`iss`/`nbf`, plain refusal texts, the
//! short-secret rule in `check`, and `tickrouter token`.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use serde_json::{json, Value};
use tungstenite::client::IntoClientRequest;

use crate::util::{settings_for, wait_for, App, Client, Redis, SECRET, WAIT};

/// The library's debug names that used to reach clients; no refusal text may contain them.
const DEBUG_NAMES: [&str; 7] = [
    "InvalidSignature",
    "Base64",
    "MissingRequiredClaim",
    "ExpiredSignature",
    "ImmatureSignature",
    "InvalidToken",
    "InvalidAudience",
];

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn epoch_ms(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH).unwrap().as_millis() as i64
}

/// An HS256 token with exactly these claims, signed with the harness's secret.
fn hs256(claims: Value) -> String {
    let key = EncodingKey::from_secret(SECRET.as_bytes());
    encode(&Header::new(Algorithm::HS256), &claims, &key).unwrap()
}

/// The 401 a refused upgrade gets: its JSON body.
fn refused(request: impl IntoClientRequest) -> Value {
    match Client::try_connect_request(request) {
        Err(tungstenite::Error::Http(resp)) => {
            assert_eq!(resp.status(), 401);
            serde_json::from_slice(resp.body().as_deref().unwrap_or_default()).unwrap()
        }
        Err(e) => panic!("expected 401, got {e}"),
        Ok(c) => panic!("accepted: {}", c.confirmed),
    }
}

fn ws_url(app: &App, token: &str) -> String {
    format!("ws://{}/ws?token={token}", app.addr)
}

fn with_bearer(
    app: &App,
    query_token: Option<&str>,
    bearer: &str,
) -> tungstenite::handshake::client::Request {
    let url = match query_token {
        Some(t) => ws_url(app, t),
        None => format!("ws://{}/ws", app.addr),
    };
    let mut request = url.into_client_request().unwrap();
    request
        .headers_mut()
        .insert("Authorization", format!("Bearer {bearer}").parse().unwrap());
    request
}

fn assert_plain(message: &str) {
    for name in DEBUG_NAMES {
        assert!(!message.contains(name), "{name} in {message:?}");
    }
}

#[test]
fn a_session_is_warned_before_its_token_expires_then_closed_and_gets_nothing_after() {
    let redis = Redis::start();
    let app = App::start(&redis);
    let token = tickrouter::auth::issue_token(SECRET, "exp-user", &[], 3);
    let expires_at = (now_secs() as i64 + 3) * 1000;
    let mut client = Client::connect(app.addr, Some(&token));
    assert_eq!(client.confirmed["data"]["user_id"], "exp-user");

    // User events keep being published across the expiry.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let publisher = {
        let (stop, url) = (stop.clone(), redis.url());
        std::thread::spawn(move || {
            let mut conn = redis::Client::open(url).unwrap().get_connection().unwrap();
            for n in 0.. {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let alert = json!({"type": "dashboard_alert", "user_id": "exp-user",
                    "alert": {"id": format!("a{n}"), "title": "t"}});
                let _: i64 = redis::cmd("PUBLISH")
                    .arg("tickstock.dashboard.alerts")
                    .arg(alert.to_string())
                    .query(&mut conn)
                    .unwrap();
                std::thread::sleep(Duration::from_millis(50));
            }
        })
    };
    let (frames, close) = client.frames_until_close(Duration::from_secs(8));
    let closed_at = epoch_ms(SystemTime::now());
    stop.store(true, Ordering::Relaxed);
    publisher.join().unwrap();

    assert_eq!(close, (1008, "token_expired".to_owned()));
    assert!(
        closed_at >= expires_at - 100,
        "closed {} ms before exp",
        expires_at - closed_at
    );
    let warning = frames
        .iter()
        .find(|(_, f)| f["event"] == "token_expiring")
        .expect("token_expiring before the close");
    assert_eq!(warning.1["data"], json!({"expires_at": expires_at}));
    assert!(epoch_ms(warning.0) < expires_at, "warned before exp");
    let user_events: Vec<i64> = frames
        .iter()
        .filter(|(_, f)| f["event"] == "dashboard_market_event")
        .map(|(at, _)| epoch_ms(*at))
        .collect();
    assert!(
        !user_events.is_empty(),
        "the user's events flowed before exp"
    );
    // Frames written just before the close may still be on the wire at exp; none comes later.
    let late: Vec<_> = user_events
        .iter()
        .filter(|&&t| t > expires_at + 250)
        .collect();
    assert!(
        late.is_empty(),
        "user events after exp at {late:?} (exp {expires_at})"
    );
}

#[test]
fn a_fresh_token_for_the_same_user_keeps_the_session_and_what_it_follows() {
    let redis = Redis::start();
    let app = App::start(&redis);
    let short = tickrouter::auth::issue_token(SECRET, "refresher", &[], 3);
    let expires_at = (now_secs() + 3) * 1000;
    let mut client = Client::connect(app.addr, Some(&short));
    let subscribed = client.op(json!({"op": "subscribe", "topics": ["patterns", "symbol:AAPL"]}));
    assert_eq!(subscribed["event"], "ack");
    let filter = json!({"op": "pattern_subscriptions",
        "subscriptions": [{"pattern": "Doji", "min_confidence": 0.8}]});
    assert_eq!(client.op(filter)["event"], "ack");

    let warning = client.expect("token_expiring");
    assert_eq!(warning["data"]["expires_at"], expires_at);
    let fresh = tickrouter::auth::issue_token(SECRET, "refresher", &[], 300);
    let ack = client.op(json!({"op": "auth", "token": fresh}));
    assert_eq!(ack["event"], "ack", "{ack}");
    assert_eq!(ack["data"]["user_id"], "refresher");
    assert_eq!(ack["data"]["topics"], json!(["patterns", "symbol:AAPL"]));

    // Past the old token's exp the session is still open, with its symbols and filter.
    while epoch_ms(SystemTime::now()) < expires_at as i64 + 1000 {
        if let Some(frame) = client.recv(Duration::from_millis(100)) {
            assert_ne!(
                frame["event"], "token_expiring",
                "the fresh token is far from exp"
            );
        }
    }
    let pong = client.op(json!({"op": "ping"}));
    assert_eq!(pong["event"], "pong");
    let price = json!({"type": "price_update", "symbol": "AAPL", "price": 230.5,
        "change": 1.2, "change_percent": 0.52, "timestamp": 1760557168.342});
    redis.publish("tickstock.market.prices", price.to_string());
    let update = client.expect("dashboard_price_update");
    assert_eq!(update["data"]["symbol"], "AAPL");
    // the pattern filter stayed: a Doji below 0.8 is not delivered, one above is
    for confidence in [0.5, 0.9] {
        let alert = json!({"event_type": "pattern_detected", "pattern": "Doji",
            "symbol": "AAPL", "confidence": confidence, "timestamp": 1760557168.342});
        redis.publish("tickstock.events.patterns", alert.to_string());
    }
    let alert = client.expect("pattern_alert");
    assert_eq!(alert["data"]["confidence"], 0.9);
}

#[test]
fn a_bearer_token_on_the_upgrade_names_the_user_and_two_different_tokens_are_refused() {
    let redis = Redis::start();
    let app = App::start(&redis);
    let token = crate::util::token("bearer-user");
    let client = Client::try_connect_request(with_bearer(&app, None, &token)).unwrap();
    assert_eq!(client.confirmed["data"]["user_id"], "bearer-user");
    let same = Client::try_connect_request(with_bearer(&app, Some(&token), &token)).unwrap();
    assert_eq!(same.confirmed["data"]["user_id"], "bearer-user");

    let other = crate::util::token("someone-else");
    let body = refused(with_bearer(&app, Some(&other), &token));
    assert_eq!(body["error"], "invalid_token");
    assert!(
        body["message"].as_str().unwrap().contains("disagree"),
        "{body}"
    );
    let forged = tickrouter::auth::issue_token("a-different-secret-of-32-bytes-!!", "x", &[], 60);
    let body = refused(with_bearer(&app, None, &forged));
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .starts_with("bad signature"),
        "{body}"
    );
}

#[test]
fn refusals_say_what_is_wrong_in_words() {
    let redis = Redis::start();
    let app = App::start(&redis);
    let now = now_secs();
    let cases = [
        ("garbage", "malformed token"),
        ("a.b", "malformed token"),
        ("!!!.###.$$$", "malformed token"),
        (
            &tickrouter::auth::issue_token("not-the-secret-but-long-enough-!!", "1", &[], 60),
            "bad signature",
        ),
        (
            &tickrouter::auth::issue_token(SECRET, "1", &[], -600),
            "token expired",
        ),
        (&hs256(json!({"sub": "1"})), "no exp claim"),
        (
            &hs256(json!({"sub": "1", "exp": now + 60, "nbf": now + 600})),
            "not yet valid",
        ),
        (&hs256(json!({"sub": "1", "exp": "tomorrow"})), "wrong type"),
    ];
    let mut session = app.ws();
    for (token, words) in cases {
        let body = refused(ws_url(&app, token).as_str());
        let message = body["message"].as_str().unwrap();
        assert!(message.contains(words), "{token}: {message}");
        assert_plain(message);
        let reply = session.op(json!({"op": "auth", "token": token}));
        assert_eq!(reply["data"]["code"], "invalid_token");
        assert_eq!(
            reply["data"]["message"], message,
            "same words over both paths"
        );
    }
}

#[test]
fn audience_issuer_and_not_before_are_enforced_when_configured() {
    let redis = Redis::start();
    let mut settings = settings_for(&redis);
    settings.auth.audience = Some("tickrouter".into());
    settings.auth.issuer = Some("https://id.example.test".into());
    settings.auth.max_token_lifetime_secs = 3600;
    let app = App::start_with(settings);
    let now = now_secs();
    let good = json!({"sub": "7", "exp": now + 60, "iat": now, "nbf": now,
        "aud": "tickrouter", "iss": "https://id.example.test"});
    let with = |key: &str, value: Value| {
        let mut claims = good.clone();
        claims[key] = value;
        hs256(claims)
    };
    let client = Client::connect(app.addr, Some(&hs256(good.clone())));
    assert_eq!(client.confirmed["data"]["user_id"], "7");
    let mut no_aud = good.clone();
    no_aud.as_object_mut().unwrap().remove("aud");
    for (token, words) in [
        (with("aud", "billing".into()), "wrong audience"),
        (with("iss", "https://evil.test".into()), "wrong issuer"),
        (with("nbf", (now + 600).into()), "not yet valid"),
        (
            with("exp", (now + 7200).into()),
            "longer than this server's maximum",
        ),
        (hs256(no_aud), "no aud claim"),
    ] {
        let body = refused(ws_url(&app, &token).as_str());
        let message = body["message"].as_str().unwrap();
        assert!(message.contains(words), "{message}");
        assert_plain(message);
    }
}

/// Files of this test process's own directory.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tickrouter-identity-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

fn openssl(args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .output()
        .expect("openssl");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A fresh key pair made by openssl with these `genpkey` options: (PKCS#8 private key PEM,
/// public key file).
fn key_pair(name: &str, genpkey: &[&str]) -> (Vec<u8>, PathBuf) {
    let private = scratch(&format!("{name}.key.pem"));
    let public = scratch(&format!("{name}.pub.pem"));
    let private_arg = private.to_str().unwrap();
    let mut args = vec!["genpkey"];
    args.extend_from_slice(genpkey);
    args.extend(["-out", private_arg]);
    openssl(&args);
    openssl(&[
        "pkey",
        "-in",
        private_arg,
        "-pubout",
        "-out",
        public.to_str().unwrap(),
    ]);
    (std::fs::read(&private).unwrap(), public)
}

/// A fresh P-256 key pair.
fn ec_key_pair(name: &str) -> (Vec<u8>, PathBuf) {
    key_pair(
        name,
        &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"],
    )
}

fn es256(private_pem: &[u8], kid: Option<&str>, user: &str) -> String {
    let mut header = Header::new(Algorithm::ES256);
    header.kid = kid.map(str::to_owned);
    let claims = json!({"sub": user, "exp": now_secs() + 300});
    encode(
        &header,
        &claims,
        &EncodingKey::from_ec_pem(private_pem).unwrap(),
    )
    .unwrap()
}

#[test]
fn a_public_key_file_verifies_es256_tokens_and_refuses_hs256() {
    let redis = Redis::start();
    let (private, public) = ec_key_pair("file");
    let (other_private, _) = ec_key_pair("other");
    let mut settings = settings_for(&redis);
    settings.auth.jwt_secret = None;
    settings.auth.public_key_file = Some(public);
    let app = App::start_with(settings);

    let client = Client::connect(app.addr, Some(&es256(&private, None, "es-user")));
    assert_eq!(client.confirmed["data"]["user_id"], "es-user");
    let body = refused(ws_url(&app, &es256(&other_private, None, "x")).as_str());
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .starts_with("bad signature"),
        "{body}"
    );
    let body = refused(ws_url(&app, &crate::util::token("x")).as_str());
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("signed with HS256"),
        "{body}"
    );
}

/// RS256, the algorithm most identity providers sign with: a 2048-bit RSA key made by openssl.
#[test]
fn a_public_key_file_verifies_rs256_tokens() {
    let redis = Redis::start();
    let (private, public) = key_pair(
        "rsa",
        &["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"],
    );
    let mut settings = settings_for(&redis);
    settings.auth.jwt_secret = None;
    settings.auth.public_key_file = Some(public);
    let app = App::start_with(settings);
    let key = EncodingKey::from_rsa_pem(&private).unwrap();
    let claims = json!({"sub": "rs-user", "exp": now_secs() + 300});
    let token = encode(&Header::new(Algorithm::RS256), &claims, &key).unwrap();
    let client = Client::connect(app.addr, Some(&token));
    assert_eq!(client.confirmed["data"]["user_id"], "rs-user");
    let forged = encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(b"x"),
    )
    .unwrap();
    let body = refused(ws_url(&app, &forged).as_str());
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("signed with HS256"),
        "{body}"
    );
}

/// A JWKS served on loopback by the test: the current document, and how often it was fetched.
struct JwksServer {
    url: String,
    body: Arc<Mutex<String>>,
    fetches: Arc<AtomicUsize>,
}

impl JwksServer {
    fn start(keys: &[Jwk]) -> JwksServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!(
            "http://{}/.well-known/jwks.json",
            listener.local_addr().unwrap()
        );
        let server = JwksServer {
            url,
            body: Arc::new(Mutex::new(String::new())),
            fetches: Arc::new(AtomicUsize::new(0)),
        };
        server.serve(keys);
        let (body, fetches) = (server.body.clone(), server.fetches.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                while reader.read_line(&mut line).is_ok_and(|n| n > 0) && line != "\r\n" {
                    line.clear();
                }
                fetches.fetch_add(1, Ordering::SeqCst);
                let body = body.lock().unwrap().clone();
                let _ = write!(
                    stream,
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
                     Connection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        server
    }

    fn serve(&self, keys: &[Jwk]) {
        let set = JwkSet {
            keys: keys.to_vec(),
        };
        *self.body.lock().unwrap() = serde_json::to_string(&set).unwrap();
    }

    fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }
}

fn jwk(private_pem: &[u8], kid: &str) -> Jwk {
    let key = EncodingKey::from_ec_pem(private_pem).unwrap();
    let mut jwk = Jwk::from_encoding_key(&key, Algorithm::ES256).unwrap();
    jwk.common.key_id = Some(kid.to_owned());
    jwk
}

#[test]
fn jwks_keys_are_fetched_and_an_unknown_kid_refreshes_them_at_a_limited_rate() {
    let redis = Redis::start();
    let (first, _) = ec_key_pair("jwks-1");
    let (rotated, _) = ec_key_pair("jwks-2");
    let jwks = JwksServer::start(&[jwk(&first, "k1")]);
    let mut settings = settings_for(&redis);
    settings.auth.jwt_secret = None;
    settings.auth.jwks_url = Some(jwks.url.clone());
    settings.auth.jwks_min_refresh_secs = 1;
    let app = App::start_with(settings);

    let client = Client::connect(app.addr, Some(&es256(&first, Some("k1"), "jwks-user")));
    assert_eq!(client.confirmed["data"]["user_id"], "jwks-user");
    let fetched_before = jwks.fetches();
    let body = refused(ws_url(&app, &es256(&rotated, Some("k2"), "x")).as_str());
    assert!(
        body["message"].as_str().unwrap().starts_with("unknown key"),
        "{body}"
    );

    // The issuer rotates its key: the unknown kid makes the server fetch the set again, at
    // most once a second however many clients retry.
    jwks.serve(&[jwk(&first, "k1"), jwk(&rotated, "k2")]);
    let started = Instant::now();
    let mut attempts = 0;
    let client = wait_for("the rotated key to be accepted", WAIT, || {
        attempts += 1;
        Client::try_connect(app.addr, Some(&es256(&rotated, Some("k2"), "rotated"))).ok()
    });
    assert_eq!(client.confirmed["data"]["user_id"], "rotated");
    let refreshes = jwks.fetches() - fetched_before;
    let allowed = started.elapsed().as_secs() as usize + 2;
    assert!(
        refreshes >= 1 && refreshes <= allowed,
        "{refreshes} fetches for {attempts} attempts in {:?}",
        started.elapsed()
    );

    // The `auth` op takes keys from the set too.
    let mut session = app.ws();
    let ack = session.op(json!({"op": "auth", "token": es256(&rotated, Some("k2"), "later")}));
    assert_eq!(ack["data"]["user_id"], "later", "{ack}");
}

fn tickrouter(args: &[&str], secret: Option<&str>) -> (i32, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tickrouter"));
    command
        .args(args)
        .env_remove("REDIS_URL")
        .env_remove("REDIS_HOST")
        .env_remove("TICKROUTER_JWT_SECRET");
    if let Some(secret) = secret {
        command.env("TICKROUTER_JWT_SECRET", secret);
    }
    let out = command.output().unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.code().unwrap_or(-1), text)
}

#[test]
fn check_refuses_a_short_secret_unless_allowed() {
    let (code, report) = tickrouter(&["check"], Some("test-secret"));
    assert_eq!(code, 2, "{report}");
    assert!(
        report.contains("[config] FAIL") && report.contains("auth.jwt_secret"),
        "{report}"
    );
    assert!(
        !report.contains("test-secret"),
        "the secret is not printed: {report}"
    );
    let file = scratch("short-ok.toml");
    std::fs::write(
        &file,
        "[auth]\nallow_short_secret = true\n[redis]\nurl = \"redis://127.0.0.1:1/0\"\n",
    )
    .unwrap();
    let (_, report) = tickrouter(&["check", "--config", path(&file)], Some("test-secret"));
    assert!(report.contains("[config] ok"), "{report}");
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn token_command_mints_tokens_this_server_accepts_and_says_why_others_fail() {
    let (code, out) = tickrouter(
        &["token", "--user", "42", "--role", "admin", "--ttl", "1h"],
        Some(SECRET),
    );
    assert_eq!(code, 0, "{out}");
    let minted = out.trim().to_owned();
    let (code, report) = tickrouter(&["token", "--inspect", &minted], Some(SECRET));
    assert_eq!(code, 0, "{report}");
    assert!(
        report.starts_with("valid: user \"42\", roles [admin]"),
        "{report}"
    );

    let redis = Redis::start();
    let app = App::start(&redis);
    let client = Client::connect(app.addr, Some(&minted));
    assert_eq!(client.confirmed["data"]["user_id"], "42");
    assert!(client.confirmed["data"]["roles"] == json!(["admin"]));

    let expired = tickrouter::auth::issue_token(SECRET, "42", &[], -600);
    let (code, report) = tickrouter(&["token", "--inspect", &expired], Some(SECRET));
    assert_eq!(code, 1, "{report}");
    assert!(report.starts_with("invalid: token expired"), "{report}");
    assert!(report.contains("ago)"), "says when: {report}");
    let (code, report) = tickrouter(
        &["token", "--inspect", &minted],
        Some("another-server-secret-32-bytes-long"),
    );
    assert_eq!(code, 1, "{report}");
    assert!(report.starts_with("invalid: bad signature"), "{report}");
    assert_plain(&report);
}
