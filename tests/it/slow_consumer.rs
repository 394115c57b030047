//! A client that stops reading is cut off as a slow consumer and costs the others nothing.

use std::time::Duration;

use serde_json::json;

use crate::util::{wait_for, App, Redis, WAIT};

#[test]
fn a_stalled_client_is_closed_and_a_healthy_one_gets_every_frame() {
    let redis = Redis::start();
    let mut settings = crate::util::settings_for(&redis);
    settings.session.outbound_queue_frames = 256;
    settings.session.slow_consumer_grace_ms = 300;
    let app = App::start_with(settings);
    let mut good = app.ws();
    good.op(json!({"op": "subscribe", "topics": ["system"]}));
    // Connected and subscribed like any client, then never reads again.
    let mut stalled = app.ws();
    stalled.op(json!({"op": "subscribe", "topics": ["system"]}));

    const FRAMES: usize = 4000;
    let padding = "x".repeat(4000);
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
    let mut received = 0;
    while received < FRAMES {
        let frame = good.next_where("health frames", Duration::from_secs(20), |f| {
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
        assert_eq!(n, received, "frames arrive in order and none is missing");
        received += 1;
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
    drop(stalled);
}
