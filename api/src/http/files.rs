//! `GET /images/{id}/file`: the stored bytes of an image, for thumbnails and result pages.
//! An image's bytes never change (a new upload gets a new id), so they may be cached for good.

use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use uuid::Uuid;
use vision_core::objects::StoreError;

use super::HttpState;

pub async fn image_file(State(state): State<HttpState>, Path(id): Path<String>) -> Response {
    let Ok(id) = Uuid::parse_str(&id) else {
        return (StatusCode::BAD_REQUEST, "the image id is not a UUID").into_response();
    };
    let image = match state.app.db.get_image(id).await {
        Ok(Some(image)) => image,
        Ok(None) => return (StatusCode::NOT_FOUND, "no image has this id").into_response(),
        Err(e) => {
            tracing::warn!(%id, error = %e, "image lookup failed");
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                "the database is unavailable",
            )
                .into_response();
        }
    };
    match state.app.store.get(&image.object_key).await {
        Ok(bytes) => (
            [
                (header::CONTENT_TYPE, image.content_type),
                (
                    header::CACHE_CONTROL,
                    "public, max-age=31536000, immutable".to_string(),
                ),
            ],
            bytes,
        )
            .into_response(),
        // Purged by retention, or lost: the row outlived its object.
        Err(StoreError::NotFound(_)) => {
            (StatusCode::NOT_FOUND, "the image's file is gone").into_response()
        }
        Err(e) => {
            tracing::warn!(%id, error = %e, "image file read failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "the object store is unavailable",
            )
                .into_response()
        }
    }
}
