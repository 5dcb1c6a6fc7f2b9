//! State machine tests on the recorded fixture sessions.

use std::time::Duration;

use super::*;
use crate::samples;
use crate::search::SearchIndex;
use crate::timeline::FrameKind;

fn shell(idle: Option<Duration>) -> Timeline {
    Timeline::from_events(&samples::shell_session(), idle)
}

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

#[test]
fn plays_in_recorded_time_and_pause_freezes_it() {
    let tl = shell(None);
    let mut p = Player::new(false);
    let r = p.tick(&tl, secs(1.0));
    assert_eq!(p.position_us(), 1_000_000);
    assert_eq!(r, 0..tl.applied_at(1_000_000));
    assert!(r.end > 0 && r.end < tl.len());
    for f in &tl.frames()[r.clone()] {
        assert!(f.play_us <= 1_000_000);
    }
    assert!(tl.frames()[r.end].play_us > 1_000_000);

    p.toggle_pause(&tl);
    assert_eq!(p.state(), State::Paused);
    let r2 = p.tick(&tl, secs(30.0));
    assert!(r2.is_empty());
    assert_eq!(p.position_us(), 1_000_000);
    p.toggle_pause(&tl);
    assert_eq!(p.state(), State::Playing);
    let r3 = p.tick(&tl, secs(2.0));
    assert_eq!(r3.start, r.end);
    assert_eq!(p.position_us(), 3_000_000);
}

#[test]
fn speed_steps_and_scales_time() {
    let tl = shell(None);
    let mut p = Player::new(false);
    assert_eq!(p.speed(), 1.0);
    p.faster();
    p.faster();
    assert_eq!(p.speed(), 4.0);
    p.tick(&tl, secs(1.0));
    assert_eq!(p.position_us(), 4_000_000);
    for _ in 0..10 {
        p.faster();
    }
    assert_eq!(p.speed(), 16.0);
    for _ in 0..10 {
        p.slower();
    }
    assert_eq!(p.speed(), 0.25);
    p.tick(&tl, secs(2.0));
    assert_eq!(p.position_us(), 4_500_000);
}

#[test]
fn idle_limit_shortens_the_coffee_break() {
    let full = shell(None);
    let capped = shell(Some(secs(2.0)));
    let mut a = Player::new(false);
    let mut b = Player::new(false);
    // Play both for the capped session's whole duration in 100 ms ticks.
    let mut t = 0;
    while t < capped.duration_us() + 100_000 {
        a.tick(&full, secs(0.1));
        b.tick(&capped, secs(0.1));
        t += 100_000;
    }
    assert_eq!(b.state(), State::Ended);
    assert_eq!(b.applied(), capped.len());
    assert_ne!(a.state(), State::Ended);
    assert!(a.applied() < full.len());
}

#[test]
fn seek_moves_both_ways_and_clamps() {
    let tl = shell(None);
    let mut p = Player::new(false);
    p.tick(&tl, secs(20.0));
    let at20 = p.applied();
    p.seek(&tl, SEEK_STEP_US);
    assert_eq!(p.position_us(), 25_000_000);
    assert!(p.applied() >= at20);
    p.seek(&tl, -SEEK_STEP_US * 3);
    assert_eq!(p.position_us(), 10_000_000);
    assert_eq!(p.applied(), tl.applied_at(10_000_000));
    assert!(p.applied() < at20);
    p.seek(&tl, -SEEK_STEP_US * 100);
    assert_eq!((p.position_us(), p.applied()), (0, tl.applied_at(0)));
    p.seek(&tl, i64::MAX / 2);
    assert_eq!(p.position_us(), tl.duration_us());
    assert_eq!(p.applied(), tl.len());
}

#[test]
fn end_then_space_restarts_and_seek_back_pauses() {
    let tl = shell(Some(secs(1.0)));
    let mut p = Player::new(false);
    p.tick(&tl, secs(10_000.0));
    assert_eq!(p.state(), State::Ended);
    p.seek(&tl, -SEEK_STEP_US);
    assert_eq!(p.state(), State::Paused);
    p.seek(&tl, SEEK_STEP_US * 10);
    p.tick(&tl, secs(0.0));
    p.toggle_pause(&tl);
    p.tick(&tl, secs(100.0));
    assert_eq!(p.state(), State::Ended);
    p.toggle_pause(&tl);
    assert_eq!((p.state(), p.position_us()), (State::Playing, 0));
}

#[test]
fn step_applies_one_visible_frame_at_a_time() {
    let tl = shell(None);
    let mut p = Player::new(false);
    p.toggle_pause(&tl);
    let mut steps = 0;
    let mut last = 0;
    loop {
        let r = p.step(&tl);
        if r.is_empty() {
            break;
        }
        steps += 1;
        assert_eq!(r.start, last);
        last = r.end;
        let visible = tl.frames()[r.clone()]
            .iter()
            .filter(|f| matches!(f.kind, FrameKind::Output { .. } | FrameKind::Resize { .. }))
            .count();
        assert!(visible >= 1, "{r:?}");
        assert_eq!(p.position_us(), tl.frames()[r.end - 1].play_us);
        assert_eq!(p.state(), State::Paused);
    }
    assert_eq!(p.applied(), tl.len());
    let visible = tl
        .frames()
        .iter()
        .filter(|f| matches!(f.kind, FrameKind::Output { .. } | FrameKind::Resize { .. }))
        .count();
    // Every step shows at least one frame; only same-instant frames group.
    assert!(steps > visible / 2 && steps <= visible, "{steps} {visible}");
}

#[test]
fn markers_jump_forward_and_back() {
    let tl = shell(None);
    let ms: Vec<u64> = tl.markers().iter().map(|m| m.play_us).collect();
    assert!(ms.len() >= 4);
    let mut p = Player::new(false);
    p.toggle_pause(&tl);
    for &m in &ms {
        assert!(p.next_marker(&tl));
        assert_eq!(p.position_us(), m);
        // The marker's own frame is applied: the command is on screen.
        assert!(p.applied() > tl.markers().iter().find(|x| x.play_us == m).unwrap().index);
    }
    assert!(!p.next_marker(&tl));
    for &m in ms.iter().rev().skip(1) {
        assert!(p.prev_marker(&tl));
        assert_eq!(p.position_us(), m);
    }
    assert!(!p.prev_marker(&tl));
}

#[test]
fn search_jumps_to_the_match_and_pauses() {
    let tl = shell(None);
    let ix = SearchIndex::new(&tl);
    let mut p = Player::new(false);
    assert!(p.search(&tl, &ix, "No such file"));
    assert_eq!(p.state(), State::Paused);
    let shown: Vec<u8> = tl.frames()[..p.applied()]
        .iter()
        .filter_map(|f| f.output())
        .flatten()
        .copied()
        .collect();
    assert!(String::from_utf8_lossy(&shown).contains("No such file"));
    let pos = p.position_us();
    assert!(!p.search(&tl, &ix, "zzz-not-there"));
    assert_eq!(p.position_us(), pos);
}

#[test]
fn follow_waits_at_the_live_edge_and_continues() {
    let events = samples::shell_session();
    let mut tl = Timeline::from_events(&events[..20], None);
    let mut p = Player::new(true);
    p.tick(&tl, secs(1000.0));
    assert_eq!(p.applied(), tl.len());
    assert_ne!(p.state(), State::Ended);
    for ev in &events[20..30] {
        tl.push(ev);
    }
    let r = p.tick(&tl, secs(1000.0));
    assert_eq!(r.end, tl.len());
    for ev in &events[30..] {
        tl.push(ev);
    }
    p.tick(&tl, secs(1000.0));
    assert_eq!(p.state(), State::Ended);
}
