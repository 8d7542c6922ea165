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
    assert!(out.contains("  profile linksys-spa962: User-Agent SPA962\n"), "built-in profiles listed: {out}");

    let lobby = std::env::temp_dir().join(format!("bp-lobby-{}.toml", std::process::id()));
    std::fs::write(
        &lobby,
        "[[profiles]]\nname = \"lobby\"\naddresses = [\"192.0.2.0/24\"]\nidle_dummy_dialog = true\n",
    )
    .unwrap();
    let (ok, out) = run(&["check-config", lobby.to_str().unwrap()]);
    assert!(ok, "{out}");
    let profiles: Vec<&str> = out.lines().filter(|l| l.starts_with("  profile ")).collect();
    assert_eq!(profiles[0], "  profile lobby: addresses 192.0.2.0/24", "configured ones are tried first: {out}");
    std::fs::remove_file(&lobby).ok();

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
    // A name says that names are not taken, and what to write instead (it said "not HOST:PORT").
    for flag in [["--listen", "udp:localhost:5060"], ["--http", "localhost:8080"]] {
        let (ok, out) = run(&flag);
        assert!(!ok);
        assert!(out.contains("\"localhost\" is a name, and HOST must be an IP address: 127.0.0.1"), "{out}");
    }
}

/// Errors that stop the start say each cause once, and name what they are about.
#[test]
fn start_errors_name_the_path_or_address_and_say_the_cause_once() {
    let taken = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let listen = format!("udp:{}", taken.local_addr().unwrap());
    let (ok, out) = run(&["--listen", &listen, "--http", "127.0.0.1:0", "--data-dir", "none"]);
    assert!(!ok);
    let cause = "Address already in use";
    assert!(out.contains(&format!("binding {listen}: {cause}")), "{out}");
    assert_eq!(out.matches(cause).count(), 1, "{out}");

    let file = std::env::temp_dir().join(format!("bp-not-a-dir-{}", std::process::id()));
    std::fs::write(&file, "").unwrap();
    let under_a_file = file.join("data");
    let (ok, out) =
        run(&["--listen", "udp:127.0.0.1:0", "--http", "127.0.0.1:0", "--data-dir", under_a_file.to_str().unwrap()]);
    assert!(!ok);
    assert!(out.contains(&format!("data directory {}", under_a_file.display())), "{out}");
    assert_eq!(out.matches("Not a directory").count(), 1, "{out}");
    std::fs::remove_file(&file).ok();
}

/// `check-config FILE | head -1`: a reader that goes away before the report is written is not
/// a failure (the write meets a closed pipe; it used to panic, exit 101).
#[test]
fn check_config_into_a_closed_pipe_succeeds() {
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/../../etc/babble-presence.toml");
    for _ in 0..5 {
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_babble-presence"))
            .args(["check-config", example])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // Closed before the child can write: every write it makes finds no reader.
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{:?}: {}", out.status, String::from_utf8_lossy(&out.stderr));
    }
}

/// Text logs into a pipe (a file, the journal) carry no ANSI colour codes.
#[test]
fn text_logs_into_a_pipe_are_plain() {
    use std::io::BufRead;
    let mut child = Command::new(env!("CARGO_BIN_EXE_babble-presence"))
        .args(["--log-format", "text", "run", "--listen", "udp:127.0.0.1:0", "--http", "127.0.0.1:0"])
        .args(["--data-dir", "none"])
        .env("RUST_LOG", "info")
        .stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let lines: Vec<String> =
        stderr.lines().map_while(Result::ok).take_while(|l| !l.contains("ready")).take(20).collect();
    let _ = child.kill();
    let _ = child.wait();
    assert!(lines.iter().any(|l| l.contains("listening")), "{lines:?}");
    assert!(lines.iter().all(|l| !l.contains('\x1b')), "colour codes in a pipe: {lines:?}");
}

/// Unset, the data directory is the unit's `StateDirectory=`, else the user's state directory:
/// never the working directory (under systemd, `/`).
#[test]
fn the_default_data_directory_does_not_depend_on_the_working_directory() {
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/../../etc/babble-presence.toml");
    let data_dir = |env: &[(&str, &str)]| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_babble-presence"));
        command
            .args(["check-config", example])
            .current_dir("/")
            .env_remove("STATE_DIRECTORY")
            .env_remove("XDG_STATE_HOME");
        let out = command.envs(env.iter().copied()).output().unwrap();
        let out = String::from_utf8_lossy(&out.stdout).into_owned();
        out.lines().find_map(|l| l.strip_prefix("  data dir ")).unwrap_or_default().to_owned()
    };
    assert_eq!(data_dir(&[("STATE_DIRECTORY", "/var/lib/babble-presence")]), "/var/lib/babble-presence");
    assert_eq!(data_dir(&[("XDG_STATE_HOME", "/home/op/.state")]), "/home/op/.state/babble-presence");
    assert_eq!(data_dir(&[("HOME", "/home/op")]), "/home/op/.local/state/babble-presence");
}
