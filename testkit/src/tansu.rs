//! A `tansu` broker (a Kafka-compatible broker in Rust: `cargo install tansu --version 0.6.0
//! --locked --features dynostore`; `TANSU` overrides its path) with in-memory storage.
//!
//! An outage is a frozen broker ([`Tansu::freeze`], SIGSTOP): in memory, a killed broker would
//! come back empty, and the binary `.ci/run` installs has no persistent engine but S3. Clients
//! must keep their group sessions through it: tansu 0.6.0's group coordinator can assign no
//! partitions at all after a session times out (README, distributed mode).

use std::path::PathBuf;
use std::time::Duration;

use tokio::net::TcpStream;
use tokio::process::Command;

use crate::http::free_port;
use crate::process::{Service, find_binary};

pub struct Tansu {
    service: Service,
    port: u16,
}

impl Tansu {
    /// Starts a broker with in-memory storage on a free port.
    pub async fn start() -> Self {
        let binary = find_binary(
            "TANSU",
            &[home_cargo_bin("tansu")],
            "tansu",
            "install it with `cargo install tansu --version 0.6.0 --locked --features \
             dynostore` (.ci/run does)",
        );
        let port = free_port();
        let listener = format!("tcp://127.0.0.1:{port}");
        let mut command = Command::new(&binary);
        command
            .args(["broker", "--storage-engine", "memory://tansu/"])
            .args(["--kafka-listener-url", &listener])
            .args(["--kafka-advertised-listener-url", &listener])
            .env("RUST_LOG", "warn");
        let mut service = Service::spawn("tansu", command);
        service
            .wait_until(Duration::from_secs(60), || async move {
                TcpStream::connect(("127.0.0.1", port)).await.is_ok()
            })
            .await;
        Self { service, port }
    }

    /// `host:port` for `KAFKA_BROKERS`.
    pub fn brokers(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The broker's process id (the benchmark reads its CPU time).
    pub fn pid(&self) -> Option<u32> {
        self.service.pid()
    }

    /// Stops the broker (SIGSTOP) until [`Tansu::resume`]: it keeps its connections and its
    /// data but answers nothing, like a hung broker or a network that drops every packet.
    pub fn freeze(&self) {
        self.signal("STOP");
    }

    /// Lets a frozen broker go on (SIGCONT).
    pub fn resume(&self) {
        self.signal("CONT");
    }

    fn signal(&self, name: &str) {
        let pid = self.pid().expect("tansu is running").to_string();
        let status = std::process::Command::new("kill")
            .args([format!("-{name}"), pid])
            .status()
            .expect("kill (procps) runs");
        assert!(status.success(), "kill -{name} tansu failed");
    }

    /// What the broker wrote so far (for failure messages).
    pub fn output(&self) -> String {
        self.service.output()
    }
}

fn home_cargo_bin(name: &str) -> PathBuf {
    let home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))
        .unwrap_or_default();
    home.join("bin").join(name)
}
