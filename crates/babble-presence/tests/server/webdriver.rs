//! A W3C WebDriver client for the browser tests: chromedriver on a free port, a headless
//! Chromium session in a process group of its own, and the few commands the tests use
//! (open a URL, run a script, take a screenshot). Plain HTTP through reqwest: the protocol
//! is a handful of JSON calls.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::{free_port, temp_dir};

/// How long a page may take to show a change, or chromedriver and Chromium to start: a guard
/// against a hang, not a performance bound.
pub(crate) const PAGE_WAIT: Duration = Duration::from_secs(30);

/// Whether chromedriver and Chromium are there (see [`crate::support::tool_available`]).
pub(crate) fn chromium_available() -> bool {
    let runs = |program: &str| Command::new(program).arg("--version").output().is_ok_and(|o| o.status.success());
    let chromium = runs("chromedriver") && runs("chromium");
    crate::support::tool_available(chromium, "Chromium", "apt-get install chromium chromium-driver")
}

/// chromedriver and the headless Chromium it started, in a process group of their own that
/// is killed when this is dropped (a failing test included); the temporary directory (page,
/// profile, logs) is removed then.
pub(crate) struct Browser {
    chromedriver: Child,
    http: reqwest::Client,
    base: String,
    session: String,
    /// The session's temporary directory (profile, logs; a page's files may go here).
    pub(crate) dir: PathBuf,
}

impl Browser {
    /// Starts chromedriver on a free port and a headless Chromium session, with `extra`
    /// command-line arguments and a window of `width` × `height`.
    pub(crate) async fn launch(label: &str, extra: &[String], (width, height): (u32, u32)) -> Browser {
        use std::os::unix::process::CommandExt as _;
        let dir = temp_dir(label);
        let port = free_port();
        let log = std::fs::File::create(dir.join("chromedriver.log")).unwrap();
        let chromedriver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            // Chromium's crash handler keeps its database under the configuration directory,
            // whatever --user-data-dir says: keep it in the temporary directory too.
            .env("XDG_CONFIG_HOME", dir.join("config"))
            .env("XDG_CACHE_HOME", dir.join("cache"))
            // Its own group, Chromium's processes with it, so that all are killed together.
            .process_group(0)
            .spawn()
            .expect("chromedriver starts");
        let http = reqwest::Client::builder().timeout(PAGE_WAIT).build().unwrap();
        let mut browser =
            Browser { chromedriver, http, base: format!("http://127.0.0.1:{port}"), session: String::new(), dir };
        browser.wait_ready().await;
        let profile = browser.dir.join("profile");
        let mut args = vec![
            "--headless=new".to_owned(),
            "--no-sandbox".to_owned(),
            "--disable-gpu".to_owned(),
            "--disable-dev-shm-usage".to_owned(),
            "--no-first-run".to_owned(),
            "--no-default-browser-check".to_owned(),
            "--disable-background-networking".to_owned(),
            "--disable-component-update".to_owned(),
            "--disable-extensions".to_owned(),
            format!("--user-data-dir={}", profile.display()),
            format!("--window-size={width},{height}"),
        ];
        args.extend_from_slice(extra);
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"args": args},
        }}});
        let answer = browser.call(reqwest::Method::POST, "/session", Some(capabilities)).await;
        browser.session = answer["sessionId"].as_str().unwrap_or_else(|| panic!("a session: {answer}")).to_owned();
        browser
    }

    /// Waits for chromedriver's `/status` to say it is ready.
    async fn wait_ready(&mut self) {
        let deadline = tokio::time::Instant::now() + PAGE_WAIT;
        loop {
            if let Ok(answer) = self.http.get(format!("{}/status", self.base)).send().await
                && let Ok(status) = answer.json::<Value>().await
                && status["value"]["ready"] == true
            {
                return;
            }
            if let Ok(Some(exit)) = self.chromedriver.try_wait() {
                panic!("chromedriver exited ({exit}):\n{}", self.driver_log());
            }
            assert!(tokio::time::Instant::now() < deadline, "chromedriver not ready:\n{}", self.driver_log());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub(crate) fn driver_log(&self) -> String {
        std::fs::read_to_string(self.dir.join("chromedriver.log")).unwrap_or_default()
    }

    /// A WebDriver command; gives its `value`, panics on an error answer.
    pub(crate) async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let answer = request.send().await.unwrap_or_else(|e| panic!("WebDriver {path}: {e}"));
        let status = answer.status();
        let body: Value = answer.json().await.unwrap();
        assert!(status.is_success(), "WebDriver {path}: {status} {body}\n{}", self.driver_log());
        body["value"].clone()
    }

    /// Loads `url` in the session's window.
    pub(crate) async fn open(&self, url: &str) {
        let path = format!("/session/{}/url", self.session);
        self.call(reqwest::Method::POST, &path, Some(json!({"url": url}))).await;
    }

    /// Runs `script` (a function body) in the page and gives what it returns.
    pub(crate) async fn run(&self, script: &str) -> Value {
        let path = format!("/session/{}/execute/sync", self.session);
        self.call(reqwest::Method::POST, &path, Some(json!({"script": script, "args": []}))).await
    }

    /// Resizes the window (a phone's screen, say).
    pub(crate) async fn resize(&self, width: u32, height: u32) {
        let path = format!("/session/{}/window/rect", self.session);
        self.call(reqwest::Method::POST, &path, Some(json!({"width": width, "height": height}))).await;
    }

    /// Saves what the window shows as a PNG at `path`.
    pub(crate) async fn screenshot(&self, path: &Path) {
        use base64::Engine;
        let shot = self.call(reqwest::Method::GET, &format!("/session/{}/screenshot", self.session), None).await;
        let png = base64::engine::general_purpose::STANDARD.decode(shot.as_str().unwrap_or_default()).unwrap();
        std::fs::write(path, png).unwrap();
    }

    /// Runs `script` in the page until it returns true; after [`PAGE_WAIT`] panics saying
    /// `what` was not shown, with what `describe` (another script) returns then.
    pub(crate) async fn until_true(&self, what: &str, script: &str, describe: &str) {
        let deadline = tokio::time::Instant::now() + PAGE_WAIT;
        loop {
            if self.run(script).await == Value::Bool(true) {
                return;
            }
            if tokio::time::Instant::now() > deadline {
                panic!("the page did not show {what}:\n{}", self.run(describe).await);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Ends the session (Chromium quits); the group is killed on drop all the same.
    pub(crate) async fn close(self) {
        let path = format!("/session/{}", self.session);
        self.call(reqwest::Method::DELETE, &path, None).await;
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // The group chromedriver leads: chromedriver and every Chromium process.
        let group = format!("-{}", self.chromedriver.id());
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
        let _ = self.chromedriver.wait();
        std::fs::remove_dir_all(&self.dir).ok();
    }
}
