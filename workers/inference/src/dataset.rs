//! CIFAR-10 readers, in the three forms it comes in:
//! - a `.tar.gz` of JPEG files in one folder per class (`train/cat/0001.jpg`), as in `shared/data`;
//! - a directory with one folder per class;
//! - the official binary archive `cifar-10-binary.tar.gz` (`data_batch_N.bin`, `test_batch.bin`:
//!   records of 1 label byte + 3072 bytes of planar RGB), re-encoded here as PNG.
//!
//! Samples come back sorted by (class, name), so a run over the same data is reproducible.

use std::io::{Cursor, Read};
use std::path::Path;

use image::{ImageFormat, RgbImage};

/// The ten CIFAR-10 classes, in the dataset's label order (the binary archive's label bytes,
/// and the class folders' names). A property of the dataset: the models' classes come from
/// their bundle.
pub const CIFAR10_CLASSES: [&str; 10] = [
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
];

/// The CIFAR-10 label of a class folder's name, case-insensitive.
pub fn class_index(name: &str) -> Option<usize> {
    CIFAR10_CLASSES
        .iter()
        .position(|c| c.eq_ignore_ascii_case(name.trim()))
}

/// One labelled image, as encoded bytes.
#[derive(Debug, Clone)]
pub struct Sample {
    /// The CIFAR-10 label (index into [`CIFAR10_CLASSES`]).
    pub class_index: usize,
    pub name: String,
    pub bytes: Vec<u8>,
}

impl Sample {
    /// The class name of the label.
    pub fn class(&self) -> &'static str {
        CIFAR10_CLASSES[self.class_index]
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DatasetError {
    #[error("cannot read {path}: {reason}")]
    Read { path: String, reason: String },
    #[error("no CIFAR-10 images found in {0}")]
    Empty(String),
}

/// Which part of the official split a binary batch belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Split {
    Train,
    Test,
}

/// Reads every sample of `path` (archive or directory). For the official binary archive,
/// `split` picks the batches; for the other layouts the path already is one split.
pub fn read_samples(path: &Path, split: Split) -> Result<Vec<Sample>, DatasetError> {
    let read_error = |reason: String| DatasetError::Read {
        path: path.display().to_string(),
        reason,
    };
    let mut samples = if path.is_dir() {
        read_directory(path).map_err(|e| read_error(e.to_string()))?
    } else {
        let file = std::fs::File::open(path).map_err(|e| read_error(e.to_string()))?;
        let gz = flate2::read::GzDecoder::new(std::io::BufReader::new(file));
        read_tar(gz, split).map_err(read_error)?
    };
    if samples.is_empty() {
        return Err(DatasetError::Empty(path.display().to_string()));
    }
    samples.sort_by(|a, b| (a.class_index, &a.name).cmp(&(b.class_index, &b.name)));
    Ok(samples)
}

/// Images per split (train, test) of an official binary archive, every batch checked as
/// [`read_samples`] would, but without decoding a single image: one pass over the archive.
pub fn count_binary_archive(path: &Path) -> Result<[usize; 2], DatasetError> {
    let read_error = |reason: String| DatasetError::Read {
        path: path.display().to_string(),
        reason,
    };
    let file = std::fs::File::open(path).map_err(|e| read_error(e.to_string()))?;
    let gz = flate2::read::GzDecoder::new(std::io::BufReader::new(file));
    let mut archive = tar::Archive::new(gz);
    let mut counts = [0; 2];
    for entry in archive.entries().map_err(|e| read_error(e.to_string()))? {
        let mut entry = entry.map_err(|e| read_error(e.to_string()))?;
        let path = entry.path().map_err(|e| read_error(e.to_string()))?;
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        let slot = match name.as_str() {
            "test_batch.bin" => 1,
            n if n.starts_with("data_batch_") && n.ends_with(".bin") => 0,
            _ => continue,
        };
        let mut bytes = Vec::new();
        entry
            .read_to_end(&mut bytes)
            .map_err(|e| read_error(e.to_string()))?;
        counts[slot] += binary_records(&name, &bytes).map_err(read_error)?.len();
    }
    if counts.contains(&0) {
        return Err(DatasetError::Empty(path.display().to_string()));
    }
    Ok(counts)
}

fn read_directory(root: &Path) -> std::io::Result<Vec<Sample>> {
    let mut samples = Vec::new();
    for class_dir in std::fs::read_dir(root)? {
        let class_dir = class_dir?.path();
        let Some(index) = class_dir
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(class_index)
        else {
            continue;
        };
        for file in std::fs::read_dir(&class_dir)? {
            let file = file?.path();
            if file.is_file() {
                samples.push(Sample {
                    class_index: index,
                    name: file.file_name().unwrap().to_string_lossy().to_string(),
                    bytes: std::fs::read(&file)?,
                });
            }
        }
    }
    Ok(samples)
}

fn read_tar(reader: impl Read, split: Split) -> Result<Vec<Sample>, String> {
    let mut archive = tar::Archive::new(reader);
    let mut samples = Vec::new();
    for entry in archive.entries().map_err(|e| e.to_string())? {
        let mut entry = entry.map_err(|e| e.to_string())?;
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let path = entry.path().map_err(|e| e.to_string())?.to_path_buf();
        let file_name = path
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        let mut bytes = Vec::new();
        entry.read_to_end(&mut bytes).map_err(|e| e.to_string())?;
        if file_name.ends_with(".bin") {
            let wanted = match split {
                Split::Train => file_name.starts_with("data_batch_"),
                Split::Test => file_name == "test_batch.bin",
            };
            if wanted {
                samples.extend(decode_binary_batch(&file_name, &bytes)?);
            }
            continue;
        }
        let class = path
            .parent()
            .and_then(|p| p.file_name())
            .and_then(|n| n.to_str())
            .and_then(class_index);
        if let Some(class_index) = class {
            samples.push(Sample {
                class_index,
                name: file_name,
                bytes,
            });
        }
    }
    Ok(samples)
}

/// Official binary format: 10,000 records of `label, R[1024], G[1024], B[1024]`.
const RECORD: usize = 1 + 3 * 1024;

/// The records of one binary batch, each with its label, once the batch is checked: whole
/// records, labels of the ten classes.
fn binary_records<'a>(batch: &str, bytes: &'a [u8]) -> Result<Vec<(usize, &'a [u8])>, String> {
    if !bytes.len().is_multiple_of(RECORD) {
        return Err(format!(
            "{batch}: {} bytes is not whole records",
            bytes.len()
        ));
    }
    bytes
        .chunks(RECORD)
        .enumerate()
        .map(|(i, record)| match record[0] as usize {
            label if label < 10 => Ok((label, record)),
            label => Err(format!("{batch}: record {i} has label {label}")),
        })
        .collect()
}

fn decode_binary_batch(batch: &str, bytes: &[u8]) -> Result<Vec<Sample>, String> {
    binary_records(batch, bytes)?
        .into_iter()
        .enumerate()
        .map(|(i, (label, record))| {
            let planes = &record[1..];
            let image = RgbImage::from_fn(32, 32, |x, y| {
                let p = (y * 32 + x) as usize;
                image::Rgb([planes[p], planes[1024 + p], planes[2048 + p]])
            });
            let mut png = Cursor::new(Vec::new());
            image
                .write_to(&mut png, ImageFormat::Png)
                .map_err(|e| e.to_string())?;
            Ok(Sample {
                class_index: label,
                name: format!("{}-{i:05}.png", batch.trim_end_matches(".bin")),
                bytes: png.into_inner(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tar_gz(entries: &[(&str, Vec<u8>)]) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        for (path, bytes) in entries {
            let mut header = tar::Header::new_gnu();
            header.set_size(bytes.len() as u64);
            header.set_mode(0o644);
            header.set_cksum();
            builder.append_data(&mut header, path, &bytes[..]).unwrap();
        }
        let tar = builder.into_inner().unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, &tar).unwrap();
        gz.finish().unwrap()
    }

    #[test]
    fn reads_class_folders_and_binary_batches() {
        let dir = std::env::temp_dir().join(format!("vision-ds-{}", uuid_like()));
        std::fs::create_dir_all(&dir).unwrap();
        let folders = dir.join("folders.tar.gz");
        std::fs::write(
            &folders,
            tar_gz(&[
                ("test/cat/2.jpg", b"b".to_vec()),
                ("test/airplane/1.jpg", b"a".to_vec()),
                ("test/unknown/3.jpg", b"c".to_vec()),
            ]),
        )
        .unwrap();
        let samples = read_samples(&folders, Split::Test).unwrap();
        let got: Vec<_> = samples
            .iter()
            .map(|s| (s.class_index, s.name.as_str()))
            .collect();
        assert_eq!(got, [(0, "1.jpg"), (3, "2.jpg")]);

        let mut record = vec![7u8];
        record.extend(std::iter::repeat_n(200u8, 3072));
        let binary = dir.join("cifar-10-binary.tar.gz");
        std::fs::write(
            &binary,
            tar_gz(&[
                ("cifar-10-batches-bin/test_batch.bin", record.clone()),
                (
                    "cifar-10-batches-bin/data_batch_1.bin",
                    [record.clone(), record].concat(),
                ),
            ]),
        )
        .unwrap();
        assert_eq!(read_samples(&binary, Split::Train).unwrap().len(), 2);
        assert_eq!(count_binary_archive(&binary).unwrap(), [2, 1]);
        let test = read_samples(&binary, Split::Test).unwrap();
        assert_eq!(test.len(), 1);
        assert_eq!(test[0].class_index, 7);
        let img = image::load_from_memory(&test[0].bytes).unwrap().to_rgb8();
        assert_eq!(img.dimensions(), (32, 32));
        assert_eq!(img.get_pixel(5, 5).0, [200, 200, 200]);
        std::fs::remove_dir_all(dir).unwrap();
    }

    fn uuid_like() -> String {
        format!("{}-{:?}", std::process::id(), std::thread::current().id())
            .replace(|c: char| !c.is_ascii_alphanumeric(), "")
    }
}
