//! `vision dataset download-cifar10`: fetches the official CIFAR-10 archive into the folder
//! replays read (`VISION_CIFAR10_DIR`, by default `./data/cifar10`).

use std::path::PathBuf;

use crate::config::Config;
use crate::replay::download::{self, OFFICIAL_URL};

#[derive(Debug, clap::Subcommand)]
pub enum DatasetCommand {
    /// Downloads the official CIFAR-10 binary archive (about 163 MB) and checks it.
    DownloadCifar10 {
        /// Where to fetch it from.
        #[arg(long, default_value = OFFICIAL_URL)]
        url: String,
        /// Folder to put it in; by default VISION_CIFAR10_DIR, else ./data/cifar10.
        #[arg(long)]
        dir: Option<PathBuf>,
    },
}

pub async fn run(config: &Config, command: DatasetCommand) -> anyhow::Result<()> {
    let DatasetCommand::DownloadCifar10 { url, dir } = command;
    let dir = dir
        .or_else(|| config.cifar10_dir.clone())
        .unwrap_or_else(|| PathBuf::from("data/cifar10"));
    let mut reported = 0;
    let done = download::download_cifar10(&url, &dir, |bytes, total| {
        // A line per 10 MB is enough to see it move.
        if bytes / 10_000_000 > reported {
            reported = bytes / 10_000_000;
            match total {
                Some(total) => eprintln!("{} / {} MB", bytes / 1_000_000, total / 1_000_000),
                None => eprintln!("{} MB", bytes / 1_000_000),
            }
        }
    })
    .await?;
    let [train, test] = done.counts;
    let what = if done.reused {
        "already there"
    } else {
        "downloaded"
    };
    println!(
        "{}: {what}, {} bytes, {train} train and {test} test images",
        done.path.display(),
        done.bytes
    );
    if !download::is_complete_set(done.counts) {
        eprintln!("note: the official set has 50000 train and 10000 test images");
    }
    Ok(())
}
