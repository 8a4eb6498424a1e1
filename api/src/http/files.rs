//! `GET /images/{id}/file`: the stored bytes of an image, for thumbnails and result pages.
//! An image's bytes never change (a new upload gets a new id), so they may be cached for good,
//! privately: they are a viewer's (`Authorization: Bearer <key>` while keys are in force).

use axum::extract::{Path, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use uuid::Uuid;
use vision_core::objects::StoreError;

use super::HttpState;
use crate::auth::Role;
use crate::errors::{ApiError, ApiResult, ErrorCode};

pub async fn image_file(
    State(state): State<HttpState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    state
        .app
        .auth
        .from_headers(&headers)
        .await?
        .require(Role::Viewer)?;
    let id = Uuid::parse_str(&id)
        .map_err(|_| ApiError::new(ErrorCode::InvalidId, "the image id is not a UUID"))?;
    let image = state
        .app
        .db
        .get_image(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("image {id}")))?;
    let bytes = match state.app.store.get(&image.object_key).await {
        Ok(bytes) => bytes,
        // Purged by retention, or lost: the row outlived its object.
        Err(StoreError::NotFound(_)) => {
            return Err(ApiError::not_found(format!("the file of image {id}")));
        }
        Err(e) => return Err(e.into()),
    };
    Ok((
        [
            (header::CONTENT_TYPE, image.content_type),
            (
                header::CACHE_CONTROL,
                "private, max-age=31536000, immutable".to_string(),
            ),
            // The type is the one found in the bytes: never let a browser guess another.
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_string()),
        ],
        bytes,
    )
        .into_response())
}
