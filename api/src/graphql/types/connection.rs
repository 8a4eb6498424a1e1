//! Relay-style connections: `edges { cursor node }`, `pageInfo { hasNextPage endCursor }`.

use async_graphql::{Context, Object, SimpleObject};
use vision_db::Cursor;
use vision_db::entities::{images, predictions};

use super::{Image, Prediction};
use crate::errors::ApiResult;
use crate::state::AppState;

#[derive(Debug, Clone, SimpleObject)]
pub struct PageInfo {
    pub has_next_page: bool,
    /// Pass as `after` to get the next page.
    pub end_cursor: Option<String>,
}

fn cursor(created_at: chrono::DateTime<chrono::Utc>, id: uuid::Uuid) -> String {
    Cursor { created_at, id }.encode()
}

pub struct ImageEdge(images::Model);

#[Object]
impl ImageEdge {
    async fn cursor(&self) -> String {
        cursor(self.0.created_at, self.0.id)
    }

    async fn node(&self) -> Image {
        Image(self.0.clone())
    }
}

pub struct ImageConnection {
    rows: Vec<images::Model>,
    has_next_page: bool,
    filter: vision_db::ImageFilter,
}

impl ImageConnection {
    pub fn new(
        rows: Vec<images::Model>,
        has_next_page: bool,
        filter: vision_db::ImageFilter,
    ) -> Self {
        Self {
            rows,
            has_next_page,
            filter,
        }
    }
}

#[Object]
impl ImageConnection {
    async fn edges(&self) -> Vec<ImageEdge> {
        self.rows.iter().cloned().map(ImageEdge).collect()
    }

    async fn page_info(&self) -> PageInfo {
        PageInfo {
            has_next_page: self.has_next_page,
            end_cursor: self.rows.last().map(|r| cursor(r.created_at, r.id)),
        }
    }

    /// Images matching the filter, on every page (counted only when asked for).
    async fn total_count(&self, ctx: &Context<'_>) -> ApiResult<i64> {
        let state = ctx.data_unchecked::<AppState>();
        let count = state.db.count_images(&self.filter).await?;
        Ok(count as i64)
    }
}

pub struct PredictionEdge(predictions::Model);

#[Object]
impl PredictionEdge {
    async fn cursor(&self) -> String {
        cursor(self.0.created_at, self.0.id)
    }

    async fn node(&self) -> Prediction {
        Prediction(self.0.clone())
    }
}

pub struct PredictionConnection {
    rows: Vec<predictions::Model>,
    has_next_page: bool,
}

impl PredictionConnection {
    pub fn new(rows: Vec<predictions::Model>, has_next_page: bool) -> Self {
        Self {
            rows,
            has_next_page,
        }
    }
}

#[Object]
impl PredictionConnection {
    async fn edges(&self) -> Vec<PredictionEdge> {
        self.rows.iter().cloned().map(PredictionEdge).collect()
    }

    async fn page_info(&self) -> PageInfo {
        PageInfo {
            has_next_page: self.has_next_page,
            end_cursor: self.rows.last().map(|r| cursor(r.created_at, r.id)),
        }
    }
}
