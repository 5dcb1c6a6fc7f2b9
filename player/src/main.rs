//! kac-play: watch a recorded session exactly as the user saw it, or turn it
//! into a transcript or an asciicast file. All logic lives in the
//! `kac_player` library; this file only parses arguments and picks the source.

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};
use kac_player::source::{FileSource, SessionSource};
use kac_player::{export_cast, transcript, tui, CastFormat, Timeline};

#[derive(Parser)]
#[command(name = "kac-play", version, about = "Replay recorded KAC sessions")]
#[command(args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    cmd: Option<Cmd>,
    #[command(flatten)]
    play: PlayArgs,
}

#[derive(Args)]
struct SourceArgs {
    /// Session id (optional with --file: the file's first session).
    session_id: Option<String>,
    /// Audit store directory.
    #[arg(long, env = "KAC_STORE")]
    store: Option<PathBuf>,
    /// Read the session from a JSON-lines file of KAC events instead
    /// (takes precedence over --store and KAC_STORE).
    #[arg(long)]
    file: Option<PathBuf>,
}

#[derive(Args)]
struct PlayArgs {
    #[command(flatten)]
    source: SourceArgs,
    /// Cap every pause at SECS seconds.
    #[arg(short = 'i', long = "idle-limit", value_name = "SECS")]
    idle_limit: Option<f64>,
    /// Initial speed: 0.25, 0.5, 1, 2, 4, 8 or 16.
    #[arg(short, long, default_value_t = 1.0)]
    speed: f64,
    /// Start paused.
    #[arg(long)]
    paused: bool,
    /// Follow a session still in progress.
    #[arg(long)]
    follow: bool,
    /// Write the raw output stream (stdout and stderr bytes) and exit.
    #[arg(long, group = "mode")]
    cat: bool,
    /// Print a plain-text transcript and exit.
    #[arg(long, group = "mode")]
    text: bool,
    /// Print what was typed, with timestamps, and exit.
    #[arg(long, group = "mode")]
    stdin: bool,
}

#[derive(Subcommand)]
enum Cmd {
    /// Export a session as an asciicast file.
    Export {
        #[command(flatten)]
        source: SourceArgs,
        /// asciicast-v2 or asciicast-v3.
        #[arg(long, default_value = "asciicast-v2")]
        format: CastFormat,
        /// Output file ("-" for stdout).
        #[arg(short, long)]
        output: PathBuf,
    },
}

fn open(src: &SourceArgs) -> Result<Box<dyn SessionSource + Send>> {
    if let Some(path) = &src.file {
        return Ok(Box::new(FileSource::new(path, src.session_id.clone())));
    }
    let Some(store) = &src.store else {
        bail!("no session source: give --store DIR (or KAC_STORE) or --file PATH");
    };
    let Some(id) = &src.session_id else {
        bail!("a session id is required with --store");
    };
    kac_player::source::store_source(store, id)
}

fn main() -> std::process::ExitCode {
    match run(Cli::parse()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        // `kac-play --cat | head` is not an error.
        Err(e)
            if e.chain().any(|c| {
                c.downcast_ref::<std::io::Error>()
                    .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            }) =>
        {
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("kac-play: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    if let Some(Cmd::Export {
        source,
        format,
        output,
    }) = &cli.cmd
    {
        let events = open(source)?.load()?;
        if output.as_os_str() == "-" {
            let stdout = std::io::stdout();
            return export_cast(&events, *format, &mut stdout.lock());
        }
        let mut f = std::io::BufWriter::new(
            std::fs::File::create(output)
                .with_context(|| format!("creating {}", output.display()))?,
        );
        export_cast(&events, *format, &mut f)?;
        return f
            .flush()
            .with_context(|| format!("writing {}", output.display()));
    }
    let a = &cli.play;
    let idle_limit = match a.idle_limit {
        Some(s) if s > 0.0 && s.is_finite() => Some(Duration::from_secs_f64(s)),
        Some(s) => bail!("--idle-limit must be a positive number of seconds, not {s}"),
        None => None,
    };
    let mut source = open(&a.source)?;
    let interactive = !(a.cat || a.text || a.stdin);
    if interactive {
        // Show the first frame before a long session is fully read.
        source.set_batch_bytes(kac_player::loader::FIRST_BATCH_BYTES);
    }
    let events = source.load()?;
    let tl = Timeline::from_events(&events, idle_limit);
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    if a.cat {
        return transcript::write_cat(&tl, &mut out);
    }
    if a.text {
        return transcript::write_text(&tl, &mut out);
    }
    if a.stdin {
        return transcript::write_stdin(&tl, &mut out);
    }
    drop(out);
    let loader = kac_player::loader::Loader::spawn(source, events, &tl, a.follow);
    let speed_steps = kac_player::player::SPEEDS
        .iter()
        .position(|&s| s == a.speed)
        .with_context(|| format!("--speed must be one of {:?}", kac_player::player::SPEEDS))?
        as i32
        - 2;
    tui::run(
        tl,
        loader,
        tui::Options {
            idle_limit,
            speed_steps,
            follow: a.follow,
            start_paused: a.paused,
        },
    )
}
