//! A service's child process: output to a log file (shown when it fails), killed on drop.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::process::{Child, Command};

pub struct Service {
    name: String,
    child: Child,
    log: PathBuf,
}

impl Service {
    /// Starts `command` with its output in a fresh log file named after `name`.
    pub fn spawn(name: &str, mut command: Command) -> Self {
        let log = std::env::temp_dir().join(format!(
            "vision-{name}-{}-{}.log",
            std::process::id(),
            uuid::Uuid::new_v4().simple()
        ));
        let file = std::fs::File::create(&log).expect("service log file");
        command
            .stdin(Stdio::null())
            .stdout(file.try_clone().expect("log file"))
            .stderr(file)
            .kill_on_drop(true);
        let child = command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        Self {
            name: name.to_string(),
            child,
            log,
        }
    }

    /// Its process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// What the service wrote so far.
    pub fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Polls `ready` until it holds; fails with the service's output if the service exits or
    /// `limit` passes first.
    pub async fn wait_until<F, Fut>(&mut self, limit: Duration, mut ready: F)
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = bool>,
    {
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("child status") {
                panic!(
                    "{} exited ({status}) before it was ready:\n{}",
                    self.name,
                    self.output()
                );
            }
            if ready().await {
                return;
            }
            assert!(
                started.elapsed() < limit,
                "{} not ready within {limit:?}:\n{}",
                self.name,
                self.output()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
        let _ = std::fs::remove_file(&self.log);
    }
}

/// The binary `name`: `$<VAR>` when set, else the first of `candidates` that exists, else `name`
/// on the PATH. Fails with `install_hint` when none is there.
pub fn find_binary(var: &str, candidates: &[PathBuf], name: &str, install_hint: &str) -> PathBuf {
    if let Some(path) = std::env::var_os(var) {
        return PathBuf::from(path);
    }
    let on_path = std::env::var_os("PATH")
        .map(|paths| {
            std::env::split_paths(&paths)
                .map(|dir| dir.join(name))
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    candidates
        .iter()
        .chain(on_path.iter())
        .find(|path| path.is_file())
        .cloned()
        .unwrap_or_else(|| panic!("{name} not found (set {var} to its path): {install_hint}"))
}

/// The workspace root (this crate's parent folder).
pub fn workspace_root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}
