//! Dataloaders: the images, predictions and comparisons that one response needs are fetched in
//! one query per kind, however many objects ask for them (no N+1). No cache: a subscription
//! lives long and must see fresh rows; batching is what matters.

use std::collections::HashMap;

use async_graphql::dataloader::{DataLoader, Loader};
use uuid::Uuid;
use vision_db::Db;
use vision_db::entities::{comparisons, images, predictions};

use crate::errors::ApiError;

pub struct Loaders {
    pub images: DataLoader<ImageLoader>,
    pub predictions: DataLoader<PredictionsLoader>,
    pub comparisons: DataLoader<ComparisonLoader>,
}

impl Loaders {
    pub fn new(db: Db) -> Self {
        Self {
            images: DataLoader::new(ImageLoader(db.clone()), tokio::spawn),
            predictions: DataLoader::new(PredictionsLoader(db.clone()), tokio::spawn),
            comparisons: DataLoader::new(ComparisonLoader(db), tokio::spawn),
        }
    }
}

/// A database error keeps its code on the way to the response (async-graphql would otherwise
/// turn any `Display` into a plain error).
fn load_error(e: vision_db::DbError) -> async_graphql::Error {
    ApiError::from(e).into()
}

pub struct ImageLoader(Db);

impl Loader<Uuid> for ImageLoader {
    type Value = images::Model;
    type Error = async_graphql::Error;

    async fn load(&self, keys: &[Uuid]) -> Result<HashMap<Uuid, Self::Value>, Self::Error> {
        let rows = self.0.get_images(keys).await.map_err(load_error)?;
        Ok(rows.into_iter().map(|row| (row.id, row)).collect())
    }
}

/// Every prediction of an image, oldest first.
pub struct PredictionsLoader(Db);

impl Loader<Uuid> for PredictionsLoader {
    type Value = Vec<predictions::Model>;
    type Error = async_graphql::Error;

    async fn load(&self, keys: &[Uuid]) -> Result<HashMap<Uuid, Self::Value>, Self::Error> {
        let rows = self
            .0
            .predictions_for_images(keys)
            .await
            .map_err(load_error)?;
        let mut by_image: HashMap<Uuid, Self::Value> = HashMap::new();
        for row in rows {
            by_image.entry(row.image_id).or_default().push(row);
        }
        Ok(by_image)
    }
}

pub struct ComparisonLoader(Db);

impl Loader<Uuid> for ComparisonLoader {
    type Value = comparisons::Model;
    type Error = async_graphql::Error;

    async fn load(&self, keys: &[Uuid]) -> Result<HashMap<Uuid, Self::Value>, Self::Error> {
        let rows = self
            .0
            .comparisons_for_images(keys)
            .await
            .map_err(load_error)?;
        Ok(rows.into_iter().map(|row| (row.image_id, row)).collect())
    }
}
