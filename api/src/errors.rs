//! Errors the API reports, each with a stable `extensions.code` that clients match on (the
//! message is for people and may change).

use async_graphql::ErrorExtensions;
use vision_inference::ImageRejection;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    EmptyFile,
    FileTooLarge,
    UnsupportedMediaType,
    ImageTooLarge,
    CorruptImage,
    InvalidLabel,
    InvalidSource,
    BatchTooLarge,
    InvalidId,
    NotFound,
    BadCursor,
    QueryTooDeep,
    QueryTooComplex,
    InvalidArgument,
    DatasetUnavailable,
    Internal,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::EmptyFile => "EMPTY_FILE",
            ErrorCode::FileTooLarge => "FILE_TOO_LARGE",
            ErrorCode::UnsupportedMediaType => "UNSUPPORTED_MEDIA_TYPE",
            ErrorCode::ImageTooLarge => "IMAGE_TOO_LARGE",
            ErrorCode::CorruptImage => "CORRUPT_IMAGE",
            ErrorCode::InvalidLabel => "INVALID_LABEL",
            ErrorCode::InvalidSource => "INVALID_SOURCE",
            ErrorCode::BatchTooLarge => "BATCH_TOO_LARGE",
            ErrorCode::InvalidId => "INVALID_ID",
            ErrorCode::NotFound => "NOT_FOUND",
            ErrorCode::BadCursor => "BAD_CURSOR",
            ErrorCode::QueryTooDeep => "QUERY_TOO_DEEP",
            ErrorCode::QueryTooComplex => "QUERY_TOO_COMPLEX",
            ErrorCode::InvalidArgument => "INVALID_ARGUMENT",
            ErrorCode::DatasetUnavailable => "DATASET_UNAVAILABLE",
            ErrorCode::Internal => "INTERNAL",
        }
    }
}

/// An error on its way to a GraphQL response. Deliberately not `Display`: async-graphql converts
/// any `Display` into a plain error, which would lose the code.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
    /// Position of the offending file in a batch upload.
    pub index: Option<usize>,
    pub filename: Option<String>,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            index: None,
            filename: None,
        }
    }

    /// A failure of a dependency or a bug: logged in full, reported without internals.
    pub fn internal(context: &str, error: impl std::fmt::Display) -> Self {
        tracing::error!(%error, "{context}");
        Self::new(ErrorCode::Internal, format!("internal error: {context}"))
    }

    pub fn not_found(what: impl std::fmt::Display) -> Self {
        Self::new(ErrorCode::NotFound, format!("{what} not found"))
    }

    /// Names the file a batch refusal is about.
    pub fn at(mut self, index: usize, filename: &str) -> Self {
        self.index = Some(index);
        self.filename = Some(filename.to_string());
        self
    }
}

impl From<ImageRejection> for ApiError {
    fn from(rejection: ImageRejection) -> Self {
        let code = match rejection {
            ImageRejection::Empty => ErrorCode::EmptyFile,
            ImageRejection::TooLarge { .. } => ErrorCode::FileTooLarge,
            ImageRejection::UnsupportedType => ErrorCode::UnsupportedMediaType,
            ImageRejection::TooManyPixels { .. } => ErrorCode::ImageTooLarge,
            ImageRejection::Corrupt(_) => ErrorCode::CorruptImage,
        };
        debug_assert_eq!(code.as_str(), rejection.code());
        Self::new(code, rejection.to_string())
    }
}

impl ErrorExtensions for ApiError {
    fn extend(&self) -> async_graphql::Error {
        async_graphql::Error::new(self.message.clone()).extend_with(|_, e| {
            e.set("code", self.code.as_str());
            if let Some(index) = self.index {
                e.set("index", index as u64);
            }
            if let Some(filename) = &self.filename {
                e.set("filename", filename.as_str());
            }
        })
    }
}

impl From<ApiError> for async_graphql::Error {
    fn from(error: ApiError) -> Self {
        error.extend()
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
