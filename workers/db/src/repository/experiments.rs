//! What experiments read (F24): the images a shadow version and the production version of a
//! head both answered, and the stored descriptors of past images with what production answered
//! (back-testing a registered version on them).

use sea_orm::sea_query::{Alias, Expr, JoinType, Order, Query, SimpleExpr};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, FromQueryResult, QueryFilter, QuerySelect,
};
use uuid::Uuid;

use crate::entities::{Descriptors, image_descriptors, images, predictions};
use crate::{DateTimeUtc, Db, Result};

/// One image answered by production (`a`) and by another version (`b`).
#[derive(Clone, Debug, PartialEq)]
pub struct PairedRow {
    pub image_id: Uuid,
    pub label: Option<String>,
    pub a_class: String,
    pub a_ms: f64,
    pub b_class: String,
    pub b_ms: f64,
}

/// One past image: its stored descriptors and production's answer.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredAnswer {
    pub image_id: Uuid,
    pub label: Option<String>,
    pub descriptors: Vec<f32>,
    pub class: String,
    pub inference_ms: f64,
}

/// Which past images a back-test scores.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ImageWindow {
    /// Uploaded at or after.
    pub since: Option<DateTimeUtc>,
    /// Uploaded before.
    pub until: Option<DateTimeUtc>,
    /// The most recent ones, at most.
    pub limit: u64,
}

#[derive(FromQueryResult)]
struct Paired {
    image_id: Uuid,
    label: Option<String>,
    a_class: String,
    a_ms: f64,
    b_class: String,
    b_ms: f64,
}

impl From<Paired> for PairedRow {
    fn from(r: Paired) -> Self {
        Self {
            image_id: r.image_id,
            label: r.label,
            a_class: r.a_class,
            a_ms: r.a_ms,
            b_class: r.b_class,
            b_ms: r.b_ms,
        }
    }
}

#[derive(FromQueryResult)]
struct Stored {
    image_id: Uuid,
    label: Option<String>,
    descriptors: Descriptors,
    class: String,
    inference_ms: f64,
}

impl Db {
    /// The images that shadow version `version` of `model` scored, with production's answer
    /// beside its own, newest first, at most `limit`.
    pub async fn shadow_pairs(
        &self,
        model: &str,
        version: &str,
        limit: u64,
    ) -> Result<Vec<PairedRow>> {
        use predictions::Column as P;
        let answer = |a: Alias| Expr::col((a, P::Shadow)).eq(false);
        let shadow = |b: Alias| {
            Expr::col((b.clone(), P::ModelVersion))
                .eq(version)
                .and(Expr::col((b, P::Shadow)).eq(true))
        };
        self.pairs(model, answer, shadow, limit).await
    }

    /// The images both version `a` and version `b` of `model` scored (an A/B test scores each
    /// image with both, one answering), newest first, at most `limit`.
    pub async fn version_pairs(
        &self,
        model: &str,
        a_version: &str,
        b_version: &str,
        limit: u64,
    ) -> Result<Vec<PairedRow>> {
        use predictions::Column as P;
        let a = |a: Alias| Expr::col((a, P::ModelVersion)).eq(a_version);
        let b = |b: Alias| Expr::col((b, P::ModelVersion)).eq(b_version);
        self.pairs(model, a, b, limit).await
    }

    /// Predictions of `model` matching `b` (on alias `b`), each with the prediction of the same
    /// image and model matching `a` (on alias `a`), newest first.
    async fn pairs(
        &self,
        model: &str,
        a_matches: impl Fn(Alias) -> SimpleExpr,
        b_matches: impl Fn(Alias) -> SimpleExpr,
        limit: u64,
    ) -> Result<Vec<PairedRow>> {
        use predictions::Column as P;
        let (b, a, i) = (Alias::new("b"), Alias::new("a"), Alias::new("i"));
        let mut q = Query::select();
        q.from_as(predictions::Entity, b.clone())
            .join_as(
                JoinType::InnerJoin,
                predictions::Entity,
                a.clone(),
                Expr::col((a.clone(), P::ImageId))
                    .equals((b.clone(), P::ImageId))
                    .and(Expr::col((a.clone(), P::Model)).equals((b.clone(), P::Model)))
                    .and(a_matches(a.clone())),
            )
            .join_as(
                JoinType::InnerJoin,
                images::Entity,
                i.clone(),
                Expr::col((i.clone(), images::Column::Id)).equals((b.clone(), P::ImageId)),
            )
            .expr_as(Expr::col((b.clone(), P::ImageId)), Alias::new("image_id"))
            .expr_as(Expr::col((i, images::Column::Label)), Alias::new("label"))
            .expr_as(
                Expr::col((a.clone(), P::PredictedClass)),
                Alias::new("a_class"),
            )
            .expr_as(Expr::col((a, P::InferenceMs)), Alias::new("a_ms"))
            .expr_as(
                Expr::col((b.clone(), P::PredictedClass)),
                Alias::new("b_class"),
            )
            .expr_as(Expr::col((b.clone(), P::InferenceMs)), Alias::new("b_ms"))
            .and_where(Expr::col((b.clone(), P::Model)).eq(model))
            .and_where(b_matches(b.clone()))
            .order_by((b, P::CreatedAt), Order::Desc)
            .limit(limit);
        let backend = self.conn.get_database_backend();
        let rows = Paired::find_by_statement(backend.build(&q))
            .all(&self.conn)
            .await?;
        Ok(rows.into_iter().map(PairedRow::from).collect())
    }

    /// Whether any image has stored descriptors of extractor version `extractor` (its own, or
    /// another version's kept beside them).
    pub async fn has_descriptors_of(&self, extractor: &str) -> Result<bool> {
        let other = image_descriptors::Entity::find()
            .select_only()
            .column(image_descriptors::Column::ImageId)
            .filter(image_descriptors::Column::ExtractorVersion.eq(extractor))
            .into_tuple::<Uuid>()
            .one(&self.conn)
            .await?;
        if other.is_some() {
            return Ok(true);
        }
        Ok(images::Entity::find()
            .select_only()
            .column(images::Column::Id)
            .filter(images::Column::ExtractorVersion.eq(extractor))
            .filter(images::Column::Descriptors.is_not_null())
            .into_tuple::<Uuid>()
            .one(&self.conn)
            .await?
            .is_some())
    }

    /// Past images with descriptors of extractor version `extractor` and production's answer
    /// of `model` (not a shadow's), newest first, in `window`.
    pub async fn stored_answers(
        &self,
        model: &str,
        extractor: &str,
        window: &ImageWindow,
    ) -> Result<Vec<StoredAnswer>> {
        use image_descriptors::Column as D;
        use images::Column as I;
        use predictions::Column as P;
        let (a, i, d) = (Alias::new("a"), Alias::new("i"), Alias::new("d"));
        let mut q = Query::select();
        q.from_as(images::Entity, i.clone())
            .join_as(
                JoinType::InnerJoin,
                predictions::Entity,
                a.clone(),
                Expr::col((a.clone(), P::ImageId))
                    .equals((i.clone(), I::Id))
                    .and(Expr::col((a.clone(), P::Model)).eq(model))
                    .and(Expr::col((a.clone(), P::Shadow)).eq(false)),
            )
            // Another version's descriptors, kept beside the image's own when a head of
            // another descriptor size was served.
            .join_as(
                JoinType::LeftJoin,
                image_descriptors::Entity,
                d.clone(),
                Expr::col((d.clone(), D::ImageId))
                    .equals((i.clone(), I::Id))
                    .and(Expr::col((d.clone(), D::ExtractorVersion)).eq(extractor)),
            )
            .expr_as(Expr::col((i.clone(), I::Id)), Alias::new("image_id"))
            .expr_as(Expr::col((i.clone(), I::Label)), Alias::new("label"))
            .expr_as(
                SimpleExpr::FunctionCall(sea_orm::sea_query::Func::coalesce([
                    Expr::col((d.clone(), D::Descriptors)).into(),
                    Expr::col((i.clone(), I::Descriptors)).into(),
                ])),
                Alias::new("descriptors"),
            )
            .expr_as(
                Expr::col((a.clone(), P::PredictedClass)),
                Alias::new("class"),
            )
            .expr_as(Expr::col((a, P::InferenceMs)), Alias::new("inference_ms"))
            .cond_where(
                Condition::any()
                    .add(Expr::col((d, D::ImageId)).is_not_null())
                    .add(
                        Expr::col((i.clone(), I::Descriptors))
                            .is_not_null()
                            .and(Expr::col((i.clone(), I::ExtractorVersion)).eq(extractor)),
                    ),
            )
            .order_by((i.clone(), I::CreatedAt), Order::Desc)
            .limit(window.limit);
        if let Some(since) = window.since {
            q.and_where(Expr::col((i.clone(), I::CreatedAt)).gte(since));
        }
        if let Some(until) = window.until {
            q.and_where(Expr::col((i, I::CreatedAt)).lt(until));
        }
        let backend = self.conn.get_database_backend();
        let rows = Stored::find_by_statement(backend.build(&q))
            .all(&self.conn)
            .await?;
        Ok(rows
            .into_iter()
            .map(|r| StoredAnswer {
                image_id: r.image_id,
                label: r.label,
                descriptors: r.descriptors.0,
                class: r.class,
                inference_ms: r.inference_ms,
            })
            .collect())
    }
}
