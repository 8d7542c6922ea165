//! The command line: `check-config` and refusing bad settings.

use std::process::Command;

fn run(args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_babble-presence")).args(args).output().unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr))
}

#[test]
fn check_config_accepts_the_example_and_names_what_is_wrong() {
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/../../etc/babble-presence.toml");
    let (ok, out) = run(&["check-config", example]);
    assert!(ok, "{out}");
    assert!(out.contains("sip listen udp:0.0.0.0:5060"), "{out}");

    let bad = std::env::temp_dir().join(format!("bp-bad-{}.toml", std::process::id()));
    std::fs::write(&bad, "[sip]\nlisten = [\"udp:127.0.0.1:5060\"]\ntypo_key = 1\n").unwrap();
    let (ok, out) = run(&["check-config", bad.to_str().unwrap()]);
    assert!(!ok);
    assert!(out.contains("typo_key"), "the error names the unknown key: {out}");
    std::fs::remove_file(&bad).ok();
}

#[test]
fn bad_listen_flag_is_refused_before_starting() {
    let (ok, out) = run(&["--listen", "sctp:127.0.0.1:5060"]);
    assert!(!ok);
    assert!(out.contains("unknown transport"), "{out}");
}
