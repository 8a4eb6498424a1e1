//! The gateway's multipart reader (`api/src/http/graphql/multipart.rs`, compiled here on its
//! own; the GraphQL multipart request spec) with bounds like the gateway's: any body is read or
//! refused, never a panic, and no file is read past its bound.
#![no_main]

use async_graphql::http::MultipartOptions;
use libfuzzer_sys::fuzz_target;

#[path = "../../api/src/http/graphql/multipart.rs"]
#[allow(dead_code)]
mod multipart;

const BOUNDARY: &str = "XyZ";
const MAX_FILE: u64 = 4096;

fuzz_target!(|bytes: &[u8]| {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime");
    let options = MultipartOptions::default()
        .max_file_size(MAX_FILE as usize)
        .max_num_files(4);
    let read = runtime.block_on(multipart::read(
        futures::stream::iter([Ok(bytes::Bytes::from(bytes.to_vec()))]),
        BOUNDARY,
        options,
    ));
    if let Ok(async_graphql::BatchRequest::Single(request)) = read {
        for upload in &request.uploads {
            let size = upload.content.metadata().map(|m| m.len()).unwrap_or(0);
            assert!(size <= MAX_FILE, "a file of {size} bytes was read");
        }
    }
});
