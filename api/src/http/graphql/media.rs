//! Content negotiation of `/graphql` (GraphQL over HTTP, "Accept"): which of the two JSON media
//! types a response uses, or whether a browser asked for the GraphiQL page.

use axum::http::HeaderMap;
use axum::http::header::ACCEPT;

/// The media type of a GraphQL response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseMedia {
    /// `application/graphql-response+json`: the status code says whether the request was
    /// executed (200) or refused before execution (4xx).
    GraphqlResponse,
    /// `application/json`, the legacy type: 200 for every GraphQL response (even a document
    /// refused by syntax or validation), errors in the body.
    Json,
}

impl ResponseMedia {
    pub fn content_type(self) -> &'static str {
        match self {
            ResponseMedia::GraphqlResponse => "application/graphql-response+json; charset=utf-8",
            ResponseMedia::Json => "application/json; charset=utf-8",
        }
    }
}

/// What a request's `Accept` header asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wanted {
    Graphql(ResponseMedia),
    /// An HTML page (a browser opening the URL): GraphiQL.
    Html,
    /// Nothing this endpoint can produce.
    Unacceptable,
}

/// The media type to answer with. No `Accept` header means `application/json` (as the spec
/// says); among the listed types the highest quality wins, `application/graphql-response+json`
/// on a tie with JSON, JSON on a tie with HTML (only a browser prefers HTML).
pub fn negotiate(headers: &HeaderMap) -> Wanted {
    let Some(accept) = headers.get(ACCEPT).and_then(|v| v.to_str().ok()) else {
        return Wanted::Graphql(ResponseMedia::Json);
    };
    if accept.trim().is_empty() {
        return Wanted::Graphql(ResponseMedia::Json);
    }
    let (mut graphql_response, mut json, mut html) = (0.0f32, 0.0f32, 0.0f32);
    for range in accept.split(',') {
        let mut parts = range.split(';');
        let media = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let quality = parts
            .filter_map(|p| p.trim().strip_prefix("q="))
            .find_map(|q| q.trim().parse::<f32>().ok())
            .unwrap_or(1.0);
        match media.as_str() {
            "application/graphql-response+json" => graphql_response = graphql_response.max(quality),
            "application/json" | "application/*" | "*/*" => json = json.max(quality),
            "text/html" => html = html.max(quality),
            _ => {}
        }
    }
    if graphql_response > 0.0 && graphql_response >= json && graphql_response >= html {
        Wanted::Graphql(ResponseMedia::GraphqlResponse)
    } else if json > 0.0 && json >= html {
        Wanted::Graphql(ResponseMedia::Json)
    } else if html > 0.0 {
        Wanted::Html
    } else {
        Wanted::Unacceptable
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wanted(accept: Option<&str>) -> Wanted {
        let mut headers = HeaderMap::new();
        if let Some(accept) = accept {
            headers.insert(ACCEPT, accept.parse().unwrap());
        }
        negotiate(&headers)
    }

    #[test]
    fn clients_and_browsers_get_what_they_ask_for() {
        use ResponseMedia::*;
        assert_eq!(wanted(None), Wanted::Graphql(Json));
        assert_eq!(wanted(Some("*/*")), Wanted::Graphql(Json));
        assert_eq!(wanted(Some("application/json")), Wanted::Graphql(Json));
        assert_eq!(
            wanted(Some("application/graphql-response+json")),
            Wanted::Graphql(GraphqlResponse)
        );
        // Apollo Client's and urql's headers.
        assert_eq!(
            wanted(Some(
                "application/graphql-response+json,application/json;q=0.9"
            )),
            Wanted::Graphql(GraphqlResponse)
        );
        assert_eq!(
            wanted(Some(
                "application/graphql-response+json, application/graphql+json, application/json, \
                 text/event-stream, multipart/mixed"
            )),
            Wanted::Graphql(GraphqlResponse)
        );
        // Chromium navigating to the URL.
        assert_eq!(
            wanted(Some(
                "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,*/*;q=0.8"
            )),
            Wanted::Html
        );
        assert_eq!(wanted(Some("image/png")), Wanted::Unacceptable);
        assert_eq!(wanted(Some("application/json;q=0")), Wanted::Unacceptable);
    }
}
