//! A twilight `Queue` that waits on gateway-queue over HTTP.
//!
//! ```ignore
//! let queue = HttpQueue::new("http://127.0.0.1:5000", std::env::var("QUEUE_AUTH_TOKEN").ok());
//! // or, for an active queue and its standbys:
//! let queue = HttpQueue::with_urls(["http://a:5000/", "http://b:5000/"], None);
//! let config = twilight_gateway::Config::builder(token, intents).queue(queue).build();
//! ```
//!
//! Rules: the shard proceeds only after a 2xx; a 503 or an unreachable queue moves on to the next
//! URL of the list, and once every URL has been tried the request waits (the longest Retry-After
//! of the 503s) before the next round; a 429 means the daily session budget is used up (the budget
//! is shared, so another queue would say the same): it is logged and the request waits
//! Retry-After (the reset) before asking that queue again, it never lets the shard identify and
//! never loops. The trait's contract is that a closed channel makes the shard enqueue again at
//! once, so the sender is never dropped on an error (that would be a tight loop): errors are waited
//! out inside the task instead. When the shard drops its receiver, the task drops the request
//! future, which closes its connection: the queue drops the shard and the next one of its bucket
//! takes the slot.
use std::{
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    },
    time::Duration,
};
use tokio::sync::oneshot;
use twilight_gateway_queue::Queue;

/// Wait after an error that has no Retry-After (every queue unreachable, 400, 401, 5xx).
const RETRY_ERROR: Duration = Duration::from_secs(5);

#[derive(Clone, Debug)]
pub struct HttpQueue(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    client: reqwest::Client,
    urls: Vec<String>,
    token: Option<String>,
    /// The URL that granted last: waits start there, so a dead queue is not asked first.
    preferred: AtomicUsize,
}

impl HttpQueue {
    /// `url`: the queue's base URL without a query (e.g. `http://127.0.0.1:5000/`); `token`: sent
    /// as `Authorization: Bearer <token>` when set.
    pub fn new(url: impl Into<String>, token: Option<String>) -> Self {
        Self::with_urls([url], token)
    }

    /// Several queues (an active one and its standbys), asked in turn. Panics on an empty list.
    pub fn with_urls<I>(urls: I, token: Option<String>) -> Self
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        let urls: Vec<String> = urls.into_iter().map(Into::into).collect();
        assert!(!urls.is_empty(), "gateway-queue: no queue URL");
        // No request timeout: a shard behind many others waits minutes. No idle pool: each wait
        // has its own connection, so dropping it closes exactly that one.
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(0)
            .build()
            .expect("reqwest client");
        Self(Arc::new(Inner { client, urls, token, preferred: AtomicUsize::new(0) }))
    }
}

/// What a queue answers while it cannot serve (503), and what a load balancer in front of the
/// queues answers when the one it reached went away (502) or timed out (504).
fn unavailable(status: reqwest::StatusCode) -> bool {
    use reqwest::StatusCode;
    [StatusCode::BAD_GATEWAY, StatusCode::SERVICE_UNAVAILABLE, StatusCode::GATEWAY_TIMEOUT]
        .contains(&status)
}

fn retry_after(response: &reqwest::Response, fallback: Duration) -> Duration {
    response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|value| value.to_str().ok()?.trim().parse::<u64>().ok())
        .map_or(fallback, Duration::from_secs)
}

impl Inner {
    /// Returns once a queue allows `shard` to identify.
    async fn wait_for_identify(&self, shard: u32) {
        let mut index = self.preferred.load(Ordering::Relaxed);
        // 503s and unreachable queues since the last wait, and the longest Retry-After among them.
        let (mut tried, mut longest) = (0, None::<Duration>);
        loop {
            let url = &self.urls[index];
            let mut request = self.client.get(format!("{url}?shard={shard}"));
            if let Some(token) = &self.token {
                request = request.bearer_auth(token);
            }
            match request.send().await {
                Ok(response) if response.status().is_success() => {
                    self.preferred.store(index, Ordering::Relaxed);
                    return;
                }
                Ok(response) if !unavailable(response.status()) => {
                    // 429 (the daily budget, shared by every queue of the list), 400, 401: logged
                    // and waited out, then the same queue is asked again.
                    let status = response.status();
                    let wait = retry_after(&response, RETRY_ERROR);
                    if status == reqwest::StatusCode::TOO_MANY_REQUESTS {
                        tracing::error!(
                            shard,
                            ?wait,
                            "gateway-queue: daily session budget exhausted; not identifying"
                        );
                    } else {
                        tracing::error!(shard, %status, ?wait, "gateway-queue refused the request");
                    }
                    tokio::time::sleep(wait).await;
                }
                answer => {
                    // Unreachable, standby, full or stopping: another queue of the list may be the
                    // active one. Once all were tried, wait before the next round.
                    match &answer {
                        Ok(response) => {
                            let wait = retry_after(response, Duration::from_secs(1));
                            longest = Some(longest.map_or(wait, |longest| longest.max(wait)));
                        }
                        Err(error) => {
                            tracing::warn!(shard, %url, %error, "gateway-queue unreachable")
                        }
                    }
                    index = (index + 1) % self.urls.len();
                    tried += 1;
                    if tried < self.urls.len() {
                        continue;
                    }
                    tokio::time::sleep(longest.unwrap_or(RETRY_ERROR)).await;
                }
            }
            tried = 0;
            longest = None;
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
