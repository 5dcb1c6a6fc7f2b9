//! The kac-audit command line: argument parsing and dispatch. Opening the
//! store read-only is the default so the CLI works next to a running
//! proxy; `reindex`, `prune` and `recover` need the store lock.

mod cast_export;
mod debug;
mod format;
mod forward;

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use chrono::Utc;
use clap::{Parser, Subcommand};
use kac_event::{Event, SessionEvent};
use kac_store::{Position, Query, Store, StoreOptions};

use format::Format;

#[derive(Parser)]
#[command(
    name = "kac-audit",
    version,
    about = "Search and verify the KAC audit store"
)]
struct Cli {
    /// Store directory.
    #[arg(long, env = "KAC_STORE", global = true)]
    store: Option<PathBuf>,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Search events: `user=david cluster=prod tag:ClusterType=prod verb=delete
    /// resource=pods ns=web name=x decision=denied code=403 since=1h
    /// until=2026-03-01T00:00:00Z "rm -rf"`.
    Search {
        #[arg(long, default_value_t = 50)]
        limit: usize,
        #[arg(long, value_enum)]
        format: Option<Format>,
        terms: Vec<String>,
    },
    /// Show one event (by id) or one session (by session id).
    Show {
        id: String,
        #[arg(long, value_enum)]
        format: Option<Format>,
    },
    /// List recorded sessions matching the terms.
    Sessions {
        #[arg(long, default_value_t = 50)]
        limit: usize,
        #[arg(long, value_enum)]
        format: Option<Format>,
        terms: Vec<String>,
    },
    /// Print the last events of the log; with -f, keep printing new ones.
    Tail {
        #[arg(short = 'f', long)]
        follow: bool,
        #[arg(short = 'n', long, default_value_t = 20)]
        lines: usize,
        #[arg(long, value_enum)]
        format: Option<Format>,
    },
    /// Sizes and counts.
    Stats {
        #[arg(long)]
        json: bool,
    },
    /// Check CRCs, the hash chain, seqs and seals; exit 1 on the first problem.
    Verify {
        #[arg(long)]
        json: bool,
    },
    /// Export events (all of the log, or those matching terms) as JSON lines
    /// or audit.k8s.io Events. With `--sessions QUERY --dir OUT`, export
    /// every matching recorded session as an asciicast file OUT/ID.cast.
    Export {
        /// json (default for events), table, k8s-audit; asciicast-v2
        /// (default with --sessions) or asciicast-v3.
        #[arg(long, value_enum)]
        format: Option<ExportFormat>,
        /// At most this many events (or sessions, with --sessions).
        #[arg(long, default_value_t = usize::MAX)]
        limit: usize,
        /// Search for sessions, e.g. 'user=david cluster=prod' or '"rm -rf"'
        /// (further terms may follow as arguments; "" matches every session).
        #[arg(long, value_name = "QUERY", requires = "dir")]
        sessions: Option<String>,
        /// Directory the .cast files go to (created if missing).
        #[arg(long, value_name = "OUT", requires = "sessions")]
        dir: Option<PathBuf>,
        /// Replace existing .cast files (otherwise the export is refused
        /// before anything is written).
        #[arg(long, requires = "sessions")]
        force: bool,
        terms: Vec<String>,
    },
    /// Drop whole sealed segments older than a duration (e.g. 90d).
    Prune {
        #[arg(long)]
        older_than: String,
    },
    /// Rebuild the index from the log.
    Reindex,
    /// Run crash recovery (cut a torn tail, index what is missing) and exit.
    Recover,
    /// Forward events to SIEMs (syslog, Splunk HEC, audit webhooks) as a
    /// forwarder file describes (docs/forwarding.md), until SIGINT/SIGTERM.
    Forward {
        #[arg(long)]
        config: PathBuf,
        /// Send what the log holds now, then exit.
        #[arg(long)]
        once: bool,
    },
    #[command(hide = true, subcommand)]
    Debug(debug::DebugCmd),
}

/// `export --format`: event renderings, and asciicast for `--sessions`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum ExportFormat {
    Json,
    Table,
    #[value(name = "k8s-audit")]
    K8sAudit,
    #[value(name = "asciicast-v2")]
    AsciicastV2,
    #[value(name = "asciicast-v3")]
    AsciicastV3,
}

fn store_dir(s: &Option<PathBuf>) -> Result<PathBuf> {
    s.clone()
        .context("no store: pass --store DIR or set KAC_STORE")
}

/// Opens the store with the lock. Maintenance commands act as the store's
/// only writer stream when there is exactly one (the proxy's), so `recover`
/// recovers that stream and no empty `local` stream is created beside it.
fn writable(dir: &Path) -> Result<Store> {
    let streams = kac_store::log::segment::list_streams(dir)?;
    let mut opts = StoreOptions::default();
    if streams.len() == 1 {
        opts.writer_id = streams.keys().next().expect("one stream").clone();
    }
    Store::open(dir, opts).with_context(|| format!("opening {} for writing", dir.display()))
}

fn readable(dir: &Path) -> Result<Store> {
    Store::open_read_only(dir).with_context(|| format!("opening {}", dir.display()))
}

fn query(terms: &[String]) -> Result<Query> {
    Query::from_args(terms, Utc::now()).context("bad search")
}

pub fn main() -> i32 {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("kac-audit: {e:#}");
            2
        }
    }
}

fn run(cli: Cli) -> Result<i32> {
    let out = &mut std::io::stdout().lock();
    let dir = store_dir(&cli.store);
    match cli.cmd {
        Cmd::Search {
            limit,
            format,
            terms,
        } => {
            let st = readable(&dir?)?;
            let hits = st.search(&query(&terms)?, limit)?;
            let evs: Vec<Event> = hits.into_iter().map(|h| h.event).collect();
            let skipped = format::events(out, &evs, format::resolve(format))?;
            if skipped > 0 {
                eprintln!(
                    "({skipped} session events have no audit.k8s.io form; use --format json)"
                );
            }
        }
        Cmd::Show { id, format } => {
            return show(&readable(&dir?)?, &id, format::resolve(format), out)
        }
        Cmd::Sessions {
            limit,
            format,
            terms,
        } => {
            let st = readable(&dir?)?;
            let ss = st.sessions(&query(&terms)?, limit)?;
            format::sessions(out, &ss, format::resolve(format))?;
        }
        Cmd::Tail {
            follow,
            lines,
            format,
        } => tail(
            &readable(&dir?)?,
            follow,
            lines,
            format::resolve(format),
            out,
        )?,
        Cmd::Stats { json } => {
            let s = readable(&dir?)?.stats()?;
            if json {
                serde_json::to_writer_pretty(&mut *out, &s)?;
                writeln!(out)?;
            } else {
                writeln!(out, "store       {}", s.dir.display())?;
                for w in &s.streams {
                    writeln!(
                        out,
                        "stream      {}: {} segments, {} bytes",
                        w.writer, w.segments, w.bytes
                    )?;
                }
                writeln!(out, "log bytes   {}", s.log_bytes)?;
                writeln!(out, "index bytes {}", s.index_bytes)?;
                writeln!(out, "index docs  {}", s.index_docs)?;
                writeln!(out, "api events  {}", s.api_events)?;
                writeln!(out, "sessions    {}", s.sessions)?;
                writeln!(out, "commands    {}", s.commands)?;
            }
        }
        Cmd::Verify { json } => {
            let r = readable(&dir?)?.verify()?;
            if json {
                serde_json::to_writer_pretty(&mut *out, &r)?;
                writeln!(out)?;
            } else {
                for s in &r.streams {
                    writeln!(
                        out,
                        "stream {}: {} segments, {} blocks, {} events, head seq {} hash {}",
                        s.writer, s.segments, s.blocks, s.events, s.last_seq, s.head_hash
                    )?;
                }
                for w in &r.warnings {
                    writeln!(
                        out,
                        "warning: {}:{}: {}",
                        w.file.display(),
                        w.offset,
                        w.reason
                    )?;
                }
                for e in &r.errors {
                    writeln!(
                        out,
                        "TAMPERED: {}:{}: {}",
                        e.file.display(),
                        e.offset,
                        e.reason
                    )?;
                }
                writeln!(out, "{}", if r.ok() { "OK" } else { "FAILED" })?;
            }
            return Ok(if r.ok() { 0 } else { 1 });
        }
        Cmd::Export {
            format,
            limit,
            sessions: Some(sessions),
            dir: Some(out_dir),
            force,
            terms,
        } => {
            let format = match format {
                None | Some(ExportFormat::AsciicastV2) => kac_player::CastFormat::V2,
                Some(ExportFormat::AsciicastV3) => kac_player::CastFormat::V3,
                Some(f) => bail!("--sessions exports asciicast-v2 or asciicast-v3, not {f:?}"),
            };
            let mut q = Query::parse(&sessions, Utc::now()).context("bad --sessions query")?;
            let more = query(&terms)?;
            q.fields.extend(more.fields);
            q.tags.extend(more.tags);
            q.text.extend(more.text);
            q.since = more.since.or(q.since);
            q.until = more.until.or(q.until);
            let st = readable(&dir?)?;
            let r = cast_export::export_sessions(&st, &q, format, limit, &out_dir, force, out)?;
            if r.files.is_empty() {
                eprintln!(
                    "kac-audit: no sessions match {:?}",
                    full_query(&sessions, &terms)
                );
                return Ok(1);
            }
            eprintln!(
                "exported {} session{} to {}",
                r.files.len(),
                if r.files.len() == 1 { "" } else { "s" },
                out_dir.display()
            );
        }
        Cmd::Export {
            format,
            limit,
            terms,
            ..
        } => {
            let format = match format.unwrap_or(ExportFormat::Json) {
                ExportFormat::Json => Format::Json,
                ExportFormat::Table => Format::Table,
                ExportFormat::K8sAudit => Format::K8sAudit,
                f => bail!("{f:?} is for sessions: use --sessions QUERY --dir OUT"),
            };
            let st = readable(&dir?)?;
            if terms.is_empty() {
                for r in st.tail(Position::start()).take(limit) {
                    format::events(out, &[r?.1], format)?;
                }
            } else {
                let hits = st.search(&query(&terms)?, limit.min(10_000_000))?;
                let evs: Vec<Event> = hits.into_iter().map(|h| h.event).collect();
                format::events(out, &evs, format)?;
            }
        }
        Cmd::Prune { older_than } => {
            let d = kac_store::query::parse_duration(&older_than)
                .map_err(|e| anyhow::anyhow!("--older-than {older_than}: {e}"))?;
            let st = writable(&dir?)?;
            let r = st.prune(Utc::now() - d)?;
            for s in &r.segments {
                writeln!(out, "pruned {s}")?;
            }
            writeln!(
                out,
                "{} segments, {} events, {} bytes",
                r.segments.len(),
                r.events,
                r.bytes
            )?;
            st.close()?;
        }
        Cmd::Reindex => {
            let st = writable(&dir?)?;
            let pb = indicatif::ProgressBar::new(0);
            pb.set_style(
                indicatif::ProgressStyle::with_template(
                    "{bar:40} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
                )
                .expect("valid template"),
            );
            let n = st.reindex(&|done, total| {
                pb.set_length(total);
                pb.set_position(done);
            })?;
            pb.finish_and_clear();
            writeln!(out, "reindexed {n} events")?;
            st.close()?;
        }
        Cmd::Recover => {
            let st = writable(&dir?)?;
            let r = st.verify()?;
            st.close()?;
            writeln!(
                out,
                "recovered; verify {}",
                if r.ok() { "OK" } else { "FAILED" }
            )?;
        }
        Cmd::Forward { config, once } => return forward::run(&config, dir.ok(), once, out),
        Cmd::Debug(d) => return debug::run(d, dir.ok()),
    }
    Ok(0)
}

fn full_query(sessions: &str, terms: &[String]) -> String {
    let mut q = sessions.to_string();
    for t in terms {
        q.push(' ');
        q.push_str(t);
    }
    q.trim().to_string()
}

fn show(st: &Store, id: &str, f: Format, out: &mut dyn Write) -> Result<i32> {
    if let Some(hit) = st.find(id)? {
        if let Event::Api(a) = &hit.event {
            match f {
                Format::K8sAudit => serde_json::to_writer_pretty(&mut *out, &format::k8s_audit(a))?,
                _ => serde_json::to_writer_pretty(&mut *out, &hit.event)?,
            }
            writeln!(out)?;
            return Ok(0);
        }
    }
    let evs = st.session(id)?;
    if evs.is_empty() {
        bail!("no event or session with id {id}");
    }
    let evs: Vec<Event> = evs.into_iter().map(Event::Session).collect();
    if f == Format::Table {
        let shown: Vec<Event> = evs
            .iter()
            .filter(|e| !matches!(e, Event::Session(SessionEvent::Data { .. })))
            .cloned()
            .collect();
        let data = evs.len() - shown.len();
        format::events(out, &shown, f)?;
        writeln!(out, "({data} data frames; `kac-play {id}` replays them)")?;
    } else {
        format::events(out, &evs, f)?;
    }
    Ok(0)
}

fn tail(st: &Store, follow: bool, lines: usize, f: Format, out: &mut dyn Write) -> Result<()> {
    // Last `lines` events: read the last segment of each stream.
    let end = st.end_position()?;
    let mut from = end.clone();
    for p in from.streams.values_mut() {
        p.offset = 0;
    }
    let mut last = std::collections::VecDeque::new();
    let mut t = st.tail(from);
    for r in t.by_ref() {
        last.push_back(r?.1);
        if last.len() > lines {
            last.pop_front();
        }
    }
    let evs: Vec<Event> = last.into();
    format::events(out, &evs, f)?;
    out.flush()?;
    if !follow {
        return Ok(());
    }
    loop {
        std::thread::sleep(std::time::Duration::from_millis(200));
        let mut batch = Vec::new();
        for r in t.by_ref() {
            batch.push(r?.1);
        }
        for e in &batch {
            if f == Format::Table {
                // No header again: one aligned-enough line per event.
                writeln!(out, "{}", format::summary(e).join("  "))?;
            } else {
                format::events(out, std::slice::from_ref(e), f)?;
            }
        }
        out.flush()?;
    }
}
