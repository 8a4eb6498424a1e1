//! Uploads (F1, F2), per the GraphQL multipart request spec.

use async_graphql::{Context, MergedObject, Object, Result, Upload};

use super::access::AccessMutation;
use super::experiments::ExperimentsMutation;
use super::jobs::JobsMutation;
use super::registry::RegistryMutation;
use super::replay::ReplayMutation;
use super::types::Image;
use crate::errors::{ApiError, ApiResult, ErrorCode};
use crate::ingest::{Incoming, Patience};
use crate::state::AppState;

// Every mutation: uploads here, replays, the registry, experiments and API keys in their own
// files.
#[derive(MergedObject, Default)]
#[graphql(name = "Mutation")]
pub struct MutationRoot(
    UploadMutation,
    ReplayMutation,
    RegistryMutation,
    ExperimentsMutation,
    AccessMutation,
    JobsMutation,
);

#[derive(Default)]
pub struct UploadMutation;

/// Source of an upload that names none.
const DEFAULT_SOURCE: &str = "upload";

fn incoming(ctx: &Context<'_>, file: &Upload, label: Option<String>) -> ApiResult<Incoming> {
    let value = file.value(ctx)?;
    Ok(Incoming {
        filename: value.filename,
        content: value.content,
        label,
    })
}

#[Object]
impl UploadMutation {
    /// Uploads one JPEG, PNG or WebP image, optionally with its true class. Returns at once
    /// (status PENDING); subscribe to `predictionAdded` / `imageCompleted` for the results.
    async fn upload_image(
        &self,
        ctx: &Context<'_>,
        file: Upload,
        #[graphql(desc = "Ground-truth class (one of `classes`).")] label: Option<String>,
        #[graphql(default_with = "Some(String::from(\"upload\"))")] source: Option<String>,
    ) -> Result<Image> {
        let ingest = &ctx.data_unchecked::<AppState>().ingest;
        let file = incoming(ctx, &file, label)?;
        let record = ingest
            .upload_one(
                file,
                source.as_deref().unwrap_or(DEFAULT_SOURCE),
                Patience::Bounded,
            )
            .await?;
        Ok(Image(record))
    }

    /// Uploads many images at once, all or none: when one file is refused, nothing is stored
    /// and the error's `extensions` name its `index` and `filename`.
    async fn upload_images(
        &self,
        ctx: &Context<'_>,
        files: Vec<Upload>,
        #[graphql(desc = "One ground-truth class (or null) per file, in order.")] labels: Option<
            Vec<Option<String>>,
        >,
        #[graphql(default_with = "Some(String::from(\"upload\"))")] source: Option<String>,
    ) -> Result<Vec<Image>> {
        let ingest = &ctx.data_unchecked::<AppState>().ingest;
        ingest.check_batch_size(files.len())?;
        let labels = match labels {
            Some(labels) if labels.len() != files.len() => {
                return Err(ApiError::new(
                    ErrorCode::InvalidLabel,
                    format!(
                        "{} labels for {} files: give one label (or null) per file",
                        labels.len(),
                        files.len()
                    ),
                )
                .into());
            }
            Some(labels) => labels,
            None => vec![None; files.len()],
        };
        let incoming = files
            .iter()
            .zip(labels)
            .map(|(file, label)| incoming(ctx, file, label))
            .collect::<ApiResult<Vec<_>>>()?;
        let records = ingest
            .upload_batch(incoming, source.as_deref().unwrap_or(DEFAULT_SOURCE))
            .await?;
        Ok(records.into_iter().map(Image).collect())
    }
}
