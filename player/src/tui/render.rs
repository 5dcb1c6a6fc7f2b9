//! Drawing: header, the emulated screen cell by cell, timeline, status, help.

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};
use ratatui::Frame;

use super::{App, Mode};
use crate::player::State;
use crate::timeline::FrameKind;
use crate::transcript::{escape_input, fmt_time};

pub(super) fn draw(f: &mut Frame, app: &App) {
    let tl = &app.tl;
    let m = &tl.meta;
    let outer = Block::default()
        .borders(Borders::ALL)
        .title(format!(" kac-play {} ", m.session_id));
    let inner = outer.inner(f.area());
    f.render_widget(outer, f.area());
    let [header, screen, timeline, status, help] = Layout::vertical([
        Constraint::Length(2),
        Constraint::Min(3),
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .areas(inner);

    let key = Style::default().fg(Color::DarkGray);
    let kv = |k: &str, v: String| {
        vec![
            Span::styled(format!("{k} "), key),
            Span::raw(v),
            Span::raw("  "),
        ]
    };
    let mut l1 = kv("user", m.user.clone());
    l1.extend(kv("cluster", m.cluster.clone()));
    l1.extend(kv("namespace", m.namespace.clone()));
    l1.extend(kv("pod", m.pod.clone()));
    if !m.container.is_empty() {
        l1.extend(kv("container", m.container.clone()));
    }
    let start = m
        .start
        .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_else(|| "?".into());
    let exit = match (&m.exit_code, &m.error, m.ended) {
        (Some(c), _, _) => c.to_string(),
        (None, Some(e), _) => format!("error: {e}"),
        (None, None, true) => "none".into(),
        (None, None, false) => "running".into(),
    };
    let mut l2 = kv("command", m.command.join(" "));
    l2.extend(kv("start", start));
    l2.extend(kv("duration", fmt_time(m.rec_duration_us)));
    l2.extend(kv("exit", exit));
    f.render_widget(Paragraph::new(vec![Line::from(l1), Line::from(l2)]), header);

    draw_screen(f, app, screen);
    draw_timeline(f.buffer_mut(), app, timeline);

    let p = &app.player;
    let state = match p.state() {
        State::Playing => "▶ playing",
        State::Paused => "⏸ paused",
        State::Ended => "■ ended",
    };
    let mut st = format!("{state}  {}×", p.speed());
    if let Some(limit) = app.idle_limit {
        st.push_str(&format!("  idle limit {}s", limit.as_secs_f64()));
    }
    if app.follow {
        st.push_str(if m.ended {
            "  (live: ended)"
        } else {
            "  (live)"
        });
    }
    let status_line = match &app.mode {
        Mode::Search(q) => Line::from(vec![Span::raw("/"), Span::raw(q.clone()), Span::raw("▏")]),
        Mode::Normal => {
            let mut s = vec![Span::styled(
                st,
                Style::default().add_modifier(Modifier::BOLD),
            )];
            if let Some(msg) = &app.message {
                s.push(Span::raw("  "));
                s.push(Span::styled(
                    msg.clone(),
                    Style::default().fg(Color::Yellow),
                ));
            }
            Line::from(s)
        }
    };
    f.render_widget(Paragraph::new(status_line), status);
    f.render_widget(
        Paragraph::new(
            "space pause  ←/→ ±5s  +/- speed  . step  [ ] commands  / search  n again  i input  q quit",
        )
        .style(key),
        help,
    );
}

fn color(c: vt100::Color) -> Color {
    match c {
        vt100::Color::Default => Color::Reset,
        vt100::Color::Idx(i) => Color::Indexed(i),
        vt100::Color::Rgb(r, g, b) => Color::Rgb(r, g, b),
    }
}

fn draw_screen(f: &mut Frame, app: &App, area: Rect) {
    let screen = app.cache.screen();
    let (rows, cols) = screen.size();
    let w = (cols + 2).min(area.width);
    let h = (rows + 2).min(area.height);
    let frame_area = Rect::new(area.x, area.y, w, h);
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(Style::default().fg(Color::DarkGray))
        .title(format!(" {cols}×{rows} "));
    let inner = block.inner(frame_area);
    f.render_widget(block, frame_area);
    let buf = f.buffer_mut();
    let (cur_r, cur_c) = screen.cursor_position();
    let show_cursor = !screen.hide_cursor();
    for r in 0..inner.height.min(rows) {
        for c in 0..inner.width.min(cols) {
            let Some(cell) = screen.cell(r, c) else {
                continue;
            };
            if cell.is_wide_continuation() {
                continue;
            }
            let mut style = Style::default()
                .fg(color(cell.fgcolor()))
                .bg(color(cell.bgcolor()));
            let mut m = Modifier::empty();
            if cell.bold() {
                m |= Modifier::BOLD;
            }
            if cell.italic() {
                m |= Modifier::ITALIC;
            }
            if cell.underline() {
                m |= Modifier::UNDERLINED;
            }
            if cell.inverse() {
                m |= Modifier::REVERSED;
            }
            if show_cursor && (r, c) == (cur_r, cur_c) {
                m ^= Modifier::REVERSED;
            }
            style = style.add_modifier(m);
            let contents = cell.contents();
            let sym = if contents.is_empty() {
                " "
            } else {
                contents.as_str()
            };
            // A wide character at the frame's right edge would overflow it.
            if cell.is_wide() && c + 1 >= inner.width.min(cols) {
                continue;
            }
            buf[(inner.x + c, inner.y + r)]
                .set_symbol(sym)
                .set_style(style);
        }
    }
    if app.show_input {
        draw_input_overlay(f, app, inner);
    }
}

/// The typed input up to the current position, last lines first seen.
fn draw_input_overlay(f: &mut Frame, app: &App, area: Rect) {
    let mut lines: Vec<String> = vec![String::new()];
    for fr in &app.tl.frames()[..app.player.applied()] {
        match &fr.kind {
            FrameKind::Input(data) => {
                for chunk in data.split_inclusive(|&b| b == b'\r' || b == b'\n') {
                    lines
                        .last_mut()
                        .expect("non-empty")
                        .push_str(&escape_input(chunk));
                    if matches!(chunk.last(), Some(b'\r' | b'\n')) {
                        lines.push(String::new());
                    }
                }
            }
            FrameKind::Marker { text, .. } => {
                if !lines.last().expect("non-empty").is_empty() {
                    lines.push(String::new());
                }
                lines.push(format!("$ {text}"));
                lines.push(String::new());
            }
            _ => {}
        }
    }
    let h = 8.min(area.height);
    let w = 50.min(area.width);
    let keep = (h as usize).saturating_sub(2);
    let start = lines.len().saturating_sub(keep);
    let r = Rect::new(
        area.right().saturating_sub(w),
        area.bottom().saturating_sub(h),
        w,
        h,
    );
    f.render_widget(Clear, r);
    f.render_widget(
        Paragraph::new(
            lines[start..]
                .iter()
                .map(|l| Line::raw(l.clone()))
                .collect::<Vec<_>>(),
        )
        .block(
            Block::default()
                .borders(Borders::ALL)
                .title(" typed input "),
        ),
        r,
    );
}

fn draw_timeline(buf: &mut Buffer, app: &App, area: Rect) {
    let tl = &app.tl;
    let pos = app.player.position_us();
    let dur = tl.duration_us().max(1);
    let label = format!(" {} / {} ", fmt_time(pos), fmt_time(tl.duration_us()));
    buf.set_string(area.x, area.y, &label, Style::default());
    let x0 = area.x + label.chars().count() as u16 + 1;
    if area.right() <= x0 + 4 {
        return;
    }
    let width = area.right() - x0 - 1;
    let at = |t: u64| x0 + ((t as u128 * (width as u128 - 1)) / dur as u128) as u16;
    for x in x0..x0 + width {
        buf[(x, area.y)]
            .set_symbol("─")
            .set_style(Style::default().fg(Color::DarkGray));
    }
    let played = at(pos);
    for x in x0..played {
        buf[(x, area.y)]
            .set_symbol("━")
            .set_style(Style::default().fg(Color::Green));
    }
    for mk in tl.markers() {
        buf[(at(mk.play_us), area.y)]
            .set_symbol("┃")
            .set_style(Style::default().fg(Color::Yellow));
    }
    buf[(played, area.y)]
        .set_symbol("●")
        .set_style(Style::default().fg(Color::White));
}
