//! Starts `vision serve`, or the reference Python stack under uvicorn, as a child process on a
//! free port with a fresh data directory.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::process::{Child, Command};
use vision_testkit::free_port;

use crate::Args;

pub struct Server {
    pub url: String,
    /// The processes we started: the server (or the gateway) first, then a distributed
    /// stack's stages. Measured (metrics, CPU, RSS) and stopped with it.
    processes: Vec<Process>,
    /// Other processes whose CPU time the report shows but that are not ours (a broker we
    /// started), by name.
    helpers: Vec<(String, u32)>,
    /// Whatever must live as long as the server (data folder, a broker we started).
    _keep: Vec<Box<dyn Send + Sync>>,
}

/// One process of the platform that the benchmark started.
pub struct Process {
    pub name: String,
    pub child: Child,
    /// Where it serves `/metrics`.
    pub url: String,
}

impl Server {
    pub fn external(url: String) -> Self {
        Self {
            url: url.trim_end_matches('/').to_string(),
            processes: Vec::new(),
            helpers: Vec::new(),
            _keep: Vec::new(),
        }
    }

    pub async fn start(args: &Args) -> anyhow::Result<Self> {
        let binary = vision_binary(args)?;
        let port = free_port();
        let data = tempfile::tempdir()?;
        let mut command = Command::new(&binary);
        command
            .arg("serve")
            .env("VISION_ADDR", format!("127.0.0.1:{port}"))
            .env("VISION_DATA_DIR", data.path())
            .env("VISION_MODELS_DIR", &args.models)
            .env("VISION_RUNTIME", &args.runtime)
            // The benchmark measures the pipeline at saturation from one address, not the
            // rate limits.
            .env("VISION_RATE_PER_KEY", "0")
            .env("VISION_RATE_PER_IP", "0")
            .env("RUST_LOG", "warn");
        Self::spawn("vision serve", command, port, data).await
    }

    /// The reference Python stack (`app.py` in `--python-app`), one uvicorn process.
    pub async fn start_python(args: &Args) -> anyhow::Result<Self> {
        anyhow::ensure!(
            args.python.exists(),
            "{} not found: create it with `scripts/python-env.sh` or pass --python",
            args.python.display()
        );
        let port = free_port();
        let data = tempfile::tempdir()?;
        let mut command = Command::new(&args.python);
        command
            .args(["-m", "uvicorn", "app:app", "--app-dir"])
            .arg(&args.python_app)
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args(["--log-level", "warning", "--no-access-log"])
            .env("REF_MODELS_DIR", &args.models)
            .env("REF_DATA_DIR", data.path());
        Self::spawn("python reference", command, port, data).await
    }

    async fn spawn(
        name: &str,
        mut command: Command,
        port: u16,
        data: tempfile::TempDir,
    ) -> anyhow::Result<Self> {
        let mut child = command
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()?;
        let url = format!("http://127.0.0.1:{port}");
        wait_ready(&mut child, &url, "server").await?;
        Ok(Self {
            url: url.clone(),
            processes: vec![Process {
                name: name.to_string(),
                child,
                url,
            }],
            helpers: Vec::new(),
            _keep: vec![Box::new(data)],
        })
    }

    /// A distributed stack: the gateway first (its URL is the stack's), then the stages.
    pub fn stack(
        processes: Vec<Process>,
        helpers: Vec<(String, u32)>,
        keep: Vec<Box<dyn Send + Sync>>,
    ) -> Self {
        Self {
            url: processes[0].url.clone(),
            processes,
            helpers,
            _keep: keep,
        }
    }

    /// The URLs of our processes' `/metrics` (none for an external server: then its own URL).
    pub fn metrics_urls(&self) -> Vec<String> {
        match self.processes.is_empty() {
            true => vec![self.url.clone()],
            false => self.processes.iter().map(|p| p.url.clone()).collect(),
        }
    }

    /// Every process we can see, by name: ours and the helpers.
    pub fn pids(&self) -> Vec<(String, u32)> {
        self.processes
            .iter()
            .filter_map(|p| Some((p.name.clone(), p.child.id()?)))
            .chain(self.helpers.iter().cloned())
            .collect()
    }

    /// How many processes we started (none for an external server).
    pub fn process_count(&self) -> usize {
        self.processes.len()
    }

    /// The peak resident set (VmHWM) of our processes, summed.
    pub fn peak_rss_bytes(&self) -> Option<u64> {
        let peaks: Vec<u64> = self
            .processes
            .iter()
            .filter_map(|p| peak_rss(p.child.id()?))
            .collect();
        (!peaks.is_empty()).then(|| peaks.iter().sum())
    }

    pub async fn stop(mut self) {
        for process in &mut self.processes {
            let _ = process.child.kill().await;
        }
    }
}

/// The `vision` binary to start: `--binary`, else the one beside this benchmark.
pub fn vision_binary(args: &Args) -> anyhow::Result<PathBuf> {
    let binary = match &args.binary {
        Some(b) => b.clone(),
        None => std::env::current_exe()?
            .parent()
            .map(|d| d.join("vision"))
            .unwrap_or_else(|| PathBuf::from("vision")),
    };
    anyhow::ensure!(
        binary.exists(),
        "{} not found: build it with `cargo build --release --workspace` or pass --binary",
        binary.display()
    );
    Ok(binary)
}

fn peak_rss(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Waits until the process serving `url` answers `/ready`; fails if `child` exits first or
/// after 120 s.
pub async fn wait_ready(child: &mut Child, url: &str, what: &str) -> anyhow::Result<()> {
    const LIMIT: Duration = Duration::from_secs(120);
    let http = reqwest::Client::new();
    let deadline = Instant::now() + LIMIT;
    loop {
        if let Some(status) = child.try_wait()? {
            anyhow::bail!("{what} exited before it was ready ({status})");
        }
        if let Ok(r) = http.get(format!("{url}/ready")).send().await
            && r.status().is_success()
        {
            return Ok(());
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "{what} not ready after {LIMIT:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
