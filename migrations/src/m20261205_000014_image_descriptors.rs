//! `image_descriptors`: an image's descriptors from the extractor versions other than the one
//! that was production when it went through (`images.descriptors`): those a served head of
//! another descriptor size read. Back-tests of such a head score it on them. Deleted with their
//! image.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{json_binary, text, uuid};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum ImageDescriptors {
    Table,
    ImageId,
    ExtractorVersion,
    Descriptors,
}

#[derive(DeriveIden, Clone, Copy)]
enum Images {
    Table,
    Id,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ImageDescriptors::Table)
                    .if_not_exists()
                    .col(uuid(ImageDescriptors::ImageId))
                    .col(text(ImageDescriptors::ExtractorVersion))
                    .col(json_binary(ImageDescriptors::Descriptors))
                    .primary_key(
                        Index::create()
                            .col(ImageDescriptors::ImageId)
                            .col(ImageDescriptors::ExtractorVersion),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_image_descriptors_image_id")
                            .from(ImageDescriptors::Table, ImageDescriptors::ImageId)
                            .to(Images::Table, Images::Id)
                            .on_delete(ForeignKeyAction::Cascade)
                            .on_update(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        // "Has this extractor any stored descriptors?" without a scan.
        manager
            .create_index(
                Index::create()
                    .name("idx_image_descriptors_extractor")
                    .table(ImageDescriptors::Table)
                    .col(ImageDescriptors::ExtractorVersion)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(ImageDescriptors::Table).to_owned())
            .await
    }
}
