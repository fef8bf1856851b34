//! A twilight `Queue` that waits on gateway-queue over HTTP, and tells the queue how each granted
//! IDENTIFY went.
//!
//! ```ignore
//! let queue = HttpQueue::new("http://127.0.0.1:5000", std::env::var("QUEUE_AUTH_TOKEN").ok());
//! // or, for an active queue and its standbys:
//! let queue = HttpQueue::with_urls(["http://a:5000/", "http://b:5000/"], None);
//! let config = ConfigBuilder::new(token, intents).queue(queue.clone()).build();
//! // In each shard's event loop, READY and GATEWAY_INVALIDATE_SESSION among the wanted events:
//! let wanted = wanted | EventTypeFlags::READY | EventTypeFlags::GATEWAY_INVALIDATE_SESSION;
//! while let Some(item) = shard.next_event(wanted).await {
//!     let Ok(event) = item else { continue };
//!     queue.observe(shard.id().number(), &event);
//!     // ...
//! }
//! ```
//!
//! Rules: the shard proceeds only after a 2xx; a 503 or an unreachable queue moves on to the next
//! URL of the list, and once every URL has been tried the request waits (the longest Retry-After
//! of the 503s) before the next round; a 429 (the daily session budget is used up, or the queue
//! found the shard looping: granted QUEUE_SHARD_HOURLY_LIMIT times in the last hour) is logged with
//! the body's error text and the request waits Retry-After before asking that queue again (another
//! queue of the list shares the journal and would say the same); it never lets the shard identify
//! and never loops. The trait's contract is that a closed channel makes the shard enqueue again at
//! once, so the sender is never dropped on an error (that would be a tight loop): errors are waited
//! out inside the task instead. When the shard drops its receiver, the task drops the request
//! future, which closes its connection: the queue drops the shard and the next one of its bucket
//! takes the slot.
//!
//! Boots: `Queue::enqueue(shard)` does not tell a boot from a reconnect, so a request carries
//! `initial=true` until this queue (and its clones) had that shard granted once (a process start is
//! a boot: build one queue per process), and omits it afterwards (a reconnect).
//!
//! Outcomes: the queue sees no events; `observe` (called with each event of the shard) reports,
//! after each grant, the first of: `Event::Ready` -> `ready`; `Event::GatewayInvalidateSession`
//! (op 9) before READY -> `invalid_session`; `Event::GatewayClose` before READY -> `closed&code=C`.
//! One `POST <queue>/outcome?shard=N&result=R` per grant, to the URL that granted (the others of
//! the list only if that one answers 502/503/504 or is unreachable), fire-and-forget: a spawned
//! task that no IDENTIFY waits for, never retried, a failure logged once per shard and result.
//! `report_outcome` is the same without an event.
use std::{
    collections::{HashMap, HashSet},
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc, Mutex,
    },
    time::Duration,
};
use tokio::sync::oneshot;
use twilight_gateway_queue::Queue;
use twilight_model::gateway::event::Event;

/// Wait after an error that has no Retry-After (every queue unreachable, 400, 401, 5xx).
const RETRY_ERROR: Duration = Duration::from_secs(5);
/// An outcome report gives up after this long: it is never worth holding a connection for.
const REPORT_TIMEOUT: Duration = Duration::from_secs(10);

/// What became of a granted IDENTIFY (`POST /outcome`'s `result`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The READY dispatch arrived.
    Ready,
    /// An Invalid Session (op 9) came before READY.
    InvalidSession,
    /// The connection closed before READY, with this close code if one is known.
    Closed(Option<u16>),
}

impl Outcome {
    /// `POST /outcome`'s `result`.
    const fn result(self) -> &'static str {
        match self {
            Self::Ready => "ready",
            Self::InvalidSession => "invalid_session",
            Self::Closed(_) => "closed",
        }
    }
}

#[derive(Clone, Debug)]
pub struct HttpQueue(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    client: reqwest::Client,
    urls: Vec<String>,
    token: Option<String>,
    /// The URL that granted last: waits start there, so a dead queue is not asked first.
    preferred: AtomicUsize,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// Shard ids granted at least once: their requests are not boots.
    booted: HashSet<u32>,
    /// Shard id -> index of the URL that granted its last request, until that grant's outcome is
    /// sent.
    pending: HashMap<u32, usize>,
    /// (shard, result) whose failed report was already logged.
    warned: HashSet<(u32, &'static str)>,
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
        Self(Arc::new(Inner {
            client,
            urls,
            token,
            preferred: AtomicUsize::new(0),
            state: Mutex::default(),
        }))
    }

    /// Reports the outcome of `shard`'s last granted IDENTIFY from one of its events (the others
    /// are ignored): call it with each event of the shard, READY and GATEWAY_INVALIDATE_SESSION
    /// among the wanted event types (`Event::GatewayClose` always comes). Returns at once; must be
    /// called within a tokio runtime.
    pub fn observe(&self, shard: u32, event: &Event) {
        match event {
            Event::Ready(_) => self.report_outcome(shard, Outcome::Ready),
            Event::GatewayInvalidateSession(_) => {
                self.report_outcome(shard, Outcome::InvalidSession);
            }
            Event::GatewayClose(frame) => {
                let code = frame.as_ref().map(|frame| frame.code);
                self.report_outcome(shard, Outcome::Closed(code));
            }
            _ => {}
        }
    }

    /// Reports what became of `shard`'s last granted IDENTIFY, in a spawned task; does nothing
    /// when that grant's outcome was already reported. Must be called within a tokio runtime.
    pub fn report_outcome(&self, shard: u32, outcome: Outcome) {
        let granted = self.0.state.lock().expect("gateway-queue state").pending.remove(&shard);
        if let Some(granted) = granted {
            let inner = Arc::clone(&self.0);
            tokio::spawn(async move { inner.post(shard, outcome, granted).await });
        }
    }
}

/// What a queue answers while it cannot serve (503), and what a load balancer in front of the
/// queues answers when the one it reached went away (502) or timed out (504).
fn unavailable(status: reqwest::StatusCode) -> bool {
    use reqwest::StatusCode;
    [StatusCode::BAD_GATEWAY, StatusCode::SERVICE_UNAVAILABLE, StatusCode::GATEWAY_TIMEOUT]
        .contains(&status)
}

/// The `error` text of a queue's JSON answer, or the answer itself when it has none.
fn error_text(body: &str) -> String {
    serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|answer| answer.get("error")?.as_str().map(str::to_owned))
        .unwrap_or_else(|| body.trim().to_owned())
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
            // A boot until this queue had the shard granted once.
            let initial = !self.state.lock().expect("gateway-queue state").booted.contains(&shard);
            let mut target = format!("{url}?shard={shard}");
            if initial {
                target.push_str("&initial=true");
            }
            let mut request = self.client.get(target);
            if let Some(token) = &self.token {
                request = request.bearer_auth(token);
            }
            match request.send().await {
                Ok(response) if response.status().is_success() => {
                    self.preferred.store(index, Ordering::Relaxed);
                    let mut state = self.state.lock().expect("gateway-queue state");
                    state.booted.insert(shard);
                    state.pending.insert(shard, index); // armed before the IDENTIFY is sent
                    return;
                }
                Ok(response) if !unavailable(response.status()) => {
                    // 429 (the daily budget, or this shard looping: the journal is shared by every
                    // queue of the list), 400, 401: logged and waited out, then the same queue is
                    // asked again.
                    let status = response.status();
                    let wait = retry_after(&response, RETRY_ERROR);
                    let error = error_text(&response.text().await.unwrap_or_default());
                    tracing::error!(
                        shard,
                        %status,
                        %error,
                        ?wait,
                        "gateway-queue refused the request; not identifying"
                    );
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

impl Inner {
    /// `POST <queue>/outcome` to the queue that granted (index `first`); a 502/503/504 or no answer
    /// moves on to the next one, each queue of the list being asked once at most.
    async fn post(&self, shard: u32, outcome: Outcome, first: usize) {
        let result = outcome.result();
        let mut failure = String::new();
        for step in 0..self.urls.len() {
            let url = &self.urls[(first + step) % self.urls.len()];
            let base = url.trim_end_matches('/');
            let mut target = format!("{base}/outcome?shard={shard}&result={result}");
            if let Outcome::Closed(Some(code)) = outcome {
                target.push_str(&format!("&code={code}"));
            }
            let mut request = self.client.post(target).timeout(REPORT_TIMEOUT);
            if let Some(token) = &self.token {
                request = request.bearer_auth(token);
            }
            match request.send().await {
                Ok(response) if response.status().is_success() => return,
                Ok(response) => {
                    let status = response.status();
                    let error = error_text(&response.text().await.unwrap_or_default());
                    failure = format!("{url}: {status} {error}");
                    if !unavailable(status) {
                        break;
                    }
                }
                Err(error) => failure = format!("{url}: {error}"),
            }
        }
        let mut state = self.state.lock().expect("gateway-queue state");
        if state.warned.insert((shard, result)) {
            tracing::warn!(shard, result, %failure, "gateway-queue: outcome not recorded");
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
