//! A twilight `Queue` that waits on gateway-queue over HTTP.
//!
//! ```ignore
//! let queue = HttpQueue::new("http://127.0.0.1:5000", std::env::var("QUEUE_AUTH_TOKEN").ok());
//! let config = twilight_gateway::Config::builder(token, intents).queue(queue).build();
//! ```
//!
//! Rules: the shard proceeds only after a 2xx; a 503 is retried after its Retry-After; a 429 means
//! the daily session budget is used up: it is logged and the request waits Retry-After (the reset)
//! before asking again, it never lets the shard identify and never loops. The trait's contract is
//! that a closed channel makes the shard enqueue again at once, so the sender is never dropped on
//! an error (that would be a tight loop): errors are waited out inside the task instead. When the
//! shard drops its receiver, the task drops the request future, which closes its connection: the
//! queue drops the shard and the next one of its bucket takes the slot.
use std::{sync::Arc, time::Duration};
use tokio::sync::oneshot;
use twilight_gateway_queue::Queue;

/// Wait after an error that has no Retry-After (queue unreachable, 400, 401, 5xx).
const RETRY_ERROR: Duration = Duration::from_secs(5);

#[derive(Clone, Debug)]
pub struct HttpQueue(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    client: reqwest::Client,
    url: String,
    token: Option<String>,
}

impl HttpQueue {
    /// `url`: the queue's base URL without a query (e.g. `http://127.0.0.1:5000/`); `token`: sent
    /// as `Authorization: Bearer <token>` when set.
    pub fn new(url: impl Into<String>, token: Option<String>) -> Self {
        // No request timeout: a shard behind many others waits minutes. No idle pool: each wait
        // has its own connection, so dropping it closes exactly that one.
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(0)
            .build()
            .expect("reqwest client");
        Self(Arc::new(Inner { client, url: url.into(), token }))
    }
}

fn retry_after(response: &reqwest::Response, fallback: Duration) -> Duration {
    response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|value| value.to_str().ok()?.trim().parse::<u64>().ok())
        .map_or(fallback, Duration::from_secs)
}

impl Inner {
    /// Returns once the queue allows `shard` to identify.
    async fn wait_for_identify(&self, shard: u32) {
        loop {
            let mut request = self.client.get(format!("{}?shard={shard}", self.url));
            if let Some(token) = &self.token {
                request = request.bearer_auth(token);
            }
            let response = match request.send().await {
                Ok(response) => response,
                Err(error) => {
                    tracing::warn!(shard, %error, "gateway-queue unreachable; asking again");
                    tokio::time::sleep(RETRY_ERROR).await;
                    continue;
                }
            };
            let status = response.status();
            if status.is_success() {
                return;
            }
            if status == reqwest::StatusCode::SERVICE_UNAVAILABLE {
                tokio::time::sleep(retry_after(&response, Duration::from_secs(1))).await;
                continue;
            }
            let wait = retry_after(&response, RETRY_ERROR);
            if status == reqwest::StatusCode::TOO_MANY_REQUESTS {
                tracing::error!(shard, ?wait, "gateway-queue: daily session budget exhausted; not identifying");
            } else {
                tracing::error!(shard, %status, ?wait, "gateway-queue refused the request");
            }
            tokio::time::sleep(wait).await;
        }
    }
}

impl Queue for HttpQueue {
    fn enqueue(&self, shard: u32) -> oneshot::Receiver<()> {
        let (mut sender, receiver) = oneshot::channel();
        let inner = Arc::clone(&self.0);
        tokio::spawn(async move {
            tokio::select! {
                // The shard dropped its receiver: dropping the wait closes the request.
                () = sender.closed() => {}
                () = inner.wait_for_identify(shard) => { let _ = sender.send(()); }
            }
        });
        receiver
    }
}
