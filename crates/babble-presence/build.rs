//! Finds which third-party SIP peers the interop tests can drive on this machine, so that a
//! test whose peer is missing is reported by `cargo test` as ignored (naming what to install)
//! rather than counted as passed. Each peer found sets a `cfg` (`has_sipp`, ...) that the
//! tests' `cfg_attr(not(...), ignore)` reads. Under `BABBLE_REQUIRE_INTEROP=1` (as CI runs)
//! every one is set, so no interop test is ignored and a missing peer fails its test.
//!
//! The script runs again when PATH, the directories on it or Python's package directory
//! change, so installing a peer is noticed at the next build.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Each peer: its `cfg`, and how to tell it is installed.
const PEERS: [(&str, Probe); 9] = [
    ("has_sipp", Probe::OnPath("sipp")),
    ("has_baresip", Probe::OnPath("baresip")),
    ("has_linphonec", Probe::OnPath("linphonec")),
    ("has_schemathesis", Probe::OnPath("schemathesis")),
    ("has_kamailio", Probe::OnPathOrSbin("kamailio")),
    ("has_pjsua2", Probe::PythonModule("pjsua2")),
    // The RFC 4662 schema check of interop/rlmi/list_subscriber.py.
    ("has_xmlschema", Probe::PythonModule("xmlschema")),
    // JsSIP and SIP.js, installed by `npm ci` in interop/js.
    ("has_js_stacks", Probe::InRepository("interop/js/node_modules/jssip/package.json")),
    ("has_chromium", Probe::OnPath("chromedriver")),
];

#[derive(Clone, Copy)]
enum Probe {
    OnPath(&'static str),
    /// Debian installs daemons in /usr/sbin, which a user's PATH may lack.
    OnPathOrSbin(&'static str),
    PythonModule(&'static str),
    /// A file under the repository's root.
    InRepository(&'static str),
}

fn main() {
    println!("cargo::rerun-if-env-changed=PATH");
    println!("cargo::rerun-if-env-changed=BABBLE_REQUIRE_INTEROP");
    let path = path_dirs();
    for dir in path.iter().chain(python_packages().as_ref()) {
        println!("cargo::rerun-if-changed={}", dir.display());
    }
    println!("cargo::rerun-if-changed={}", repository().join("interop/js/node_modules").display());
    let required = std::env::var("BABBLE_REQUIRE_INTEROP").as_deref() == Ok("1");
    for (cfg, probe) in PEERS {
        println!("cargo::rustc-check-cfg=cfg({cfg})");
        if required || found(probe, &path) {
            println!("cargo::rustc-cfg={cfg}");
        }
    }
}

fn path_dirs() -> Vec<PathBuf> {
    std::env::var_os("PATH").map(|p| std::env::split_paths(&p).filter(|d| d.is_dir()).collect()).unwrap_or_default()
}

/// Where `pip install` puts modules, so installing pjsua2 is noticed too.
fn python_packages() -> Option<PathBuf> {
    let out = Command::new("python3").args(["-c", "import sysconfig; print(sysconfig.get_path('platlib'))"]).output();
    let dir = PathBuf::from(String::from_utf8(out.ok()?.stdout).ok()?.trim());
    dir.is_dir().then_some(dir)
}

fn found(probe: Probe, path: &[PathBuf]) -> bool {
    let on = |dirs: &[PathBuf], name: &str| dirs.iter().any(|d| d.join(name).is_file());
    match probe {
        Probe::OnPath(name) => on(path, name),
        Probe::OnPathOrSbin(name) => on(path, name) || Path::new("/usr/sbin").join(name).is_file(),
        Probe::PythonModule(module) => Command::new("python3")
            .args(["-c", &format!("import {module}")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success()),
        Probe::InRepository(file) => repository().join(file).is_file(),
    }
}

fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}
