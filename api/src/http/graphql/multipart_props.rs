//! Property-based tests (issue "Security") of the multipart request reader with the gateway's
//! bounds: arbitrary bodies, and real uploads cut or corrupted anywhere, are read or refused,
//! never a panic; nothing is read past the bounds. 10,000 cases each.

use async_graphql::http::MultipartOptions;
use proptest::prelude::*;

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 10_000,
        ..ProptestConfig::default()
    }
}

const BOUNDARY: &str = "XyZ";

fn read(body: Vec<u8>) -> Result<async_graphql::BatchRequest, async_graphql::ParseRequestError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let options = MultipartOptions::default()
        .max_file_size(4096)
        .max_num_files(4);
    runtime.block_on(super::multipart::read(
        futures::stream::iter([Ok(bytes::Bytes::from(body))]),
        BOUNDARY,
        options,
    ))
}

fn upload(file: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    let part = |body: &mut Vec<u8>, name: &str, extra: &str, content: &[u8]| {
        body.extend_from_slice(
            format!(
                "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"{extra}\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(content);
        body.extend_from_slice(b"\r\n");
    };
    part(&mut body, "operations", "", br#"{"query":"mutation($f: Upload!) { uploadImage(file: $f) { id } }","variables":{"f":null}}"#);
    part(&mut body, "map", "", br#"{"0":["variables.f"]}"#);
    part(&mut body, "0", "; filename=\"a.png\"", file);
    body.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    body
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn any_body_is_read_or_refused(body in prop::collection::vec(any::<u8>(), 0..1024)) {
        let _ = read(body);
    }

    #[test]
    fn cut_or_corrupted_uploads_are_read_or_refused(
        file in prop::collection::vec(any::<u8>(), 0..6000),
        cut in any::<prop::sample::Index>(),
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..4),
    ) {
        let mut body = upload(&file);
        for (at, value) in flips {
            let i = at.index(body.len());
            body[i] = value;
        }
        let end = cut.index(body.len() + 1);
        if let Ok(async_graphql::BatchRequest::Single(request)) = read(body[..end].to_vec()) {
            for upload in &request.uploads {
                let size = upload.content.metadata().map(|m| m.len()).unwrap_or(0);
                prop_assert!(size <= 4096, "a file of {} bytes was read", size);
            }
        }
    }
}
