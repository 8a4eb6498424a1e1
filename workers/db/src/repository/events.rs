//! The audit log of system events (F25).

use sea_orm::EntityTrait;
use uuid::Uuid;

use crate::{Db, Result, events, now};

impl Db {
    /// Appends an event to the audit log (F25).
    pub async fn record_event(
        &self,
        kind: &str,
        subject: Option<&str>,
        detail: Option<serde_json::Value>,
    ) -> Result<events::Model> {
        let model = events::Model {
            id: Uuid::new_v4(),
            created_at: now(),
            kind: kind.to_owned(),
            subject: subject.map(str::to_owned),
            detail,
        };
        let am: events::ActiveModel = model.clone().into();
        events::Entity::insert(am)
            .exec_without_returning(&self.conn)
            .await?;
        Ok(model)
    }
}
