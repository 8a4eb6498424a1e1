//! Fetching the official CIFAR-10 binary archive, for users with internet access. The file is
//! downloaded beside its destination, checked batch by batch as the reader that replays use
//! checks them, and only then moved into place: an interrupted or corrupt download leaves
//! nothing a replay could pick up.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use tokio::io::AsyncWriteExt;
use vision_inference::dataset;

use super::dataset::OFFICIAL_ARCHIVE;

/// The official binary version (about 163 MB).
pub const OFFICIAL_URL: &str = "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz";

/// Images per split (train, test) in the official set.
const OFFICIAL_COUNTS: [usize; 2] = [50_000, 10_000];

/// What a download produced.
#[derive(Debug)]
pub struct Downloaded {
    pub path: PathBuf,
    pub bytes: u64,
    /// Images found per split (train, test).
    pub counts: [usize; 2],
    /// Whether the file was already there and valid (nothing downloaded).
    pub reused: bool,
}

/// Downloads `url` into `dir/cifar-10-binary.tar.gz` unless a valid archive is already there.
/// `progress` is called with (bytes so far, total if known).
pub async fn download_cifar10(
    url: &str,
    dir: &Path,
    mut progress: impl FnMut(u64, Option<u64>),
) -> anyhow::Result<Downloaded> {
    let path = dir.join(OFFICIAL_ARCHIVE);
    if path.is_file()
        && let Ok(counts) = check(&path).await
    {
        let bytes = std::fs::metadata(&path)?.len();
        return Ok(Downloaded {
            path,
            bytes,
            counts,
            reused: true,
        });
    }
    tokio::fs::create_dir_all(dir)
        .await
        .with_context(|| format!("cannot create {}", dir.display()))?;
    let partial = dir.join(format!(".{OFFICIAL_ARCHIVE}.part"));
    let result = fetch(url, &partial, &mut progress).await;
    let outcome = match result {
        Ok(bytes) => match check(&partial).await {
            Ok(counts) => Ok((bytes, counts)),
            Err(e) => Err(e.context(format!("{url} is not a CIFAR-10 binary archive"))),
        },
        Err(e) => Err(e),
    };
    let (bytes, counts) = match outcome {
        Ok(done) => done,
        Err(e) => {
            let _ = tokio::fs::remove_file(&partial).await;
            return Err(e);
        }
    };
    tokio::fs::rename(&partial, &path)
        .await
        .with_context(|| format!("cannot move the download to {}", path.display()))?;
    Ok(Downloaded {
        path,
        bytes,
        counts,
        reused: false,
    })
}

async fn fetch(
    url: &str,
    to: &Path,
    progress: &mut impl FnMut(u64, Option<u64>),
) -> anyhow::Result<u64> {
    let mut response = reqwest::get(url)
        .await
        .with_context(|| format!("cannot reach {url}"))?;
    if !response.status().is_success() {
        bail!("{url} answered {}", response.status());
    }
    let total = response.content_length();
    let mut file = tokio::fs::File::create(to)
        .await
        .with_context(|| format!("cannot write {}", to.display()))?;
    let mut written = 0u64;
    while let Some(chunk) = response
        .chunk()
        .await
        .with_context(|| format!("the download from {url} broke off"))?
    {
        file.write_all(&chunk).await?;
        written += chunk.len() as u64;
        progress(written, total);
    }
    file.flush().await?;
    if total.is_some_and(|total| total != written) {
        bail!("the download from {url} ended early ({written} bytes)");
    }
    Ok(written)
}

/// Checks every batch of both splits; returns their image counts.
async fn check(path: &Path) -> anyhow::Result<[usize; 2]> {
    let path = path.to_path_buf();
    Ok(tokio::task::spawn_blocking(move || dataset::count_binary_archive(&path)).await??)
}

/// Whether `counts` are those of the full official set.
pub fn is_complete_set(counts: [usize; 2]) -> bool {
    counts == OFFICIAL_COUNTS
}
