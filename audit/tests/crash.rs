//! Crash recovery: `kac-audit debug write-loop` is killed with SIGKILL at a
//! random moment, several times over the same store. Every event it reported
//! durable must be there afterwards, and verify must pass.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use kac_event::Event;
use kac_store::{Position, Store, StoreOptions};
use rand::{Rng, SeedableRng};

fn event_id(e: &Event) -> String {
    match e {
        Event::Api(a) => a.id.clone(),
        Event::Session(s) => s.session_id().to_string(),
    }
}

#[test]
fn kill_dash_nine_loses_nothing_durable() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = rand::rngs::StdRng::seed_from_u64(42);
    let mut durable: Vec<(u64, String)> = Vec::new();
    for round in 0..6u64 {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_kac-audit"));
        cmd.arg("--store")
            .arg(dir.path())
            .args(["debug", "write-loop", "--fsync-ms", "3", "--seed"])
            .arg(round.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        if round % 2 == 1 {
            cmd.arg("--small");
        }
        let mut child = cmd.spawn().unwrap();
        let out = child.stdout.take().unwrap();
        let lines = std::thread::spawn(move || {
            BufReader::new(out)
                .lines()
                .map_while(|l| l.ok())
                .collect::<Vec<String>>()
        });
        // Let it reach steady state, then kill at a random moment.
        let wait = Duration::from_millis(rng.gen_range(300..1500));
        let t0 = Instant::now();
        while t0.elapsed() < wait {
            std::thread::sleep(Duration::from_millis(20));
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let lines = lines.join().unwrap();
        let before = durable.len();
        for l in &lines {
            let mut it = l.split_whitespace();
            assert_eq!(it.next(), Some("durable"), "{l}");
            let seq: u64 = it.next().unwrap().parse().unwrap();
            durable.push((seq, it.next().unwrap().to_string()));
        }
        assert!(
            durable.len() > before,
            "round {round}: nothing became durable"
        );

        // Reopen: recovery cuts the torn tail; check every reported event.
        let st = Store::open(
            dir.path(),
            StoreOptions {
                fsync_interval: Duration::from_millis(2),
                block_max_events: 256,
                ..Default::default()
            },
        )
        .unwrap();
        let report = st.verify().unwrap();
        assert!(report.ok(), "round {round}: {:?}", report.errors);
        let all: Vec<Event> = st.tail(Position::start()).map(|r| r.unwrap().1).collect();
        for (seq, id) in &durable {
            let e = all.get(*seq as usize - 1).unwrap_or_else(|| {
                panic!(
                    "round {round}: durable seq {seq} lost ({} in log)",
                    all.len()
                )
            });
            assert_eq!(
                &event_id(e),
                id,
                "round {round}: seq {seq} holds another event"
            );
        }
        // The index agrees with the log after recovery.
        let (seq, id) = durable.last().unwrap();
        let hit = st
            .find(id)
            .unwrap()
            .unwrap_or_else(|| panic!("{id} (seq {seq}) not indexed"));
        assert_eq!(&event_id(&hit.event), id);
        st.close().unwrap();
    }
}
