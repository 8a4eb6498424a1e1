//! Limits shared by every gateway replica (F29): with `REDIS_URL` set, the rate limits' token
//! buckets and the open WebSocket sessions per caller are kept in Redis, so N replicas behind a
//! load balancer allow what one would, not N times as much. Each check is one atomic Lua script
//! (one round trip) using Redis's clock, so replicas' clocks need not agree.
//!
//! Redis is a shared counter here, not a dependency: until it answers (at start, or while it is
//! down) every call says so and the caller counts in its own process, as without `REDIS_URL`.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use redis::Script;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

/// A check that Redis does not answer within this is counted locally instead.
const TIMEOUT: Duration = Duration::from_millis(250);
/// How often a replica that has no connection yet tries again.
const RECONNECT_EVERY: Duration = Duration::from_secs(5);

/// What a failed shared check falls back on.
#[derive(Debug)]
pub struct Unavailable;

/// Token buckets: refill each to at most twice its rate, then take `cost` from all of them or
/// from none. KEYS: the buckets; ARGV[1]: cost, ARGV[1 + i]: the rate of KEYS[i]. Returns the
/// seconds to wait (a string: Lua numbers lose their fraction on the way back), "0" when taken.
const TAKE: &str = r"
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local cost = tonumber(ARGV[1])
local wait = 0
local tokens = {}
for i, key in ipairs(KEYS) do
  local rate = tonumber(ARGV[i + 1])
  local state = redis.call('HMGET', key, 'tokens', 'at')
  local held = tonumber(state[1]) or 2 * rate
  local at = tonumber(state[2]) or now
  held = math.min(2 * rate, held + math.max(0, now - at) * rate)
  tokens[i] = held
  if held < cost then wait = math.max(wait, (cost - held) / rate) end
end
for i, key in ipairs(KEYS) do
  local rate = tonumber(ARGV[i + 1])
  local held = tokens[i]
  if wait == 0 then held = held - cost end
  redis.call('HSET', key, 'tokens', tostring(held), 'at', tostring(now))
  -- Full again after 2 s without use: the same as absent.
  redis.call('PEXPIRE', key, math.ceil(2000 * (2 * rate - held) / rate) + 1000)
end
return tostring(wait)
";

/// Sessions as a sorted set of session ids scored by when their lease ends: expired leases (a
/// replica that died) are dropped, then the session is admitted if it is already in or the set
/// holds fewer than the cap. KEYS[1]: the caller's set; ARGV: session id, cap, lease ms.
/// Returns 1 admitted, 0 refused.
const ADMIT: &str = r"
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local held = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not held and redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[1])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[3]))
return 1
";

/// How long a session's lease lasts without being renewed; a replica killed with its sessions
/// open frees their slots after this.
pub const LEASE: Duration = Duration::from_secs(30);

/// The shared counters at one Redis.
#[derive(Clone)]
pub struct SharedCounters {
    connection: Arc<OnceLock<ConnectionManager>>,
    take: Arc<Script>,
    admit: Arc<Script>,
}

impl SharedCounters {
    /// Counters at `url`. The first connection is tried at once (so a replica whose Redis is up
    /// counts there from its first request), then in the background every few seconds until
    /// Redis answers; the connection reconnects by itself afterwards.
    pub async fn start(url: &str) -> anyhow::Result<Self> {
        let client = redis::Client::open(url)
            .map_err(|e| anyhow::anyhow!("REDIS_URL is not a Redis URL: {e}"))?;
        let connection: Arc<OnceLock<ConnectionManager>> = Arc::default();
        match connect(&client).await {
            Ok(manager) => {
                tracing::info!("rate limits and WebSocket sessions counted in Redis");
                let _ = connection.set(manager);
            }
            Err(e) => {
                tracing::warn!(
                    error = %e,
                    "Redis unreachable: this replica counts rate limits and WebSocket sessions \
                     by itself until it answers"
                );
                let slot = connection.clone();
                tokio::spawn(async move {
                    loop {
                        tokio::time::sleep(RECONNECT_EVERY).await;
                        if let Ok(manager) = connect(&client).await {
                            tracing::info!("Redis answers: limits counted there from now on");
                            let _ = slot.set(manager);
                            return;
                        }
                    }
                });
            }
        }
        Ok(Self {
            connection,
            take: Arc::new(Script::new(TAKE)),
            admit: Arc::new(Script::new(ADMIT)),
        })
    }

    fn connection(&self) -> Result<ConnectionManager, Unavailable> {
        self.connection.get().cloned().ok_or(Unavailable)
    }

    /// Takes `cost` from every bucket (`key`, operations per second) or from none; the seconds
    /// to wait when refused.
    pub async fn take(
        &self,
        buckets: &[(String, f64)],
        cost: f64,
    ) -> Result<Result<(), f64>, Unavailable> {
        let mut connection = self.connection()?;
        let mut invocation = self.take.prepare_invoke();
        invocation.arg(cost);
        for (key, rate) in buckets {
            invocation.key(format!("vision:rate:{key}")).arg(*rate);
        }
        let wait: String = within(invocation.invoke_async(&mut connection)).await?;
        let wait: f64 = wait.parse().map_err(|_| Unavailable)?;
        Ok(if wait > 0.0 { Err(wait) } else { Ok(()) })
    }

    /// Admits (or renews) session `id` among `who`'s open sessions, at most `cap` of them.
    pub async fn admit(&self, who: &str, id: &str, cap: usize) -> Result<bool, Unavailable> {
        let mut connection = self.connection()?;
        let admitted: i64 = within(
            self.admit
                .key(sessions_key(who))
                .arg(id)
                .arg(cap)
                .arg(LEASE.as_millis() as u64)
                .invoke_async(&mut connection),
        )
        .await?;
        Ok(admitted == 1)
    }

    /// Gives session `id`'s slot back.
    pub async fn release(&self, who: &str, id: &str) -> Result<(), Unavailable> {
        let mut connection = self.connection()?;
        within(
            redis::cmd("ZREM")
                .arg(sessions_key(who))
                .arg(id)
                .query_async::<i64>(&mut connection),
        )
        .await
        .map(drop)
    }
}

async fn connect(client: &redis::Client) -> redis::RedisResult<ConnectionManager> {
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(TIMEOUT * 4)
        .set_response_timeout(TIMEOUT)
        .set_number_of_retries(1);
    ConnectionManager::new_with_config(client.clone(), config).await
}

fn sessions_key(who: &str) -> String {
    format!("vision:ws:{who}")
}

/// A Redis call's answer, or [`Unavailable`] when it fails or takes too long (logged at most
/// once a minute, not once per request).
async fn within<T>(
    call: impl std::future::Future<Output = redis::RedisResult<T>>,
) -> Result<T, Unavailable> {
    match tokio::time::timeout(TIMEOUT, call).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => {
            warn_now_and_then(&e.to_string());
            Err(Unavailable)
        }
        Err(_) => {
            warn_now_and_then("no answer in time");
            Err(Unavailable)
        }
    }
}

fn warn_now_and_then(error: &str) {
    use std::sync::atomic::{AtomicU64, Ordering};
    static LAST: AtomicU64 = AtomicU64::new(0);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let last = LAST.load(Ordering::Relaxed);
    if now >= last + 60
        && LAST
            .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
    {
        tracing::warn!(
            error,
            "Redis did not answer a limit check: counted in this replica alone meanwhile"
        );
    }
}
