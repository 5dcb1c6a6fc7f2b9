//! # kac-recorder: turning session wire frames into audit events
//!
//! **Owns:** the pure, I/O-free parts of session recording:
//! - [`channel`]: the Kubernetes remote-command WebSocket channel protocol
//!   (`v5`/`v4`/`base64` subprotocols, resize and status payloads);
//! - [`spdy`]: a SPDY/3.1 frame codec for SPDY exec and port-forward, and
//!   [`spdy_exec`], which records exec/attach carried over plain SPDY;
//! - [`session`]: [`SessionRecorder`], the per-session state machine that
//!   turns frames into `session.*` events with monotonic offsets;
//! - [`commands`]: typed-command reconstruction from stdin keystrokes;
//! - [`tar`]: file names from a `kubectl cp` tar stream;
//! - [`portforward`]: per-port byte counts of port-forward sessions.
//!
//! **Must not touch:** sockets, async runtimes, clocks or storage. The proxy
//! (`kac-proxy`'s `session` module) owns the I/O: it reads frames, passes
//! them here together with the elapsed monotonic time, forwards them, and
//! ships the returned events to the store. Keeping this crate pure is what
//! lets every parser here be unit-tested, property-tested and fuzzed.

pub mod channel;
pub mod commands;
pub mod portforward;
pub mod session;
pub mod spdy;
pub mod spdy_exec;
pub mod tar;

pub use channel::{Channel, ExitStatus, Frame, MessageKind, Protocol};
pub use session::SessionRecorder;
