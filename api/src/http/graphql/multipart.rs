//! Reads a multipart request (the GraphQL multipart request spec: `operations`, `map`, then the
//! files) as async-graphql's own reader does, with one difference: where a file is kept.
//!
//! async-graphql writes every file to a temporary file on disk. On ext4 creating one costs an
//! inode allocation, and at saturation that was the gateway's largest cost after the backbone
//! (15 % of all CPU in a profile of 300 uploads/s, most of it for uploads then refused as
//! OVERLOADED). Here a file is spooled, as Starlette's `UploadFile` does: kept in memory (an
//! anonymous memory file on Linux) while it is small, written to a temporary file on disk once
//! it passes [`IN_MEMORY_BYTES`]. Memory held by one request is therefore at most
//! `IN_MEMORY_BYTES` per file, whatever the files' size limit.
//!
//! A file is bounded by the image limit, except in a request whose one operation only registers
//! model versions (`registerModelVersion`): an ONNX file (the shipped extractor is 13.5 MB) is
//! bounded by the registry's limit instead ([`read_within`]).

use std::collections::HashMap;
use std::fs::File;
use std::io::{Seek, Write};

use async_graphql::http::MultipartOptions;
use async_graphql::{BatchRequest, ParseRequestError, UploadValue};
use bytes::Bytes;
use futures::Stream;
use multer::{Constraints, Multipart, SizeLimit};

/// Files up to this size stay in memory; larger ones go to disk as they stream in.
pub const IN_MEMORY_BYTES: usize = 256 * 1024;

/// Reads the request of a multipart body with `boundary`, within `limits` (a file over
/// `max_file_size` or a body over `max_file_size * max_num_files` is
/// [`ParseRequestError::PayloadTooLarge`], cut off as it streams in).
#[cfg(test)]
pub async fn read(
    body: impl Stream<Item = std::io::Result<Bytes>> + Send + 'static,
    boundary: &str,
    limits: MultipartOptions,
) -> Result<BatchRequest, ParseRequestError> {
    read_within(body, boundary, limits, None).await
}

/// [`read`], where a request that only registers model versions may carry a file of up to
/// `model_file_bytes` (when given) instead of `limits.max_file_size`.
pub async fn read_within(
    body: impl Stream<Item = std::io::Result<Bytes>> + Send + 'static,
    boundary: &str,
    limits: MultipartOptions,
    model_file_bytes: Option<usize>,
) -> Result<BatchRequest, ParseRequestError> {
    // The stream's bounds fit the largest request; each file's own is checked below, once the
    // operation is known.
    let largest_file = limits
        .max_file_size
        .map(|file| file.max(model_file_bytes.unwrap_or(0)));
    let mut size = SizeLimit::new();
    if let (Some(file), Some(files)) = (limits.max_file_size, limits.max_num_files) {
        let model = model_file_bytes.map_or(0, |m| m.saturating_add(1024 * 1024));
        size = size.whole_stream(file.saturating_mul(files).max(model) as u64);
    }
    if let Some(file) = largest_file {
        size = size.per_field(file as u64);
    }
    // Until `operations` says the request registers a model, files are images.
    let mut file_limit = limits.max_file_size;
    let mut multipart = Multipart::with_constraints(
        body,
        boundary.to_owned(),
        Constraints::new().size_limit(size),
    );

    let mut operations = None;
    let mut map: Option<HashMap<String, Vec<String>>> = None;
    let mut files = Vec::new();
    while let Some(mut field) = multipart.next_field().await? {
        match field.name() {
            Some("operations") => {
                let bytes = field.bytes().await?;
                let request = serde_json::from_slice::<BatchRequest>(&bytes)
                    .map_err(|e| ParseRequestError::InvalidRequest(Box::new(e)))?;
                if let Some(model) = model_file_bytes
                    && registers_a_model(&request)
                {
                    file_limit = Some(model);
                }
                operations = Some(request);
            }
            Some("map") => {
                let bytes = field.bytes().await?;
                map = Some(
                    serde_json::from_slice(&bytes)
                        .map_err(|e| ParseRequestError::InvalidFilesMap(Box::new(e)))?,
                );
            }
            // A part that is neither is a file only when it has a file name (as async-graphql).
            Some(name) => {
                let Some(filename) = field.file_name().map(ToString::to_string) else {
                    continue;
                };
                let name = name.to_owned();
                let content_type = field.content_type().map(ToString::to_string);
                let mut spool = Spool::default();
                let mut written = 0usize;
                while let Some(chunk) = field.chunk().await? {
                    written += chunk.len();
                    if file_limit.is_some_and(|limit| written > limit) {
                        return Err(ParseRequestError::PayloadTooLarge);
                    }
                    spool.write(&chunk)?;
                }
                files.push((name, filename, content_type, spool.finish()?));
            }
            None => {}
        }
    }

    let mut request = operations.ok_or(ParseRequestError::MissingOperatorsPart)?;
    let mut map = map.ok_or(ParseRequestError::MissingMapPart)?;
    for (name, filename, content_type, content) in files {
        let Some(paths) = map.remove(&name) else {
            continue;
        };
        let upload = UploadValue {
            filename,
            content_type,
            content,
        };
        for path in paths {
            match &mut request {
                BatchRequest::Single(request) => request.set_upload(&path, upload.try_clone()?),
                BatchRequest::Batch(requests) => {
                    // `<index>.variables.<name>` in a batch.
                    if let Some((index, path)) = path.split_once('.')
                        && let Some(request) = index
                            .parse::<usize>()
                            .ok()
                            .and_then(|i| requests.get_mut(i))
                    {
                        request.set_upload(path, upload.try_clone()?);
                    }
                }
            }
        }
    }
    if !map.is_empty() {
        return Err(ParseRequestError::MissingFiles);
    }
    Ok(request)
}

/// Whether `request` is one operation, a mutation whose every root field is
/// `registerModelVersion`: the only one that takes a model file, larger than any image.
fn registers_a_model(request: &BatchRequest) -> bool {
    use async_graphql::parser::types::{OperationType, Selection};
    let BatchRequest::Single(request) = request else {
        return false;
    };
    let Ok(document) = async_graphql::parser::parse_query(&request.query) else {
        return false;
    };
    let mut operations = document.operations.iter();
    let (Some((_, operation)), None) = (operations.next(), operations.next()) else {
        return false;
    };
    let items = &operation.node.selection_set.node.items;
    operation.node.ty == OperationType::Mutation
        && !items.is_empty()
        && items.iter().all(|item| {
            matches!(&item.node, Selection::Field(field)
                if field.node.name.node == "registerModelVersion")
        })
}

/// One file as it streams in: in memory while small, on disk past [`IN_MEMORY_BYTES`].
#[derive(Default)]
struct Spool {
    memory: Vec<u8>,
    disk: Option<File>,
}

impl Spool {
    fn write(&mut self, chunk: &[u8]) -> Result<(), ParseRequestError> {
        if let Some(disk) = &mut self.disk {
            return disk.write_all(chunk).map_err(ParseRequestError::Io);
        }
        if self.memory.len() + chunk.len() <= IN_MEMORY_BYTES {
            self.memory.extend_from_slice(chunk);
            return Ok(());
        }
        let mut disk = tempfile::tempfile().map_err(ParseRequestError::Io)?;
        disk.write_all(&self.memory)?;
        disk.write_all(chunk)?;
        self.memory = Vec::new();
        self.disk = Some(disk);
        Ok(())
    }

    /// The file, read from its start.
    fn finish(self) -> Result<File, ParseRequestError> {
        let mut file = match self.disk {
            Some(disk) => disk,
            None => {
                let mut file = memory_file()?;
                file.write_all(&self.memory)?;
                file
            }
        };
        file.rewind()?;
        Ok(file)
    }
}

/// A file that lives in memory only: no inode on disk to allocate and free.
#[cfg(target_os = "linux")]
fn memory_file() -> std::io::Result<File> {
    use rustix::fs::{MemfdFlags, memfd_create};
    Ok(File::from(memfd_create(c"upload", MemfdFlags::CLOEXEC)?))
}

#[cfg(not(target_os = "linux"))]
fn memory_file() -> std::io::Result<File> {
    tempfile::tempfile()
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use serde_json::json;

    use super::*;

    /// A whole body as the stream [`read`] takes.
    fn in_one_chunk(body: Vec<u8>) -> impl Stream<Item = std::io::Result<Bytes>> + Send + 'static {
        futures::stream::iter([Ok(Bytes::from(body))])
    }

    const BOUNDARY: &str = "b0undary";

    fn body(files: &[(&str, &[u8])], map: &str) -> Vec<u8> {
        body_with(
            br#"{"query":"mutation($a: Upload!, $b: Upload!) { x }","variables":{"a":null,"b":null}}"#,
            files,
            map,
        )
    }

    /// A multipart body with these `operations`, `map` and files.
    fn body_with(operations: &[u8], files: &[(&str, &[u8])], map: &str) -> Vec<u8> {
        let mut body = Vec::new();
        let mut part = |name: &str, extra: &str, content: &[u8]| {
            body.extend_from_slice(
                format!(
                    "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"{extra}\r\n\r\n"
                )
                .as_bytes(),
            );
            body.extend_from_slice(content);
            body.extend_from_slice(b"\r\n");
        };
        part("operations", "", operations);
        part("map", "", map.as_bytes());
        for (name, content) in files {
            part(name, "; filename=\"f.jpg\"", content);
        }
        body.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
        body
    }

    async fn read_body(body: Vec<u8>) -> Result<BatchRequest, ParseRequestError> {
        let limits = MultipartOptions::default()
            .max_file_size(2 * IN_MEMORY_BYTES)
            .max_num_files(4);
        read(in_one_chunk(body), BOUNDARY, limits).await
    }

    #[tokio::test]
    async fn a_model_registration_may_carry_a_larger_file_than_an_image() {
        let limits = MultipartOptions::default()
            .max_file_size(1000)
            .max_num_files(4);
        let with = |query: &str, size: usize| {
            let operations = json!({ "query": query, "variables": { "f": null } }).to_string();
            body_with(
                operations.as_bytes(),
                &[("0", &vec![7; size])],
                r#"{"0":["variables.f"]}"#,
            )
        };
        let register = "mutation($f: Upload!) { registerModelVersion(file: $f, name: \"fast\", \
                        kind: CLASSIFIER) { version } }";
        let upload = "mutation($f: Upload!) { uploadImage(file: $f) { id } }";
        let both = "mutation($f: Upload!) { registerModelVersion(file: $f, name: \"fast\", \
                    kind: CLASSIFIER) { version } uploadImage(file: $f) { id } }";
        let read = |query: &str, size: usize| {
            read_within(
                in_one_chunk(with(query, size)),
                BOUNDARY,
                limits,
                Some(5000),
            )
        };
        assert!(read(register, 4000).await.is_ok());
        assert!(matches!(
            read(register, 6000).await,
            Err(ParseRequestError::PayloadTooLarge)
        ));
        // Anything else keeps the image limit, a registration beside an upload too.
        let commented = format!("# registerModelVersion\n{upload}");
        for query in [upload, both, commented.as_str()] {
            assert!(
                matches!(
                    read(query, 4000).await,
                    Err(ParseRequestError::PayloadTooLarge)
                ),
                "{query}"
            );
            assert!(read(query, 900).await.is_ok(), "{query}");
        }
    }

    fn contents(request: BatchRequest) -> Vec<Vec<u8>> {
        let BatchRequest::Single(request) = request else {
            panic!("one request")
        };
        request
            .uploads
            .into_iter()
            .map(|upload| {
                let mut bytes = Vec::new();
                upload
                    .content
                    .take(u64::MAX)
                    .read_to_end(&mut bytes)
                    .unwrap();
                bytes
            })
            .collect()
    }

    #[tokio::test]
    async fn small_and_large_files_read_back_whole() {
        // One under the in-memory size, one over it (spilled to disk while streaming).
        let small = vec![7u8; 3000];
        let large: Vec<u8> = (0..IN_MEMORY_BYTES + 5000).map(|i| i as u8).collect();
        let request = read_body(body(
            &[("0", &small), ("1", &large)],
            r#"{"0":["variables.a"],"1":["variables.b"]}"#,
        ))
        .await
        .unwrap();
        assert_eq!(contents(request), vec![small, large]);
    }

    #[tokio::test]
    async fn a_file_over_the_limit_and_missing_parts_are_refused() {
        let huge = vec![1u8; 2 * IN_MEMORY_BYTES + 1];
        let over = read_body(body(&[("0", &huge)], r#"{"0":["variables.a"]}"#)).await;
        assert!(
            matches!(over, Err(ParseRequestError::PayloadTooLarge)),
            "{over:?}"
        );
        let missing = read_body(body(&[], r#"{"0":["variables.a"]}"#)).await;
        assert!(
            matches!(missing, Err(ParseRequestError::MissingFiles)),
            "{missing:?}"
        );
        let no_map = read_body(
            format!(
                "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"operations\"\r\n\r\n{{\"query\":\"{{x}}\"}}\r\n--{BOUNDARY}--\r\n"
            )
            .into_bytes(),
        )
        .await;
        assert!(
            matches!(no_map, Err(ParseRequestError::MissingMapPart)),
            "{no_map:?}"
        );
    }
}
