//! Fixtures shared by the repository tests: rows to insert, and direct updates of the
//! timestamps (to build ties and known orders).

use chrono::Utc;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use uuid::Uuid;
use vision_db::{
    Cursor, Db, ImageFilter, NewComparison, NewImage, NewPrediction, TopK, images, predictions,
};

pub fn new_image(source: &str, label: Option<&str>) -> NewImage {
    let id = Uuid::new_v4();
    NewImage {
        id,
        object_key: format!("raw-images/2025/01/01/{id}.png"),
        content_hash: format!("{:064x}", id.as_u128()),
        content_type: "image/png".to_owned(),
        size_bytes: 1234,
        width: 32,
        height: 32,
        source: source.to_owned(),
        label: label.map(str::to_owned),
    }
}

pub fn new_prediction(image_id: Uuid, model: &str, version: &str, class: &str) -> NewPrediction {
    NewPrediction {
        image_id,
        model: model.to_owned(),
        model_version: version.to_owned(),
        predicted_class: class.to_owned(),
        class_index: 3,
        confidence: 0.75,
        top_k: vec![
            TopK {
                class: class.to_owned(),
                probability: 0.75,
            },
            TopK {
                class: "dog".to_owned(),
                probability: 0.25,
            },
        ],
        inference_ms: 1.5,
        correct: None,
        shadow: false,
    }
}

pub fn comparison(fastest: &str) -> NewComparison {
    NewComparison {
        fastest_model: fastest.to_owned(),
        fastest_model_version: format!("{fastest}-v1"),
        most_confident_model: "accurate".to_owned(),
        most_confident_model_version: "accurate-v2".to_owned(),
        consensus_class: Some("cat".to_owned()),
        agreement: 2.0 / 3.0,
    }
}

/// Sets `created_at` of an image (to build ties and known orders).
pub async fn set_image_time(db: &Db, id: Uuid, at: chrono::DateTime<Utc>) {
    images::Entity::update_many()
        .col_expr(images::Column::CreatedAt, Expr::value(at))
        .filter(images::Column::Id.eq(id))
        .exec(db.conn())
        .await
        .unwrap();
}

/// Sets `created_at` of an image's predictions, behind the repository's back: the statistics
/// rollups are rebuilt after.
pub async fn set_prediction_time(db: &Db, image_id: Uuid, at: chrono::DateTime<Utc>) {
    predictions::Entity::update_many()
        .col_expr(predictions::Column::CreatedAt, Expr::value(at))
        .filter(predictions::Column::ImageId.eq(image_id))
        .exec(db.conn())
        .await
        .unwrap();
    db.rebuild_stats_rollups().await.unwrap();
}

/// Reads every page of `list_images` with `page` rows per page, passing the cursor through its
/// string form as a client would.
pub async fn all_pages(db: &Db, filter: &ImageFilter, page: u64) -> Vec<images::Model> {
    let mut out = Vec::new();
    let mut after: Option<Cursor> = None;
    loop {
        let rows = db.list_images(filter, after, page).await.unwrap();
        assert!(rows.len() as u64 <= page);
        let Some(last) = rows.last() else { break };
        let token = Cursor::from(last).encode();
        after = Some(Cursor::decode(&token).unwrap());
        let full = rows.len() as u64 == page;
        out.extend(rows);
        if !full {
            break;
        }
    }
    out
}

pub fn newest_first(mut rows: Vec<(chrono::DateTime<Utc>, Uuid)>) -> Vec<Uuid> {
    rows.sort_by(|a, b| b.cmp(a));
    rows.into_iter().map(|(_, id)| id).collect()
}

pub fn approx(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}
