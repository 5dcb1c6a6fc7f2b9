//! Generators of realistic recorded sessions: the fixtures in
//! `samples/sessions/` (written by `cargo run -p kac-player --example
//! gen_samples`), the unit tests, and the one-hour benchmark session.
//!
//! They produce what the recorder would emit for a `kubectl exec -it`: typed
//! stdin echoed back by the shell, a prompt, colored `ls`, UTF-8 text split
//! across frames, a full-screen program on the alternate screen, a resize, a
//! long idle pause and a non-zero exit code.

use chrono::{DateTime, Duration as ChronoDuration, TimeZone, Utc};
use kac_event::{
    CommandLine, DataStream, SessionEnd, SessionEvent, SessionKind, SessionStart, UserInfo,
};

/// Builds a session event by event with a moving clock.
pub struct SessionBuilder {
    id: String,
    start: DateTime<Utc>,
    now_us: u64,
    events: Vec<SessionEvent>,
    bytes: [u64; 3],
}

impl SessionBuilder {
    pub fn new(id: &str, start: SessionStart) -> Self {
        let mut start = start;
        start.session_id = id.to_string();
        let t0 = start.time;
        SessionBuilder {
            id: id.to_string(),
            start: t0,
            now_us: 0,
            events: vec![SessionEvent::Start(Box::new(start))],
            bytes: [0; 3],
        }
    }

    fn time(&self) -> DateTime<Utc> {
        self.start + ChronoDuration::microseconds(self.now_us as i64)
    }

    /// Lets `us` microseconds pass.
    pub fn wait(&mut self, us: u64) -> &mut Self {
        self.now_us += us;
        self
    }

    pub fn data(&mut self, stream: DataStream, data: &[u8]) -> &mut Self {
        match stream {
            DataStream::Stdin => self.bytes[0] += data.len() as u64,
            DataStream::Stdout => self.bytes[1] += data.len() as u64,
            _ => self.bytes[2] += data.len() as u64,
        }
        self.events.push(SessionEvent::Data {
            session_id: self.id.clone(),
            time: self.time(),
            offset_us: self.now_us,
            stream,
            data: data.to_vec(),
        });
        self
    }

    pub fn out(&mut self, data: &[u8]) -> &mut Self {
        self.data(DataStream::Stdout, data)
    }

    /// Types `line` key by key with the shell echoing each key, then Enter,
    /// and records the reconstructed command like the recorder does.
    pub fn type_command(&mut self, line: &str) -> &mut Self {
        for ch in line.chars() {
            let mut buf = [0u8; 4];
            let s = ch.encode_utf8(&mut buf).as_bytes().to_vec();
            self.wait(90_000 + (ch as u64 * 7919) % 60_000);
            self.data(DataStream::Stdin, &s);
            self.wait(600);
            self.out(&s);
        }
        self.wait(250_000);
        self.data(DataStream::Stdin, b"\r");
        self.events.push(SessionEvent::Command(CommandLine {
            session_id: self.id.clone(),
            time: self.time(),
            offset_us: self.now_us,
            text: line.to_string(),
            uncertain: false,
        }));
        self.wait(700);
        self.out(b"\r\n")
    }

    pub fn resize(&mut self, width: u16, height: u16) -> &mut Self {
        self.events.push(SessionEvent::Resize {
            session_id: self.id.clone(),
            time: self.time(),
            offset_us: self.now_us,
            width,
            height,
        });
        self
    }

    pub fn end(mut self, exit_code: Option<i32>) -> Vec<SessionEvent> {
        let user = match &self.events[0] {
            SessionEvent::Start(s) => (s.user.name.clone(), s.cluster.clone()),
            _ => unreachable!("builder starts with a start event"),
        };
        self.events.push(SessionEvent::End(Box::new(SessionEnd {
            session_id: self.id.clone(),
            time: self.time(),
            offset_us: self.now_us,
            user: user.0,
            cluster: user.1,
            exit_code,
            error: None,
            bytes_stdin: self.bytes[0],
            bytes_stdout: self.bytes[1],
            bytes_stderr: self.bytes[2],
            transfer: None,
            ports: Vec::new(),
        })));
        self.events
    }
}

fn start(cols: u16, rows: u16, command: &[&str]) -> SessionStart {
    SessionStart {
        session_id: String::new(),
        time: Utc.with_ymd_and_hms(2026, 3, 14, 9, 26, 53).unwrap(),
        kind: SessionKind::Exec,
        user: UserInfo {
            name: "david".into(),
            groups: vec!["dev".into()],
            ..Default::default()
        },
        cluster: "prod-eu".into(),
        namespace: "shop".into(),
        pod: "web-7d9f6c-x2k4p".into(),
        container: "nginx".into(),
        command: command.iter().map(|s| s.to_string()).collect(),
        tty: true,
        stdin: true,
        width: Some(cols),
        height: Some(rows),
        protocol: "v5.channel.k8s.io".into(),
        ..Default::default()
    }
}

const PROMPT: &[u8] =
    b"\x1b[01;32mroot@web-7d9f6c-x2k4p\x1b[00m:\x1b[01;34m/usr/share/nginx\x1b[00m# ";

/// An interactive shell session, about 75 s recorded, exit code 3.
pub fn shell_session() -> Vec<SessionEvent> {
    let mut b = SessionBuilder::new(
        "0194f1c2-7a10-7c3e-9a51-3f2b8e0d4a11",
        start(100, 30, &["/bin/bash"]),
    );
    b.wait(120_000).out(PROMPT);
    b.wait(1_200_000).type_command("ls --color=auto");
    b.wait(9_000).out(
        b"\x1b[0m\x1b[01;34mhtml\x1b[0m  \x1b[01;32mentrypoint.sh\x1b[0m  nginx.conf  \x1b[01;36mlogs\x1b[0m -> /var/log/nginx\r\n",
    );
    b.wait(2_000).out(PROMPT);
    b.wait(2_000_000).type_command("echo 'héllo wörld ✓'");
    // The UTF-8 of "ö" and "✓" is split across frames, as a pty read may do.
    let text = "héllo wörld ✓\r\n".as_bytes();
    let cut1 = "héllo w".len() + 1; // inside ö
    let cut2 = "héllo wörld ".len() + 2; // inside ✓
    b.wait(3_000).out(&text[..cut1]);
    b.wait(1_000).out(&text[cut1..cut2]);
    b.wait(1_000).out(&text[cut2..]);
    b.wait(1_000).out(PROMPT);
    b.wait(1_500_000)
        .type_command("cat /etc/hostname /nonexistent");
    b.wait(4_000).out(b"web-7d9f6c-x2k4p\r\n");
    b.wait(500).data(
        DataStream::Stderr,
        b"cat: /nonexistent: No such file or directory\r\n",
    );
    b.wait(1_000).out(PROMPT);
    // The user goes for coffee: a long idle pause.
    b.wait(45_000_000).type_command("top");
    b.wait(30_000)
        .out(b"\x1b[?1049h\x1b[22;0;0t\x1b[1;30r\x1b(B\x1b[m\x1b[4l\x1b[?7h\x1b[H\x1b[2J");
    for tick in 0..3u64 {
        let mut screen = format!(
            "\x1b[Htop - 09:27:{:02} up 3 days,  2:11,  0 users,  load average: 0.0{}, 0.04, 0.01\x1b[K\r\n",
            tick * 3,
            tick + 1
        );
        screen.push_str("Tasks:   3 total,   1 running,   2 sleeping\x1b[K\r\n\x1b[K\r\n");
        screen.push_str("\x1b[7m    PID USER      PR  NI    VIRT    RES  %CPU  %MEM COMMAND          \x1b[m\x1b[K\r\n");
        screen.push_str(&format!(
            "      1 root      20   0   11408   7448   {}.0   0.1 nginx            \x1b[K\r\n",
            tick
        ));
        screen.push_str(
            "     29 root      20   0    4624   3840   0.0   0.0 bash             \x1b[K\r\n",
        );
        screen.push_str("     41 root      20   0    7176   3328   0.3   0.0 \x1b[1mtop\x1b[m              \x1b[K\r\n");
        b.wait(if tick == 0 { 0 } else { 3_000_000 })
            .out(screen.as_bytes());
    }
    b.wait(1_000_000).resize(120, 40);
    b.wait(20_000)
        .out(b"\x1b[H\x1b[2J\x1b[Htop - 09:27:10 (resized to 120x40)\x1b[K\r\n");
    b.wait(1_500_000).data(DataStream::Stdin, b"q");
    b.wait(20_000)
        .out(b"\x1b[40;1H\x1b[?1049l\x1b[23;0;0t\r\x1b[?1l\x1b>");
    b.wait(1_000).out(PROMPT);
    b.wait(2_000_000).type_command("exit 3");
    b.wait(10_000).out(b"exit\r\n");
    b.wait(30_000);
    b.end(Some(3))
}

/// A non-interactive `kubectl exec pod -- sh -c ...`: no tty, stdout and
/// stderr interleaved, exit code 0.
pub fn exec_session() -> Vec<SessionEvent> {
    let mut s = start(80, 24, &["sh", "-c", "env | sort; ls /nope"]);
    s.tty = false;
    s.stdin = false;
    s.width = None;
    s.height = None;
    let mut b = SessionBuilder::new("0194f1c3-0b22-7e41-8d0c-99a4c2b1e7f0", s);
    b.wait(40_000)
        .out(b"HOME=/root\nHOSTNAME=web-7d9f6c-x2k4p\nKUBERNETES_PORT=tcp://10.96.0.1:443\n");
    b.wait(2_000)
        .out(b"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n");
    b.wait(1_000).data(
        DataStream::Stderr,
        b"ls: cannot access '/nope': No such file or directory\n",
    );
    b.wait(5_000);
    b.end(Some(0))
}

/// A long synthetic session for benchmarks: `secs` of recorded time and
/// about `total_bytes` of colored output (logs scrolling, a full-screen
/// program now and then, typed commands as markers).
pub fn big_session(secs: u64, total_bytes: usize) -> Vec<SessionEvent> {
    let mut b = SessionBuilder::new("bench-session", start(160, 48, &["/bin/bash"]));
    let chunk_target = 8 * 1024;
    let chunks = (total_bytes / chunk_target).max(1) as u64;
    let step_us = secs * 1_000_000 / chunks;
    let mut line_no = 0u64;
    for c in 0..chunks {
        if c % 200 == 0 {
            b.out(PROMPT);
            b.type_command(&format!("kubectl logs deploy/api-{c} --tail=100"));
        }
        let mut chunk = Vec::with_capacity(chunk_target + 200);
        if c % 500 == 250 {
            chunk.extend_from_slice(b"\x1b[?1049h\x1b[H\x1b[2J");
        }
        while chunk.len() < chunk_target {
            line_no += 1;
            chunk.extend_from_slice(
                format!(
                    "\x1b[36m2026-03-14T09:{:02}:{:02}Z\x1b[0m \x1b[1;32mINFO\x1b[0m request {} GET /api/v1/items/{} 200 {}µs\r\n",
                    (line_no / 60) % 60,
                    line_no % 60,
                    line_no,
                    line_no * 31 % 9973,
                    line_no * 17 % 5000
                )
                .as_bytes(),
            );
        }
        if c % 500 == 260 {
            chunk.extend_from_slice(b"\x1b[?1049l");
        }
        b.wait(step_us).out(&chunk);
    }
    b.wait(1_000);
    b.end(Some(0))
}

/// Serializes events as the JSON-lines form the `--file` source reads.
pub fn to_jsonl(events: &[SessionEvent]) -> String {
    let mut s = String::new();
    for ev in events {
        let e = kac_event::Event::Session(ev.clone());
        s.push_str(&serde_json::to_string(&e).expect("session events serialize"));
        s.push('\n');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn committed_fixtures_match_the_generators() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../samples/sessions");
        for (name, events) in [
            ("shell.jsonl", shell_session()),
            ("exec.jsonl", exec_session()),
        ] {
            let on_disk = std::fs::read_to_string(dir.join(name)).expect(name);
            assert_eq!(
                on_disk,
                to_jsonl(&events),
                "{name} is stale: cargo run -p kac-player --example gen_samples"
            );
        }
    }
}
