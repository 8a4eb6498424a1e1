//! GraphQL `ID`s are UUIDs; a malformed one is the client's mistake, reported as such.

use async_graphql::ID;
use uuid::Uuid;

use crate::errors::{ApiError, ApiResult, ErrorCode};

pub fn parse(id: &ID) -> ApiResult<Uuid> {
    Uuid::parse_str(id.as_str()).map_err(|_| {
        ApiError::new(
            ErrorCode::InvalidId,
            format!("{:?} is not a valid id", id.as_str()),
        )
    })
}

pub fn parse_opt(id: Option<&ID>) -> ApiResult<Option<Uuid>> {
    id.map(parse).transpose()
}
