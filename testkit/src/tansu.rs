//! A `tansu` broker (a Kafka-compatible broker in Rust: `cargo install tansu --version 0.6.0
//! --locked --features dynostore`; `TANSU` overrides its path) with in-memory storage.
//!
//! Only what tansu 0.6.0 does reliably is used: producing, consumer groups, static members
//! replaced after SIGKILL. Its persistent engines (SQLite, S3) and its group coordinator after
//! clients lose their connections for a few seconds did not hold up here (README, distributed
//! mode), so the tests do not stop or cut off the broker.

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
