//! Cursor pagination: `first` is capped, `after` is an opaque cursor from an earlier page.

use vision_db::Cursor;

use crate::errors::{ApiError, ApiResult, ErrorCode};

/// Largest page (`first`, `limit`) a client may ask for.
pub const MAX_PAGE: i32 = 100;

/// Page size when the client gives none (or null).
pub const DEFAULT_PAGE: i32 = 20;

/// `first` clamped into `0..=MAX_PAGE`.
pub fn page_size(first: Option<i32>) -> u64 {
    first.unwrap_or(DEFAULT_PAGE).clamp(0, MAX_PAGE) as u64
}

pub fn decode_after(after: Option<&str>) -> ApiResult<Option<Cursor>> {
    after
        .map(|text| {
            Cursor::decode(text).map_err(|_| {
                ApiError::new(
                    ErrorCode::BadCursor,
                    format!("{text:?} is not a cursor returned by this API"),
                )
            })
        })
        .transpose()
}

/// Splits a page fetched with one extra row into the page and whether more follow.
pub fn split_page<T>(mut rows: Vec<T>, size: u64) -> (Vec<T>, bool) {
    let more = rows.len() as u64 > size;
    rows.truncate(size as usize);
    (rows, more)
}
