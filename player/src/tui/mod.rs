//! The interactive player: ratatui + crossterm around the pure core.
//!
//! The loop is: read keys (with a short timeout), advance the `Player` by
//! the wall time that passed, bring the `ScreenCache` to the player's
//! position, poll the source when following a live session, draw. Raw mode
//! and the alternate screen are restored on exit and on panic
//! (`ratatui::init` installs the panic hook).

mod render;

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use crossterm::event::{self, Event, KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

use crate::loader::Loader;
use crate::player::{Player, SEEK_STEP_US};
use crate::screen::ScreenCache;
use crate::search::SearchIndex;
use crate::timeline::Timeline;

/// Options of an interactive run.
pub struct Options {
    pub idle_limit: Option<Duration>,
    pub speed_steps: i32,
    pub follow: bool,
    pub start_paused: bool,
}

enum Mode {
    Normal,
    Search(String),
}

struct App {
    tl: Timeline,
    loader: Loader,
    player: Player,
    cache: ScreenCache,
    search: Option<SearchIndex>,
    last_search: String,
    mode: Mode,
    show_input: bool,
    message: Option<String>,
    idle_limit: Option<Duration>,
    follow: bool,
    quit: bool,
}

/// Plays `tl` in the terminal until the user quits; `loader` brings the
/// rest of the session (and, with `opts.follow`, what is still recorded).
pub fn run(tl: Timeline, loader: Loader, opts: Options) -> Result<()> {
    let cache = ScreenCache::new(&tl);
    let mut player = Player::new(true);
    for _ in 0..opts.speed_steps.unsigned_abs() {
        if opts.speed_steps > 0 {
            player.faster();
        } else {
            player.slower();
        }
    }
    if opts.start_paused {
        player.toggle_pause(&tl);
    }
    let mut app = App {
        tl,
        loader,
        player,
        cache,
        search: None,
        last_search: String::new(),
        mode: Mode::Normal,
        show_input: false,
        message: None,
        idle_limit: opts.idle_limit,
        follow: opts.follow,
        quit: false,
    };
    let mut terminal = ratatui::try_init().context("setting up the terminal")?;
    let result = app.event_loop(&mut terminal);
    ratatui::restore();
    result
}

impl App {
    fn event_loop(&mut self, terminal: &mut ratatui::DefaultTerminal) -> Result<()> {
        let mut last = Instant::now();
        while !self.quit {
            if self.loader.poll(&mut self.tl, &mut self.cache)? {
                if let Some(ix) = &mut self.search {
                    ix.extend(&self.tl);
                }
            }
            self.player.set_follow(self.follow || self.loader.loading());
            let now = Instant::now();
            self.player.tick(&self.tl, now - last);
            last = now;
            self.cache.sync(&self.tl, self.player.applied());
            terminal
                .draw(|f| render::draw(f, self))
                .context("drawing")?;
            if event::poll(Duration::from_millis(20)).context("reading keys")? {
                if let Event::Key(k) = event::read().context("reading keys")? {
                    if k.kind == KeyEventKind::Press {
                        self.key(k);
                    }
                }
            }
        }
        Ok(())
    }

    fn key(&mut self, k: KeyEvent) {
        if let Mode::Search(q) = &mut self.mode {
            match k.code {
                KeyCode::Esc => self.mode = Mode::Normal,
                KeyCode::Enter => {
                    self.last_search = std::mem::take(q);
                    self.mode = Mode::Normal;
                    self.search_again();
                }
                KeyCode::Backspace => {
                    q.pop();
                }
                KeyCode::Char(c) => q.push(c),
                _ => {}
            }
            return;
        }
        self.message = None;
        let tl = &self.tl;
        match k.code {
            KeyCode::Char('q') | KeyCode::Esc => self.quit = true,
            KeyCode::Char('c') if k.modifiers.contains(KeyModifiers::CONTROL) => self.quit = true,
            KeyCode::Char(' ') => self.player.toggle_pause(tl),
            KeyCode::Left => self.player.seek(tl, -SEEK_STEP_US),
            KeyCode::Right => self.player.seek(tl, SEEK_STEP_US),
            KeyCode::Char('+') | KeyCode::Char('=') => self.player.faster(),
            KeyCode::Char('-') | KeyCode::Char('_') => self.player.slower(),
            KeyCode::Char('.') => {
                if self.player.is_paused() {
                    self.player.step(tl);
                } else {
                    self.message = Some("pause (space) to step".into());
                }
            }
            KeyCode::Char(']') if !self.player.next_marker(tl) => {
                self.message = Some("no later command".into());
            }
            KeyCode::Char('[') if !self.player.prev_marker(tl) => {
                self.message = Some("no earlier command".into());
            }
            KeyCode::Char('/') => self.mode = Mode::Search(String::new()),
            KeyCode::Char('n') => self.search_again(),
            KeyCode::Char('i') => self.show_input = !self.show_input,
            _ => {}
        }
    }

    fn search_again(&mut self) {
        if self.last_search.is_empty() {
            return;
        }
        let ix = self
            .search
            .get_or_insert_with(|| SearchIndex::new(&self.tl));
        if self.player.search(&self.tl, ix, &self.last_search) {
            self.message = Some(format!("found {:?}", self.last_search));
        } else {
            self.message = Some(format!("not found: {:?}", self.last_search));
        }
    }
}
