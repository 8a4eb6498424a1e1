//! Rate limits per caller and per IP (F29), counted in operations: a query or subscription is
//! one, a mutation one per root field (aliased mutations count one by one), each item of a batch
//! on its own. Token buckets in Redis when `REDIS_URL` is set, so every replica draws from the
//! same ones ([`super::shared`]); in this process otherwise, or while Redis does not answer. A
//! refused operation gets `RATE_LIMITED` with `retryAfter` seconds (HTTP 429 with `Retry-After`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextParseQuery};
use async_graphql::parser::types::{ExecutableDocument, OperationType};
use async_graphql::{ServerResult, Variables};

use super::Caller;
use super::audit::RequestMeta;
use super::shared::SharedCounters;
use crate::errors::{ApiError, ErrorCode};

/// Operations per second, sustained; a bucket holds twice as many for bursts. 0: no limit.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RateLimits {
    pub per_caller: f64,
    pub per_ip: f64,
}

/// Buckets this large are swept of idle entries.
const SWEEP_AT: usize = 10_000;

struct Bucket {
    tokens: f64,
    at: Instant,
}

#[derive(Clone)]
pub struct RateLimiter {
    limits: RateLimits,
    buckets: Arc<Mutex<HashMap<String, Bucket>>>,
    shared: Option<SharedCounters>,
}

impl RateLimiter {
    pub fn new(limits: RateLimits) -> Self {
        Self {
            limits,
            buckets: Arc::default(),
            shared: None,
        }
    }

    /// Counts in `shared` (Redis) when it answers.
    pub fn with_shared(mut self, shared: Option<SharedCounters>) -> Self {
        self.shared = shared;
        self
    }

    /// The shared counters, for the WebSocket sessions to count in too.
    pub fn shared(&self) -> Option<SharedCounters> {
        self.shared.clone()
    }

    /// [`Self::take`] against the shared buckets when there are any and they answer.
    pub async fn charge(
        &self,
        caller: Option<&str>,
        ip: Option<&str>,
        cost: f64,
    ) -> Result<(), f64> {
        if let Some(shared) = &self.shared {
            let buckets = self.buckets_for(caller, ip);
            if buckets.is_empty() {
                return Ok(());
            }
            if let Ok(answer) = shared.take(&buckets, cost).await {
                return answer;
            }
        }
        self.take(caller, ip, cost)
    }

    /// The buckets an operation draws from, with their rates (those configured).
    fn buckets_for(&self, caller: Option<&str>, ip: Option<&str>) -> Vec<(String, f64)> {
        [
            caller.map(|c| (format!("c:{c}"), self.limits.per_caller)),
            ip.map(|i| (format!("i:{i}"), self.limits.per_ip)),
        ]
        .into_iter()
        .flatten()
        .filter(|(_, rate)| *rate > 0.0)
        .collect()
    }

    /// Takes `cost` from the caller's and the IP's buckets, or says how many seconds until it
    /// could (nothing is taken then).
    pub fn take(&self, caller: Option<&str>, ip: Option<&str>, cost: f64) -> Result<(), f64> {
        let now = Instant::now();
        let mut buckets = self.buckets.lock().expect("rate lock");
        if buckets.len() > SWEEP_AT {
            let rate = self.limits.per_caller.max(self.limits.per_ip).max(1.0);
            // Full again: the same as absent.
            buckets.retain(|_, b| now.duration_since(b.at).as_secs_f64() * rate < 2.0 * rate);
        }
        let keys = self.buckets_for(caller, ip);
        let mut wait: f64 = 0.0;
        for (key, rate) in &keys {
            let bucket = buckets.entry(key.clone()).or_insert(Bucket {
                tokens: 2.0 * rate,
                at: now,
            });
            bucket.tokens = (bucket.tokens + now.duration_since(bucket.at).as_secs_f64() * rate)
                .min(2.0 * rate);
            bucket.at = now;
            if bucket.tokens < cost {
                wait = wait.max((cost - bucket.tokens) / rate);
            }
        }
        if wait > 0.0 {
            return Err(wait);
        }
        for (key, _) in &keys {
            if let Some(bucket) = buckets.get_mut(key) {
                bucket.tokens -= cost;
            }
        }
        Ok(())
    }
}

/// The schema extension that charges each operation.
pub struct RateLimit;

impl ExtensionFactory for RateLimit {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(RateLimit)
    }
}

/// What an operation costs: 1, or one per root field of a mutation.
fn cost(document: &ExecutableDocument) -> f64 {
    document
        .operations
        .iter()
        .map(|(_, op)| match op.node.ty {
            OperationType::Mutation => op.node.selection_set.node.items.len().max(1),
            _ => 1,
        })
        .max()
        .unwrap_or(1) as f64
}

#[async_trait::async_trait]
impl Extension for RateLimit {
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let document = next.run(ctx, query, variables).await?;
        let Some(limiter) = ctx
            .data_opt::<crate::state::AppState>()
            .map(|s| s.limiter.clone())
        else {
            return Ok(document);
        };
        // API keys and token subjects have their own buckets; anonymous callers share their IP's.
        let caller = ctx.data_opt::<Caller>().and_then(Caller::identified);
        let ip = ctx.data_opt::<RequestMeta>().and_then(|m| m.ip.as_deref());
        match limiter.charge(caller, ip, cost(&document)).await {
            Ok(()) => Ok(document),
            Err(wait) => {
                let retry_after = wait.ceil().max(1.0) as u64;
                let mut error = ApiError::new(
                    ErrorCode::RateLimited,
                    format!("too many operations: try again in {retry_after} s"),
                )
                .into_server_error(None);
                if let Some(extensions) = error.extensions.as_mut() {
                    extensions.set("retryAfter", retry_after);
                }
                Err(error)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_allow_bursts_then_the_rate() {
        let limiter = RateLimiter::new(RateLimits {
            per_caller: 10.0,
            per_ip: 0.0,
        });
        // A burst of twice the rate, then refused with the wait.
        for _ in 0..20 {
            assert!(limiter.take(Some("a"), Some("ip"), 1.0).is_ok());
        }
        let wait = limiter.take(Some("a"), Some("ip"), 1.0).unwrap_err();
        assert!(wait > 0.0 && wait <= 0.1 + 1e-9, "{wait}");
        // Another caller has its own bucket; no IP limit configured.
        assert!(limiter.take(Some("b"), Some("ip"), 1.0).is_ok());
        // A cost of several is taken whole or not at all.
        assert!(limiter.take(Some("c"), None, 25.0).is_err());
        assert!(limiter.take(Some("c"), None, 20.0).is_ok());
    }

    #[test]
    fn the_ip_bucket_counts_every_caller_behind_it() {
        let limiter = RateLimiter::new(RateLimits {
            per_caller: 0.0,
            per_ip: 5.0,
        });
        for i in 0..10 {
            assert!(
                limiter
                    .take(Some(&format!("k{i}")), Some("1.2.3.4"), 1.0)
                    .is_ok()
            );
        }
        assert!(limiter.take(Some("k99"), Some("1.2.3.4"), 1.0).is_err());
        assert!(limiter.take(Some("k99"), Some("5.6.7.8"), 1.0).is_ok());
    }

    #[test]
    fn mutations_cost_one_per_root_field() {
        let document = async_graphql::parser::parse_query("mutation { a: x b: x c: x }").unwrap();
        assert_eq!(cost(&document), 3.0);
        let document = async_graphql::parser::parse_query("{ a b c }").unwrap();
        assert_eq!(cost(&document), 1.0);
    }
}
