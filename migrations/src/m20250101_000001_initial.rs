//! Initial schema: `images`, `predictions`, `comparisons`, `events`.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{
    big_integer, boolean_null, double, double_null, integer, json_binary, json_binary_null, text,
    text_null, timestamp_with_time_zone, timestamp_with_time_zone_null, uuid,
};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum Images {
    Table,
    Id,
    CreatedAt,
    ObjectKey,
    ContentHash,
    ContentType,
    SizeBytes,
    Width,
    Height,
    Source,
    Label,
    Status,
    FailureReason,
    Descriptors,
    ExtractorVersion,
    ExtractMs,
    CompletedAt,
}

#[derive(DeriveIden)]
enum Predictions {
    Table,
    Id,
    ImageId,
    Model,
    ModelVersion,
    PredictedClass,
    ClassIndex,
    Confidence,
    TopK,
    InferenceMs,
    Correct,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Comparisons {
    Table,
    ImageId,
    FastestModel,
    MostConfidentModel,
    ConsensusClass,
    Agreement,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Events {
    Table,
    Id,
    CreatedAt,
    Kind,
    Subject,
    Detail,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Images::Table)
                    .if_not_exists()
                    .col(uuid(Images::Id).primary_key())
                    .col(timestamp_with_time_zone(Images::CreatedAt))
                    .col(text(Images::ObjectKey))
                    .col(text(Images::ContentHash))
                    .col(text(Images::ContentType))
                    .col(big_integer(Images::SizeBytes))
                    .col(integer(Images::Width))
                    .col(integer(Images::Height))
                    .col(text(Images::Source))
                    .col(text_null(Images::Label))
                    .col(text(Images::Status))
                    .col(text_null(Images::FailureReason))
                    .col(json_binary_null(Images::Descriptors))
                    .col(text_null(Images::ExtractorVersion))
                    .col(double_null(Images::ExtractMs))
                    .col(timestamp_with_time_zone_null(Images::CompletedAt))
                    .to_owned(),
            )
            .await?;
        for (name, cols) in [
            (
                "idx_images_created_at_id",
                &[Images::CreatedAt, Images::Id][..],
            ),
            ("idx_images_status", &[Images::Status][..]),
            ("idx_images_content_hash", &[Images::ContentHash][..]),
            ("idx_images_source", &[Images::Source][..]),
            ("idx_images_label", &[Images::Label][..]),
        ] {
            let mut index = Index::create();
            index.name(name).table(Images::Table).if_not_exists();
            for col in cols {
                index.col(*col);
            }
            manager.create_index(index).await?;
        }

        manager
            .create_table(
                Table::create()
                    .table(Predictions::Table)
                    .if_not_exists()
                    .col(uuid(Predictions::Id).primary_key())
                    .col(uuid(Predictions::ImageId))
                    .col(text(Predictions::Model))
                    .col(text(Predictions::ModelVersion))
                    .col(text(Predictions::PredictedClass))
                    .col(integer(Predictions::ClassIndex))
                    .col(double(Predictions::Confidence))
                    .col(json_binary(Predictions::TopK))
                    .col(double(Predictions::InferenceMs))
                    .col(boolean_null(Predictions::Correct))
                    .col(timestamp_with_time_zone(Predictions::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_predictions_image_id")
                            .from(Predictions::Table, Predictions::ImageId)
                            .to(Images::Table, Images::Id)
                            .on_delete(ForeignKeyAction::Cascade)
                            .on_update(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_predictions_image_model_version")
                    .table(Predictions::Table)
                    .col(Predictions::ImageId)
                    .col(Predictions::Model)
                    .col(Predictions::ModelVersion)
                    .unique()
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_predictions_model_created_at")
                    .table(Predictions::Table)
                    .col(Predictions::Model)
                    .col(Predictions::CreatedAt)
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_predictions_created_at")
                    .table(Predictions::Table)
                    .col(Predictions::CreatedAt)
                    .col(Predictions::Id)
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Comparisons::Table)
                    .if_not_exists()
                    .col(uuid(Comparisons::ImageId).primary_key())
                    .col(text(Comparisons::FastestModel))
                    .col(text(Comparisons::MostConfidentModel))
                    .col(text_null(Comparisons::ConsensusClass))
                    .col(double(Comparisons::Agreement))
                    .col(timestamp_with_time_zone(Comparisons::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_comparisons_image_id")
                            .from(Comparisons::Table, Comparisons::ImageId)
                            .to(Images::Table, Images::Id)
                            .on_delete(ForeignKeyAction::Cascade)
                            .on_update(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Events::Table)
                    .if_not_exists()
                    .col(uuid(Events::Id).primary_key())
                    .col(timestamp_with_time_zone(Events::CreatedAt))
                    .col(text(Events::Kind))
                    .col(text_null(Events::Subject))
                    .col(json_binary_null(Events::Detail))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_events_created_at")
                    .table(Events::Table)
                    .col(Events::CreatedAt)
                    .col(Events::Id)
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            Events::Table.into_iden(),
            Comparisons::Table.into_iden(),
            Predictions::Table.into_iden(),
            Images::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).if_exists().to_owned())
                .await?;
        }
        Ok(())
    }
}
