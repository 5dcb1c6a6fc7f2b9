//! Writes the recorded-session fixtures in `samples/sessions/`:
//! `cargo run -p kac-player --example gen_samples [DIR]`.
//! The generators live in `kac_player::samples`; tests check that the
//! committed files still match them.

use std::path::PathBuf;

fn main() -> anyhow::Result<()> {
    let dir = std::env::args_os()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../samples/sessions"));
    std::fs::create_dir_all(&dir)?;
    for (name, events) in [
        ("shell.jsonl", kac_player::samples::shell_session()),
        ("exec.jsonl", kac_player::samples::exec_session()),
    ] {
        let path = dir.join(name);
        std::fs::write(&path, kac_player::samples::to_jsonl(&events))?;
        println!("wrote {}", path.display());
    }
    Ok(())
}
