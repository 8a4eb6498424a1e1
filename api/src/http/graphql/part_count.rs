//! Counts the parts of a multipart body while it streams in, so that an upload of thousands of
//! tiny files is cut off before they are spooled to temporary files (the size bounds alone let
//! them through; async-graphql's `max_num_files` bounds only the total size).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use futures::{Stream, StreamExt};

/// The `boundary` parameter of a multipart content type.
pub fn boundary(content_type: &str) -> Option<String> {
    content_type.split(';').skip(1).find_map(|param| {
        let (name, value) = param.split_once('=')?;
        name.trim()
            .eq_ignore_ascii_case("boundary")
            .then(|| value.trim().trim_matches('"').to_string())
            .filter(|b| !b.is_empty())
    })
}

/// Passes `body` through, failing it once it holds more than `max_parts` parts; `tripped` tells
/// afterwards that this is why it failed.
pub fn limit_parts<S>(
    body: S,
    boundary: &str,
    max_parts: usize,
    tripped: Arc<AtomicBool>,
) -> impl Stream<Item = std::io::Result<Bytes>> + use<S>
where
    S: Stream<Item = std::io::Result<Bytes>>,
{
    let needle = format!("--{boundary}").into_bytes();
    let mut tail: Vec<u8> = Vec::new();
    let mut delimiters = 0usize;
    body.map(move |chunk| {
        let chunk = chunk?;
        // The delimiter may straddle chunks: search the last bytes of the one before too.
        let mut window = std::mem::take(&mut tail);
        window.extend_from_slice(&chunk);
        delimiters += window
            .windows(needle.len())
            .filter(|w| *w == needle.as_slice())
            .count();
        let keep = needle.len().saturating_sub(1).min(window.len());
        tail = window[window.len() - keep..].to_vec();
        // n delimiters open n - 1 parts (the last one closes the body).
        if delimiters > max_parts + 1 {
            tripped.store(true, Ordering::Relaxed);
            return Err(std::io::Error::other(
                "too many parts in the multipart body",
            ));
        }
        Ok(chunk)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(parts: usize) -> Vec<u8> {
        let mut body = Vec::new();
        for i in 0..parts {
            body.extend_from_slice(
                format!("--XyZ\r\nContent-Disposition: form-data; name=\"{i}\"\r\n\r\nx\r\n")
                    .as_bytes(),
            );
        }
        body.extend_from_slice(b"--XyZ--\r\n");
        body
    }

    async fn run(body: Vec<u8>, chunk: usize, max: usize) -> (bool, bool) {
        let chunks: Vec<std::io::Result<Bytes>> = body
            .chunks(chunk)
            .map(|c| Ok(Bytes::copy_from_slice(c)))
            .collect();
        let tripped = Arc::new(AtomicBool::new(false));
        let results: Vec<_> =
            limit_parts(futures::stream::iter(chunks), "XyZ", max, tripped.clone())
                .collect()
                .await;
        (
            results.iter().all(Result::is_ok),
            tripped.load(Ordering::Relaxed),
        )
    }

    #[tokio::test]
    async fn parts_are_counted_across_chunks() {
        for chunk in [1, 3, 7, 1000] {
            assert_eq!(run(body(5), chunk, 5).await, (true, false), "chunk {chunk}");
            assert_eq!(run(body(6), chunk, 5).await, (false, true), "chunk {chunk}");
        }
    }

    #[test]
    fn boundaries_are_read_from_the_content_type() {
        assert_eq!(
            boundary("multipart/form-data; boundary=abc").as_deref(),
            Some("abc")
        );
        assert_eq!(
            boundary("multipart/form-data; Boundary=\"a b\"").as_deref(),
            Some("a b")
        );
        assert_eq!(boundary("multipart/form-data"), None);
    }
}
