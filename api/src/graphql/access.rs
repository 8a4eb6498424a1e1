//! Callers over GraphQL (F29, F25): who am I, the admins' API keys (list, create, revoke) and
//! the audit log.

use async_graphql::{Context, Enum, ID, Object, SimpleObject};
use chrono::{DateTime, Utc};
use vision_db::api_keys;

use crate::auth::{self, Caller};
use crate::errors::{ApiError, ApiResult, ErrorCode};
use crate::state::AppState;

/// What a caller may do; each role may also do what the roles before it may.
#[derive(Enum, Clone, Copy, PartialEq, Eq, Debug)]
pub enum Role {
    /// Queries and subscriptions.
    Viewer,
    /// Also uploads images (and labels them).
    Uploader,
    /// Also replays, the model registry, API keys and `/metrics`.
    Admin,
}

impl From<auth::Role> for Role {
    fn from(role: auth::Role) -> Self {
        match role {
            auth::Role::Viewer => Role::Viewer,
            auth::Role::Uploader => Role::Uploader,
            auth::Role::Admin => Role::Admin,
        }
    }
}

impl From<Role> for auth::Role {
    fn from(role: Role) -> Self {
        match role {
            Role::Viewer => auth::Role::Viewer,
            Role::Uploader => auth::Role::Uploader,
            Role::Admin => auth::Role::Admin,
        }
    }
}

/// The caller of this request.
#[derive(SimpleObject)]
pub struct Me {
    /// `key:<id>` for an API key, `anonymous` without one.
    pub actor: String,
    /// Null when not signed in (only while keys are required).
    pub role: Option<Role>,
    /// Whether the platform runs open: no key in force, every caller is an admin.
    pub open: bool,
}

/// An API key as listed (never the key itself).
#[derive(SimpleObject)]
pub struct ApiKey {
    pub id: ID,
    pub name: String,
    pub role: Role,
    /// The key's first characters, to tell keys apart.
    pub prefix: String,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
    pub revoked_at: Option<DateTime<Utc>>,
    pub revoked_by: Option<String>,
}

impl From<api_keys::Model> for ApiKey {
    fn from(row: api_keys::Model) -> Self {
        Self {
            id: ID(row.id.to_string()),
            name: row.name,
            role: row.role.into(),
            prefix: row.prefix,
            created_at: row.created_at,
            created_by: row.created_by,
            revoked_at: row.revoked_at,
            revoked_by: row.revoked_by,
        }
    }
}

/// One recorded action (F25).
#[derive(SimpleObject)]
pub struct AuditEntry {
    /// 1, 2, 3... without gaps.
    pub seq: i64,
    pub at: DateTime<Utc>,
    /// `key:<id>`, `anonymous`, `unauthenticated`, `cli:<user>`.
    pub actor: String,
    pub role: Option<String>,
    pub ip: Option<String>,
    pub request_id: String,
    /// `mutation promoteModelVersion`, `authenticate`, ...
    pub operation: String,
    /// `OK` or the refusal's code.
    pub outcome: String,
    pub detail: Option<String>,
    /// This entry's link in the chain (SHA-256 of its fields and the previous hash).
    pub hash: String,
}

impl From<vision_db::audit_log::Model> for AuditEntry {
    fn from(row: vision_db::audit_log::Model) -> Self {
        Self {
            seq: row.seq,
            at: row.at,
            actor: row.actor,
            role: row.role,
            ip: row.ip,
            request_id: row.request_id,
            operation: row.operation,
            outcome: row.outcome,
            detail: row.detail,
            hash: row.hash,
        }
    }
}

/// A key just created: `key` is shown this once and never again.
#[derive(SimpleObject)]
pub struct CreatedApiKey {
    pub key: String,
    pub api_key: ApiKey,
}

fn caller<'a>(ctx: &'a Context<'_>) -> ApiResult<&'a Caller> {
    ctx.data_opt::<Caller>()
        .ok_or_else(|| ApiError::new(ErrorCode::Unauthenticated, "no caller"))
}

#[derive(Default)]
pub struct AccessQuery;

#[Object]
impl AccessQuery {
    /// The caller of this request and what it may do.
    async fn me(&self, ctx: &Context<'_>) -> ApiResult<Me> {
        let caller = caller(ctx)?;
        let open = ctx.data_unchecked::<AppState>().auth.runs_open().await?;
        Ok(Me {
            actor: caller.actor.clone(),
            role: caller.role.map(Role::from),
            open,
        })
    }

    /// The audit log, newest first (admin): `limit` entries (at most 500) before `beforeSeq`,
    /// of one actor, an operation containing `operation`, one outcome code.
    async fn audit_log(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 50)] limit: i32,
        before_seq: Option<i64>,
        actor: Option<String>,
        operation: Option<String>,
        outcome: Option<String>,
    ) -> ApiResult<Vec<AuditEntry>> {
        caller(ctx)?.require(auth::Role::Admin)?;
        if !(1..=500).contains(&limit) {
            return Err(ApiError::new(
                ErrorCode::InvalidArgument,
                "limit is between 1 and 500",
            ));
        }
        let filter = vision_db::AuditFilter {
            actor,
            operation,
            outcome,
            before_seq,
            limit: limit as u64,
        };
        let db = &ctx.data_unchecked::<AppState>().db;
        Ok(db
            .audit_log(&filter)
            .await?
            .into_iter()
            .map(AuditEntry::from)
            .collect())
    }

    /// Every API key, revoked ones too, newest first (admin).
    async fn api_keys(&self, ctx: &Context<'_>) -> ApiResult<Vec<ApiKey>> {
        caller(ctx)?.require(auth::Role::Admin)?;
        let db = &ctx.data_unchecked::<AppState>().db;
        Ok(db.api_keys().await?.into_iter().map(ApiKey::from).collect())
    }
}

#[derive(Default)]
pub struct AccessMutation;

#[Object]
impl AccessMutation {
    /// Creates an API key with a role (admin). The key is in the answer this once; only its hash
    /// is stored. The first key ends open mode: from then on every caller needs one.
    async fn create_api_key(
        &self,
        ctx: &Context<'_>,
        name: String,
        role: Role,
    ) -> ApiResult<CreatedApiKey> {
        let by = caller(ctx)?.actor.clone();
        let db = &ctx.data_unchecked::<AppState>().db;
        let created = auth::keys::create(db, &name, role.into(), &by).await?;
        Ok(CreatedApiKey {
            key: created.key,
            api_key: created.row.into(),
        })
    }

    /// Revokes an API key for good (admin); it stops working at once, on every replica.
    async fn revoke_api_key(&self, ctx: &Context<'_>, id: ID) -> ApiResult<ApiKey> {
        let by = caller(ctx)?.actor.clone();
        let id = uuid::Uuid::parse_str(&id)
            .map_err(|_| ApiError::new(ErrorCode::InvalidId, format!("not a key id: {}", *id)))?;
        let db = &ctx.data_unchecked::<AppState>().db;
        db.revoke_api_key(id, &by)
            .await?
            .map(ApiKey::from)
            .ok_or_else(|| ApiError::not_found(format!("API key {id}")))
    }
}
