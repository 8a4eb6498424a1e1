//! Starts `vision serve`, or the reference Python stack under uvicorn, as a child process on a
//! free port with a fresh data directory.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::process::{Child, Command};

use crate::Args;

pub struct Server {
    pub url: String,
    child: Option<Child>,
    _data: Option<tempfile::TempDir>,
}

impl Server {
    pub fn external(url: String) -> Self {
        Self {
            url: url.trim_end_matches('/').to_string(),
            child: None,
            _data: None,
        }
    }

    pub async fn start(args: &Args) -> anyhow::Result<Self> {
        let binary = match &args.binary {
            Some(b) => b.clone(),
            None => std::env::current_exe()?
                .parent()
                .map(|d| d.join("vision"))
                .unwrap_or_else(|| PathBuf::from("vision")),
        };
        anyhow::ensure!(
            binary.exists(),
            "{} not found: build it with `cargo build --release -p vision-api` or pass --binary",
            binary.display()
        );
        let port = free_port()?;
        let data = tempfile::tempdir()?;
        let mut command = Command::new(&binary);
        command
            .arg("serve")
            .env("VISION_ADDR", format!("127.0.0.1:{port}"))
            .env("VISION_DATA_DIR", data.path())
            .env("VISION_MODELS_DIR", &args.models)
            .env("VISION_RUNTIME", &args.runtime)
            .env("RUST_LOG", "warn");
        Self::spawn(command, port, data).await
    }

    /// The reference Python stack (`app.py` in `--python-app`), one uvicorn process.
    pub async fn start_python(args: &Args) -> anyhow::Result<Self> {
        anyhow::ensure!(
            args.python.exists(),
            "{} not found: create it with `scripts/python-env.sh` or pass --python",
            args.python.display()
        );
        let port = free_port()?;
        let data = tempfile::tempdir()?;
        let mut command = Command::new(&args.python);
        command
            .args(["-m", "uvicorn", "app:app", "--app-dir"])
            .arg(&args.python_app)
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args(["--log-level", "warning", "--no-access-log"])
            .env("REF_MODELS_DIR", &args.models)
            .env("REF_DATA_DIR", data.path());
        Self::spawn(command, port, data).await
    }

    async fn spawn(
        mut command: Command,
        port: u16,
        data: tempfile::TempDir,
    ) -> anyhow::Result<Self> {
        let child = command
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()?;
        let mut server = Self {
            url: format!("http://127.0.0.1:{port}"),
            child: Some(child),
            _data: Some(data),
        };
        server.wait_ready(Duration::from_secs(120)).await?;
        Ok(server)
    }

    async fn wait_ready(&mut self, limit: Duration) -> anyhow::Result<()> {
        let http = reqwest::Client::new();
        let deadline = Instant::now() + limit;
        loop {
            if let Some(child) = self.child.as_mut()
                && let Some(status) = child.try_wait()?
            {
                anyhow::bail!("server exited before it was ready ({status})");
            }
            if let Ok(r) = http.get(format!("{}/ready", self.url)).send().await
                && r.status().is_success()
            {
                return Ok(());
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "server not ready after {limit:?}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// The child's peak resident set (VmHWM), when we started it.
    pub fn peak_rss_bytes(&self) -> Option<u64> {
        let pid = self.child.as_ref()?.id()?;
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
        let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kb * 1024)
    }

    pub async fn stop(mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.kill().await;
        }
    }
}

fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}
