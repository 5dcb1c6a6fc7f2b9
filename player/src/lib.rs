//! # kac-player: replay recorded sessions (`kac-play`)
//!
//! **Owns:** turning a recorded session (`kac_event::SessionEvent`s) into
//! what the user saw: the [`timeline::Timeline`] (frames, markers, idle-limit
//! time mapping), the pure [`player::Player`] state machine (pause, seek,
//! speed, step, markers, search), the emulated screen with keyframes for
//! instant seeks ([`screen`]), the non-interactive outputs ([`transcript`]:
//! `--cat`, `--text`, `--stdin`), asciicast export ([`cast::export_cast`],
//! also called by `kac-audit export`), session sources ([`source`]) and the
//! ratatui TUI ([`tui`]).
//!
//! **Must not touch:** recording, storage internals, policy. Sessions are
//! read through the [`source::SessionSource`] trait; the store is only used
//! through `kac_store`'s public API.

pub mod cast;
pub mod esc;
pub mod loader;
pub mod player;
pub mod samples;
pub mod screen;
pub mod search;
pub mod source;
mod store_source;
pub mod timeline;
pub mod transcript;
pub mod tui;

pub use cast::{export_cast, CastFormat};
pub use player::{Player, State};
pub use timeline::Timeline;
