//! A small WebDriver (W3C) client over HTTP for the browser tests: starts `chromedriver` on a
//! free port, opens a headless Chromium session, and offers the few commands the tests use
//! (navigate, find, type, click, text, attributes, keyboard, page source, window size, screenshot).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use base64::Engine as _;
use serde_json::{Value, json};

/// The key W3C WebDriver uses for element references.
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

/// Finds an executable on `PATH` (or one of `fallbacks`).
pub fn find_binary(names: &[&str], fallbacks: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .flat_map(|dir| names.iter().map(move |n| dir.join(n)))
        .chain(fallbacks.iter().map(PathBuf::from))
        .find(|p| p.is_file())
}

/// A running chromedriver and one browser session; both end when this is dropped.
pub struct Browser {
    driver: Child,
    http: reqwest::Client,
    base: String,
}

impl Browser {
    /// Starts chromedriver and a headless session of `chromium`.
    pub async fn start(chromedriver: &Path, chromium: &Path) -> Result<Self, String> {
        let mut driver = Command::new(chromedriver)
            .arg("--port=0")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("start chromedriver: {e}"))?;
        // chromedriver announces its port once it listens: no polling, no sleeping.
        let stdout = driver.stdout.take().ok_or("chromedriver has no stdout")?;
        let port = tokio::task::spawn_blocking(move || {
            let mut reader = BufReader::new(stdout);
            let mut line = String::new();
            while reader.read_line(&mut line).ok()? > 0 {
                if let Some(rest) = line.split("started successfully on port ").nth(1) {
                    let port: u16 = rest.trim().trim_end_matches('.').parse().ok()?;
                    // Keep draining so chromedriver never blocks on a full pipe.
                    std::thread::spawn(move || std::io::copy(&mut reader, &mut std::io::sink()));
                    return Some(port);
                }
                line.clear();
            }
            None
        })
        .await
        .map_err(|e| e.to_string())?
        .ok_or("chromedriver did not say which port it listens on")?;
        let http = reqwest::Client::new();
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium.display().to_string(),
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                         "--window-size=1280,1000", "--force-device-scale-factor=1"]
            }
        }}});
        let mut browser = Self { driver, http, base: format!("http://127.0.0.1:{port}") };
        let session = browser.call("POST", "/session", Some(caps)).await?;
        let id = session["sessionId"].as_str().ok_or_else(|| format!("no session id in {session}"))?;
        browser.base = format!("{}/session/{id}", browser.base);
        // Element lookups wait (inside the browser) for the page a click navigated to, instead
        // of racing it: the standard WebDriver wait, no sleeping in the test.
        browser.call("POST", "/timeouts", Some(json!({"implicit": 10_000, "pageLoad": 30_000}))).await?;
        Ok(browser)
    }

    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value, String> {
        let url = format!("{}{path}", self.base);
        let req = match method {
            "GET" => self.http.get(&url),
            "DELETE" => self.http.delete(&url),
            _ => self.http.post(&url).json(&body.unwrap_or_else(|| json!({}))),
        };
        let resp = req.send().await.map_err(|e| format!("{method} {path}: {e}"))?;
        let status = resp.status();
        let v: Value = resp.json().await.map_err(|e| format!("{method} {path}: {e}"))?;
        if !status.is_success() {
            return Err(format!("{method} {path}: {status} {}", v["value"]));
        }
        Ok(v["value"].clone())
    }

    pub async fn goto(&self, url: &str) -> Result<(), String> {
        self.call("POST", "/url", Some(json!({ "url": url }))).await.map(drop)
    }

    pub async fn current_url(&self) -> Result<String, String> {
        Ok(self.call("GET", "/url", None).await?.as_str().unwrap_or_default().to_string())
    }

    /// The element matching CSS `selector`.
    pub async fn find(&self, selector: &str) -> Result<String, String> {
        let v =
            self.call("POST", "/element", Some(json!({"using": "css selector", "value": selector}))).await?;
        match v[ELEMENT_KEY].as_str() {
            Some(id) => Ok(id.to_string()),
            None => Err(format!(
                "no element {selector} ({v}) on {}:\n{}",
                self.current_url().await?,
                self.source().await?
            )),
        }
    }

    pub async fn type_into(&self, selector: &str, text: &str) -> Result<(), String> {
        let el = self.find(selector).await?;
        self.call("POST", &format!("/element/{el}/value"), Some(json!({ "text": text }))).await.map(drop)
    }

    pub async fn click(&self, selector: &str) -> Result<(), String> {
        let el = self.find(selector).await?;
        self.call("POST", &format!("/element/{el}/click"), None).await.map(drop)
    }

    pub async fn text(&self, selector: &str) -> Result<String, String> {
        let el = self.find(selector).await?;
        Ok(self
            .call("GET", &format!("/element/{el}/text"), None)
            .await?
            .as_str()
            .unwrap_or_default()
            .to_string())
    }

    pub async fn source(&self) -> Result<String, String> {
        Ok(self.call("GET", "/source", None).await?.as_str().unwrap_or_default().to_string())
    }

    /// Resizes the window (CSS pixels at scale 1), e.g. to a phone's width.
    pub async fn resize(&self, width: u32, height: u32) -> Result<(), String> {
        self.call("POST", "/window/rect", Some(json!({ "width": width, "height": height }))).await.map(drop)
    }

    /// Whether the page scrolls sideways (content wider than the window).
    pub async fn overflows_sideways(&self) -> Result<bool, String> {
        let script = "return document.documentElement.scrollWidth > document.documentElement.clientWidth;";
        let v = self.call("POST", "/execute/sync", Some(json!({ "script": script, "args": [] }))).await?;
        Ok(v.as_bool().unwrap_or(true))
    }

    /// The attribute `name` of the element matching `selector`.
    pub async fn attribute(&self, selector: &str, name: &str) -> Result<String, String> {
        let el = self.find(selector).await?;
        let v = self.call("GET", &format!("/element/{el}/attribute/{name}"), None).await?;
        Ok(v.as_str().unwrap_or_default().to_string())
    }

    /// Presses Tab `n` times from the page's start and says which element has the focus (its id).
    pub async fn tab_to(&self, n: usize) -> Result<String, String> {
        let keys: Vec<serde_json::Value> = (0..n)
            .flat_map(|_| {
                [
                    json!({"type": "keyDown", "value": "\u{E004}"}),
                    json!({"type": "keyUp", "value": "\u{E004}"}),
                ]
            })
            .collect();
        let actions = json!({"actions": [{"type": "key", "id": "keyboard", "actions": keys}]});
        self.call("POST", "/actions", Some(actions)).await?;
        let v = self
            .call(
                "POST",
                "/execute/sync",
                Some(json!({"script": "return document.activeElement.id;", "args": []})),
            )
            .await?;
        Ok(v.as_str().unwrap_or_default().to_string())
    }

    /// A PNG of the viewport.
    pub async fn screenshot(&self) -> Result<Vec<u8>, String> {
        let b64 = self.call("GET", "/screenshot", None).await?;
        base64::engine::general_purpose::STANDARD
            .decode(b64.as_str().unwrap_or_default())
            .map_err(|e| e.to_string())
    }

    /// Ends the session and the driver.
    pub async fn quit(mut self) {
        let _ = self.call("DELETE", "", None).await;
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
    }
}
