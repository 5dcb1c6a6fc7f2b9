//! Hidden developer commands: the crash-test writer and a data generator.

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use chrono::Utc;
use clap::Subcommand;
use kac_event::Event;
use kac_store::gen::Generator;
use kac_store::{Store, StoreOptions};

#[derive(Subcommand)]
pub enum DebugCmd {
    /// Append generated events forever (or --count), printing
    /// `durable SEQ ID` each time the durable seq advances: ID is the id of
    /// the event with that seq. The crash test kill -9s this process.
    WriteLoop {
        #[arg(long)]
        count: Option<u64>,
        #[arg(long, default_value_t = 5)]
        fsync_ms: u64,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Small blocks and segments, to exercise rotation.
        #[arg(long)]
        small: bool,
    },
    /// Write N generated events (API events with a session now and then).
    Gen {
        #[arg(long)]
        count: usize,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        #[arg(long, default_value_t = 200)]
        session_every: usize,
    },
}

pub fn run(cmd: DebugCmd, dir: Option<PathBuf>) -> Result<i32> {
    let dir = dir.context("no store: pass --store DIR or set KAC_STORE")?;
    match cmd {
        DebugCmd::WriteLoop {
            count,
            fsync_ms,
            seed,
            small,
        } => {
            let mut opts = StoreOptions {
                fsync_interval: Duration::from_millis(fsync_ms),
                ..Default::default()
            };
            if small {
                opts.block_max_events = 64;
                opts.segment_max_bytes = 64 << 10;
            }
            let st = Store::open(&dir, opts)?;
            let w = st.writer();
            let mut g = Generator::new(seed, Utc::now());
            let mut ids: std::collections::VecDeque<(u64, String)> = Default::default();
            let mut printed = w.durable();
            let out = &mut std::io::stdout().lock();
            let mut n = 0u64;
            loop {
                if count.is_some_and(|c| n >= c) {
                    break;
                }
                let ev = g.api();
                let id = match &ev {
                    Event::Api(a) => a.id.clone(),
                    Event::Session(s) => s.session_id().to_string(),
                };
                let seq = w.append(ev)?;
                ids.push_back((seq, id));
                n += 1;
                let d = w.durable();
                if d > printed {
                    while ids.front().is_some_and(|(s, _)| *s < d) {
                        ids.pop_front();
                    }
                    if let Some((s, id)) = ids.front() {
                        if *s == d {
                            writeln!(out, "durable {s} {id}")?;
                            out.flush()?;
                        }
                    }
                    printed = d;
                }
                if n.is_multiple_of(64) {
                    std::thread::sleep(Duration::from_micros(200));
                }
            }
            st.flush()?;
            st.close()?;
        }
        DebugCmd::Gen {
            count,
            seed,
            session_every,
        } => {
            let st = Store::open(&dir, StoreOptions::default())?;
            let w = st.writer();
            let mut g = Generator::new(seed, Utc::now() - chrono::Duration::days(1));
            let mut left = count;
            while left > 0 {
                let n = left.min(10_000);
                for e in g.mixed(n, session_every) {
                    w.append(e)?;
                }
                left -= n;
            }
            st.flush()?;
            st.close()?;
            println!("wrote {count} events");
        }
    }
    Ok(0)
}
