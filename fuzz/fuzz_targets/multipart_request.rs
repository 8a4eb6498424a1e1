//! Multipart uploads (the GraphQL multipart request spec) read with bounds like the gateway's:
//! any body is read or refused, never a panic, and no file is read past its bound.
#![no_main]

use async_graphql::http::MultipartOptions;
use libfuzzer_sys::fuzz_target;

const BOUNDARY: &str = "XyZ";
const MAX_FILE: u64 = 4096;

fuzz_target!(|bytes: &[u8]| {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime");
    let options = MultipartOptions::default()
        .max_file_size(MAX_FILE as usize)
        .max_num_files(4);
    let read = runtime.block_on(async_graphql::http::receive_batch_body(
        Some(format!("multipart/form-data; boundary={BOUNDARY}")),
        futures::io::Cursor::new(bytes.to_vec()),
        options,
    ));
    if let Ok(async_graphql::BatchRequest::Single(request)) = read {
        for upload in &request.uploads {
            let size = upload.content.metadata().map(|m| m.len()).unwrap_or(0);
            assert!(size <= MAX_FILE, "a file of {size} bytes was read");
        }
    }
});
