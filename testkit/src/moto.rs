//! `moto_server` (PyPI `moto[server]`, pinned in models/build/requirements.txt and installed
//! into .venv by scripts/python-env.sh; `MOTO_SERVER` overrides its path) as a real S3 server.

use std::time::Duration;

use tokio::process::Command;

use crate::http::{free_port, http};
use crate::process::{Service, find_binary, workspace_root};

/// A running moto_server on a free loopback port, killed on drop. It accepts any access key.
pub struct Moto {
    /// Held for its drop, which stops the server.
    _service: Service,
    port: u16,
}

impl Moto {
    pub async fn start() -> Self {
        let binary = find_binary(
            "MOTO_SERVER",
            &[workspace_root().join(".venv/bin/moto_server")],
            "moto_server",
            "run scripts/python-env.sh (it installs the pinned moto[server] of \
             models/build/requirements.txt into .venv)",
        );
        let port = free_port();
        let mut command = Command::new(&binary);
        command.args(["-H", "127.0.0.1", "-p", &port.to_string()]);
        let mut service = Service::spawn("moto", command);
        // Answering S3 requests, not only listening: a missing bucket is a 404.
        service
            .wait_until(Duration::from_secs(60), || async move {
                matches!(
                    http(port, "HEAD", "/no-such-bucket-at-all", &[], b"").await,
                    Ok((404, _, _))
                )
            })
            .await;
        Self {
            _service: service,
            port,
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}
