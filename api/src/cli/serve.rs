//! `vision serve` (everything) and `vision api` (the gateway alone).

use crate::config::Config;
use crate::platform::{self, Platform};

pub async fn serve(config: &Config) -> anyhow::Result<()> {
    run(Platform::start(config).await?).await
}

pub async fn api(config: &Config) -> anyhow::Result<()> {
    let bus = platform::distributed_bus(config, "api").await?;
    run(Platform::start_gateway(config, bus).await?).await
}

async fn run(platform: Platform) -> anyhow::Result<()> {
    let token = platform.shutdown_token();
    tokio::spawn(async move {
        super::shutdown_signal().await;
        token.cancel();
    });
    platform.run().await
}
