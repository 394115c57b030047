//! `[server.tls]`: a real TLS client (rustls) speaks `https://` and `wss://` to the server, with a
//! certificate this test makes with openssl; the operator port stays plain HTTP.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};
use rustls_pki_types::pem::PemObject;
use serde_json::Value;
use tickrouter::config::{RedisTlsSettings, TlsSettings};

use crate::util::{check_config, free_port, settings_for, App, Redis, WAIT};

type Tls = StreamOwned<ClientConnection, TcpStream>;

/// A CA (`ca.pem`, what the client trusts) and a server certificate it signed for localhost and
/// 127.0.0.1 with its key, made in `dir`.
pub fn make_certificates(dir: &Path) -> (TlsSettings, PathBuf) {
    let openssl = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("openssl runs");
        assert!(out.status.success(), "openssl {args:?}: {out:?}");
    };
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "1",
        "-subj",
        "/CN=test CA",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
    ]);
    openssl(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=localhost",
        "-keyout",
        "key.pem",
        "-out",
        "server.csr",
    ]);
    std::fs::write(
        dir.join("server.ext"),
        "basicConstraints=CA:FALSE\nsubjectAltName=DNS:localhost,IP:127.0.0.1\n",
    )
    .unwrap();
    openssl(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "1",
        "-extfile",
        "server.ext",
        "-out",
        "cert.pem",
    ]);
    let tls = TlsSettings {
        cert: dir.join("cert.pem"),
        key: dir.join("key.pem"),
    };
    (tls, dir.join("ca.pem"))
}

fn connect(addr: SocketAddr, cert: &Path) -> Tls {
    let mut roots = RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_file(cert).unwrap())
        .unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = ServerName::try_from("localhost").unwrap();
    let conn = ClientConnection::new(Arc::new(config), name).unwrap();
    let tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(WAIT)).unwrap();
    StreamOwned::new(conn, tcp)
}

#[test]
fn a_tls_client_gets_https_and_wss() {
    let dir = std::env::temp_dir().join(format!("tickrouter-tls-{}", free_port()));
    std::fs::create_dir_all(&dir).unwrap();
    let (tls, ca) = make_certificates(&dir);
    let redis = Redis::start();
    let mut settings = settings_for(&redis);
    settings.server.tls = Some(tls);
    // The harness reads /stats there; it stays plain HTTP.
    settings.server.admin_bind = Some(SocketAddr::from(([127, 0, 0, 1], free_port())));
    let app = App::start_with(settings);

    let mut https = connect(app.addr, &ca);
    https
        .write_all(b"GET /health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut answer = String::new();
    let _ = https.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");

    let stream = connect(app.addr, &ca);
    let (mut ws, _) = tungstenite::client("wss://localhost/ws", stream).expect("wss handshake");
    let first = ws.read().expect("a frame over TLS");
    let frame: Value = serde_json::from_str(first.to_text().unwrap()).unwrap();
    assert_eq!(frame["event"], "connection_confirmed");
    redis.publish(
        "tickstock.events.patterns",
        r#"{"event_type":"pattern_detected","data":{"symbol":"AAPL","pattern":"Doji","confidence":0.9}}"#,
    );
    let alert: Value = loop {
        let frame: Value = serde_json::from_str(ws.read().unwrap().to_text().unwrap()).unwrap();
        if frame["event"] == "pattern_alert" {
            break frame;
        }
    };
    assert_eq!(alert["data"]["symbol"], "AAPL");

    let plain = crate::util::http_get(app.addr, "/health");
    assert_ne!(plain.0, 200, "no plain HTTP on the TLS port");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A TLS-only redis-server (its plain port is where the harness publishes) with a certificate
/// made in `dir`, asking clients for theirs when `auth_clients`: the server, its TLS port, the
/// server's certificate and key, and the CA that signed them.
fn tls_redis(dir: &Path, auth_clients: bool) -> (Redis, u16, TlsSettings, PathBuf) {
    let (server, ca) = make_certificates(dir);
    let tls_port = free_port();
    let tls_args = [
        "--tls-port".to_owned(),
        tls_port.to_string(),
        "--tls-cert-file".to_owned(),
        server.cert.display().to_string(),
        "--tls-key-file".to_owned(),
        server.key.display().to_string(),
        "--tls-ca-cert-file".to_owned(),
        ca.display().to_string(),
        "--tls-auth-clients".to_owned(),
        if auth_clients { "yes" } else { "no" }.to_owned(),
    ];
    let args: Vec<&str> = tls_args.iter().map(String::as_str).collect();
    (Redis::start_with(&args), tls_port, server, ca)
}

/// tickrouter on `rediss://` with `tls` gets a pattern alert published on the server.
fn delivers_over_tls(redis: &Redis, tls_port: u16, tls: RedisTlsSettings) {
    let mut settings = settings_for(redis);
    settings.redis.url = format!("rediss://localhost:{tls_port}/0");
    settings.redis.tls = tls;
    let app = App::start_with(settings);
    let mut client = app.ws();
    redis.publish(
        "tickstock.events.patterns",
        r#"{"event_type":"pattern_detected","data":{"symbol":"TLS","pattern":"Doji","confidence":0.9}}"#,
    );
    assert_eq!(client.expect("pattern_alert")["data"]["symbol"], "TLS");
}

/// `rediss://`: a TLS-only redis-server with a certificate this test made; the CA in
/// `[redis.tls] ca` verifies it, and `check` says clearly when the CA is the wrong one.
#[test]
fn redis_over_tls_with_the_configured_ca() {
    let dir = std::env::temp_dir().join(format!("tickrouter-redis-tls-{}", free_port()));
    std::fs::create_dir_all(&dir).unwrap();
    let (redis, tls_port, _, ca) = tls_redis(&dir, false);
    let tls = RedisTlsSettings {
        ca: Some(ca),
        ..RedisTlsSettings::default()
    };
    delivers_over_tls(&redis, tls_port, tls);

    let other_dir = dir.join("other");
    std::fs::create_dir_all(&other_dir).unwrap();
    let (_, other_ca) = make_certificates(&other_dir);
    let (code, report) = check_config(&format!(
        "[redis]\nurl = \"rediss://localhost:{tls_port}/0\"\n[redis.tls]\nca = {:?}\n",
        other_ca.display().to_string()
    ));
    assert_eq!(code, Some(7), "{report}");
    assert!(
        report.contains("[connection] FAIL") && report.contains("redis.tls.ca"),
        "{report}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A redis-server that requires client certificates (`--tls-auth-clients yes`): tickrouter
/// presents `[redis.tls] cert` and `key`; without them, `check` fails on the TLS handshake.
#[test]
fn redis_over_tls_with_a_client_certificate() {
    let dir = std::env::temp_dir().join(format!("tickrouter-redis-mtls-{}", free_port()));
    std::fs::create_dir_all(&dir).unwrap();
    let (redis, tls_port, server, ca) = tls_redis(&dir, true);
    // The server's certificate, signed by the CA, serves as the client's too.
    let tls = RedisTlsSettings {
        ca: Some(ca.clone()),
        cert: Some(server.cert),
        key: Some(server.key),
    };
    delivers_over_tls(&redis, tls_port, tls);

    let (code, report) = check_config(&format!(
        "[redis]\nurl = \"rediss://localhost:{tls_port}/0\"\n[redis.tls]\nca = {:?}\n",
        ca.display().to_string()
    ));
    assert_ne!(code, Some(0), "{report}");
    assert!(report.contains("[connection] FAIL"), "{report}");
    let _ = std::fs::remove_dir_all(&dir);
}
