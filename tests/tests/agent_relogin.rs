//! When a password session can no longer be refreshed, kubectl on a
//! terminal gets a password prompt from the credential plugin
//! (`interactiveMode: IfAvailable`) and just works again; without a
//! terminal the plugin fails with "run `kac login`".

use std::process::Command;
use std::time::Duration;

use kac_e2e::{binary, run_with_timeout, Demo};
use serde_json::Value;

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

#[test]
fn an_ended_password_session_prompts_on_a_terminal_and_fails_without_one() {
    let demo = Demo::start_with(&["--credential-ttl", "2s", "--credential-refresh-ttl", "3s"])
        .expect("kac demo starts");
    let home = tempfile::Builder::new()
        .prefix("kac-home-")
        .tempdir()
        .unwrap();
    let kac_home = home.path().join("kac");
    let kc = home.path().join("kubeconfig");
    let env = |cmd: &mut Command| {
        cmd.env("KAC_HOME", &kac_home)
            .env("HOME", home.path())
            .env_remove("KUBECONFIG");
    };
    let mut login = Command::new(binary("kac-agent", "kac").unwrap());
    login
        .args(["login", "--proxy", &demo.proxy_url(), "--user", "sam"])
        .args(["--password-stdin", "--certificate-authority"])
        .arg(demo.ca_file())
        .arg("--kubeconfig")
        .arg(&kc);
    env(&mut login);
    let password = demo.password("sam");
    let out = run_with_timeout(
        login,
        Some(format!("{password}\n").as_bytes()),
        Duration::from_secs(60),
    )
    .unwrap();
    assert!(out.success(), "{out:?}");
    let text = std::fs::read_to_string(&kc).unwrap();
    assert!(text.contains("interactiveMode: IfAvailable"), "{text}");

    let stem = demo
        .proxy_url()
        .trim_start_matches("https://")
        .replace(':', "_");
    let cache_file = kac_home.join(format!("logins/{stem}.json"));
    let cache = || -> Value {
        serde_json::from_str(&std::fs::read_to_string(&cache_file).unwrap()).unwrap()
    };
    let before = cache()["refreshToken"].clone();

    // Let both the access and the refresh token expire.
    std::thread::sleep(Duration::from_secs(4));
    let kubectl = format!(
        "/usr/bin/kubectl --kubeconfig {} --cache-dir {} --context kac-dev get pods -n sam -o name",
        kc.display(),
        home.path().join("cache").display()
    );
    let mut plain = Command::new("sh");
    plain.arg("-c").arg(&kubectl);
    env(&mut plain);
    let out = run_with_timeout(plain, None, Duration::from_secs(60)).unwrap();
    assert_ne!(out.code, Some(0));
    assert!(out.stderr.contains("run `kac login"), "{out:?}");

    // On a terminal (script(1) gives kubectl one), the plugin asks for the
    // password, logs in again, and the command succeeds.
    let mut tty = Command::new("sh");
    tty.arg("-c")
        .arg(format!("script -qec {} /dev/null", shell_quote(&kubectl)));
    env(&mut tty);
    let out = run_with_timeout(
        tty,
        Some(format!("{password}\n").as_bytes()),
        Duration::from_secs(60),
    )
    .unwrap();
    assert!(out.success(), "{out:?}");
    assert!(out.stdout.contains("Password for sam at"), "{out:?}");
    assert!(out.stdout.contains("pod/"), "{out:?}");
    assert_ne!(cache()["refreshToken"], before, "a new session was cached");
}
