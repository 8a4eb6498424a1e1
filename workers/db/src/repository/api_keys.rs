//! API keys (F29): created with a role, found by their hash on every request, revoked for good.

use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, IntoActiveModel, PaginatorTrait, QueryFilter,
    QueryOrder,
};
use uuid::Uuid;

use crate::entities::api_keys::{self, Role};
use crate::{Db, Result, now};

/// A key to store: the caller made the secret and hashed it.
#[derive(Clone, Debug)]
pub struct NewApiKey {
    pub name: String,
    pub role: Role,
    pub prefix: String,
    pub key_hash: String,
    pub created_by: String,
}

impl Db {
    pub async fn create_api_key(&self, key: NewApiKey) -> Result<api_keys::Model> {
        let row = api_keys::Model {
            id: Uuid::new_v4(),
            name: key.name,
            role: key.role,
            prefix: key.prefix,
            key_hash: key.key_hash,
            created_at: now(),
            created_by: key.created_by,
            revoked_at: None,
            revoked_by: None,
        };
        Ok(row.into_active_model().insert(&self.conn).await?)
    }

    /// The key with this hash, unless it was revoked.
    pub async fn active_api_key(&self, key_hash: &str) -> Result<Option<api_keys::Model>> {
        use api_keys::Column as K;
        Ok(api_keys::Entity::find()
            .filter(K::KeyHash.eq(key_hash))
            .filter(K::RevokedAt.is_null())
            .one(&self.conn)
            .await?)
    }

    /// Whether the key with this id exists and is not revoked.
    pub async fn api_key_in_force(&self, id: Uuid) -> Result<bool> {
        Ok(api_keys::Entity::find_by_id(id)
            .one(&self.conn)
            .await?
            .is_some_and(|key| key.revoked_at.is_none()))
    }

    /// Whether any key is in force (then callers must present one).
    pub async fn any_active_api_key(&self) -> Result<bool> {
        use api_keys::Column as K;
        Ok(api_keys::Entity::find()
            .filter(K::RevokedAt.is_null())
            .count(&self.conn)
            .await?
            > 0)
    }

    /// Every key, revoked ones too, newest first.
    pub async fn api_keys(&self) -> Result<Vec<api_keys::Model>> {
        use api_keys::Column as K;
        Ok(api_keys::Entity::find()
            .order_by_desc(K::CreatedAt)
            .all(&self.conn)
            .await?)
    }

    /// Revokes a key; `None` when there is no such key, the row as it was when it was revoked
    /// already.
    pub async fn revoke_api_key(&self, id: Uuid, by: &str) -> Result<Option<api_keys::Model>> {
        let Some(row) = api_keys::Entity::find_by_id(id).one(&self.conn).await? else {
            return Ok(None);
        };
        if row.revoked_at.is_some() {
            return Ok(Some(row));
        }
        let mut active = row.into_active_model();
        active.revoked_at = sea_orm::Set(Some(now()));
        active.revoked_by = sea_orm::Set(Some(by.to_string()));
        Ok(Some(active.update(&self.conn).await?))
    }
}
