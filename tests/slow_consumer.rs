//! A client that stops reading is cut off as a slow consumer, costs the others nothing, and does
//! not grow server memory. Its own test binary (process), so the RSS it measures is this test's.

#[allow(dead_code)]
#[path = "it/util.rs"]
mod util;

use std::time::Duration;

use serde_json::json;

use util::{wait_for, App, Redis, WAIT};

const FRAMES: usize = 16_000;
const FRAME_BYTES: usize = 4_000;

fn rss_bytes() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kb: usize = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    kb * 1024
}

#[test]
fn a_stalled_client_is_closed_memory_stays_bounded_and_a_healthy_one_gets_every_frame() {
    let redis = Redis::start();
    let mut settings = util::settings_for(&redis);
    // The default: headroom for a healthy client that shares two busy cores with everything
    // else here (and gets what the history writes release at once when Redis falls behind);
    // still far below the 64 MB the stalled client is sent.
    settings.session.outbound_queue_bytes = 8 << 20;
    settings.session.slow_consumer_grace_ms = 1000;
    let app = App::start_with(settings);
    let mut good = app.ws();
    good.op(json!({"op": "subscribe", "topics": ["system"]}));
    // Connected and subscribed like any client, then never reads again.
    let mut stalled = app.ws();
    stalled.op(json!({"op": "subscribe", "topics": ["system"]}));
    let rss_before = rss_bytes();

    let padding = "x".repeat(FRAME_BYTES);
    let publisher = {
        let url = redis.url();
        std::thread::spawn(move || {
            let mut conn = redis::Client::open(url).unwrap().get_connection().unwrap();
            for chunk in 0..FRAMES / 100 {
                let mut pipe = redis::pipe();
                for i in 0..100 {
                    let n = chunk * 100 + i;
                    let msg =
                        json!({"overall_status": "healthy", "message": format!("{n} {padding}")});
                    pipe.cmd("PUBLISH")
                        .arg("tickstock.health.status")
                        .arg(msg.to_string())
                        .ignore();
                }
                let _: () = pipe.query(&mut conn).unwrap();
                std::thread::sleep(Duration::from_millis(5));
            }
        })
    };
    for expected in 0..FRAMES {
        let frame = good.next_where("health frames", Duration::from_secs(30), |f| {
            f["event"] == "system_health"
        });
        let n: usize = frame["data"]["message"]
            .as_str()
            .unwrap()
            .split(' ')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(n, expected, "frames arrive in order and none is missing");
    }
    publisher.join().unwrap();
    wait_for("the stalled session to be closed", WAIT, || {
        (app.stats()["sessions"]["slow_consumer_closes"] == 1).then_some(())
    });
    let stats = app.stats();
    assert_eq!(
        stats["sessions"]["active"], 1,
        "only the healthy session is left"
    );
    assert!(stats["sessions"]["frames_shed"].as_u64().unwrap() > 0);
    // The stalled client was sent FRAMES * FRAME_BYTES (64 MB); holding it would show here.
    let growth = rss_bytes().saturating_sub(rss_before);
    assert!(growth < 32 << 20, "RSS grew by {} MB", growth >> 20);
    drop(stalled);
}
