'use strict';
// An identify throttler for @discordjs/ws (and discord.js 14, which runs on it) that waits on
// gateway-queue instead of pacing shards inside one process, and tells the queue how each granted
// IDENTIFY went.
//
//   const { createQueueThrottler } = require('./queue_throttler');
//   new WebSocketManager({ ..., buildIdentifyThrottler: (manager) =>
//     createQueueThrottler({ url: 'http://127.0.0.1:5000', token: process.env.QUEUE_AUTH_TOKEN })
//       .watch(manager) });
//
// `url` may also be a list, for an active queue and its standbys: ['http://a:5000', 'http://b:5000'].
//
// Rules: identify only after a 2xx; a 503 or an unreachable queue moves on to the next URL of the
// list, and once every URL has been tried the shard waits (the longest Retry-After of the 503s)
// before the next round; a 429 (the daily session budget is used up, or the queue found the shard
// looping: granted QUEUE_SHARD_HOURLY_LIMIT times in the last hour) is reported with the body's
// error text and the shard waits Retry-After before asking that queue again (another queue of the
// list shares the journal and would say the same); it never identifies and never loops; when the
// shard is destroyed, `signal` aborts the request, the queue drops the shard and the next one of
// its bucket takes the slot.
//
// Boots: until a shard id has been granted once by this throttler, its requests carry
// `initial=true` (a boot, which the queue does not grant from its reserve of session starts);
// afterwards they omit it (a reconnect). @discordjs/ws does not tell a boot from a reconnect, so
// the throttler's lifetime is the measure: the library calls buildIdentifyThrottler once per
// manager, so a process start (a new manager) is a boot.
//
// Outcomes: watch(manager) listens to the manager's shard events and, after each grant, reports
// the first of: READY -> `ready`; an Invalid Session (op 9) before READY -> `invalid_session`; the
// connection closed before READY -> `closed&code=C`. One `POST <queue>/outcome?shard=N&result=R`
// per grant, to the URL that granted (the others of the list only if that one answers 502/503/504
// or is unreachable), fire-and-forget: never awaited by an IDENTIFY, never retried, a failure
// warned about once per shard and result. The queue widens a bucket's spacing on invalid sessions.
// Without watch() the throttler only waits; nothing is reported.
//
// waitForIdentify never throws except on abort: @discordjs/ws 1.2 answers any other error from a
// throttler by reconnecting the shard and, once that returns, identifying anyway.
const http = require('node:http');
const https = require('node:https');
const { setTimeout: sleep } = require('node:timers/promises');

// Waits after an error that has no Retry-After (every queue unreachable, 400, 401, 5xx).
const RETRY_ERROR_MS = 5000;
// An outcome report gives up after this long: it is never worth holding a socket for.
const REPORT_TIMEOUT_MS = 10000;

// Seconds from a Retry-After header, in ms; `fallbackMs` when absent or not a number.
function retryAfterMs(value, fallbackMs) {
  const seconds = Number.parseInt(value ?? '', 10);
  return Number.isFinite(seconds) && seconds >= 0 ? seconds * 1000 : fallbackMs;
}

// One request; resolves to {status, retryAfter, body}. node:http is used rather than fetch: fetch
// gives up on a response that takes more than 300 s, and a shard behind many others waits longer
// than that. `agent: false` gives the request its own connection, so aborting it closes exactly
// that socket.
function send(method, url, headers, signal) {
  const transport = url.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const request = transport.request(url, { method, headers, signal, agent: false }, (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk) => (body += chunk));
      response.on('end', () =>
        resolve({ status: response.statusCode, retryAfter: response.headers['retry-after'], body }),
      );
      response.on('error', reject);
    });
    request.on('error', reject);
    request.end();
  });
}

// The `error` text of a JSON body ('' if it has none), or a body that is not JSON, trimmed.
function errorText(body) {
  try {
    const parsed = JSON.parse(body);
    return typeof parsed?.error === 'string' ? parsed.error : '';
  } catch {
    return body.trim();
  }
}

// What a queue answers while it cannot serve, and what a load balancer in front of the queues
// answers when the one it reached went away (502) or timed out (504).
const UNAVAILABLE = new Set([502, 503, 504]);

// The shard events of @discordjs/ws 1.2 (WebSocketShardEvents), which the manager re-emits as
// (payload) with `payload.shardId` added. An Invalid Session only shows as a debug message; after
// one before READY, 1.2.3 closes the connection without a `closed` event (the op 9 handler's
// destroy and the aborted wait for READY's destroy race over the socket's onclose).
const READY_EVENT = 'ready';
const CLOSED_EVENT = 'closed';
const DEBUG_EVENT = 'debug';
const INVALID_SESSION_DEBUG = /^Invalid session\b/;

/**
 * Builds an IIdentifyThrottler for @discordjs/ws.
 * @param {object} options
 * @param {string | string[]} options.url  base URL of gateway-queue, e.g. 'http://127.0.0.1:5000', or
 *   a list of them (an active queue and its standbys), tried in turn
 * @param {string} [options.token]  sent as `Authorization: Bearer <token>` (the queue's QUEUE_AUTH_TOKEN)
 * @param {(message: string) => void} [options.warn]  where refusals and failed reports are
 *   reported (default console.warn)
 * @returns {{ waitForIdentify(shardId: number, signal: AbortSignal): Promise<void>,
 *   watch(manager: import('@discordjs/ws').WebSocketManager): object }}  watch() attaches the
 *   outcome reports to a manager and returns the throttler itself
 */
function createQueueThrottler({ url, token, warn = (message) => console.warn(message) }) {
  const urls = [url].flat();
  if (urls.length === 0) throw new TypeError('createQueueThrottler: no queue URL');
  const headers = token ? { authorization: `Bearer ${token}` } : {};
  // The URL that granted last: every wait starts there, so a dead queue is not asked first.
  let preferred = 0;
  // Shard ids granted at least once: their requests are reconnects, not boots.
  const booted = new Set();
  // shard id -> index of the URL that granted its last request, until that grant's outcome is sent.
  const pending = new Map();
  // `${shard}:${result}` whose failed report was already warned about.
  const warned = new Set();
  const watched = new WeakSet();

  // POST <queue>/outcome for the grant `pending` holds for `shardId`, if any; never throws, never
  // awaited by anyone.
  async function report(shardId, result, code) {
    if (!pending.has(shardId)) return;
    const first = pending.get(shardId);
    pending.delete(shardId);
    let failure = null;
    for (let k = 0; k < urls.length; ++k) {
      const target = new URL(urls[(first + k) % urls.length]);
      target.pathname = `${target.pathname.replace(/\/+$/, '')}/outcome`;
      target.search = '';
      target.searchParams.set('shard', String(shardId));
      target.searchParams.set('result', result);
      if (code !== undefined) target.searchParams.set('code', String(code));
      let answer = null;
      try {
        answer = await send('POST', target, headers, AbortSignal.timeout(REPORT_TIMEOUT_MS));
      } catch (error) {
        failure = `${target.host}: ${error.message}`;
        continue; // unreachable: the next queue of the list, if any
      }
      if (answer.status >= 200 && answer.status < 300) return;
      failure = `${target.host}: ${answer.status} ${errorText(answer.body)}`;
      if (!UNAVAILABLE.has(answer.status)) break; // 400, 401, 409: no other queue would differ
    }
    const key = `${shardId}:${result}`;
    if (warned.has(key)) return;
    warned.add(key);
    warn(`gateway-queue: shard ${shardId}: outcome ${result} not reported (${failure}); not retrying`);
  }
  const reportSoon = (shardId, result, code) => {
    report(shardId, result, code).catch(() => {});
  };

  const throttler = {
    async waitForIdentify(shardId, signal) {
      let index = preferred;
      // 503s and unreachable queues since the last wait, and the longest Retry-After among them.
      let tried = 0;
      let wait = null;
      for (;;) {
        signal.throwIfAborted();
        const target = new URL(urls[index]);
        target.searchParams.set('shard', String(shardId));
        if (!booted.has(shardId)) target.searchParams.set('initial', 'true');
        let answer = null;
        let failure = null;
        try {
          answer = await send('GET', target, headers, signal);
        } catch (error) {
          if (signal.aborted) throw error;
          failure = error.message;
        }
        if (answer && answer.status >= 200 && answer.status < 300) {
          preferred = index;
          booted.add(shardId);
          pending.set(shardId, index);
          return;
        }
        if (failure !== null || UNAVAILABLE.has(answer.status)) {
          // Unreachable, standby, full or stopping (or, behind a load balancer, the queue went
          // away: 502, 504): another queue of the list may be the active one.
          // Once all were tried, wait before the next round: a standby takes over within a second.
          if (answer) wait = Math.max(wait ?? 0, retryAfterMs(answer.retryAfter, 1000));
          index = (index + 1) % urls.length;
          const roundDone = ++tried === urls.length;
          const pause = wait ?? RETRY_ERROR_MS;
          if (failure !== null) {
            warn(`gateway-queue: shard ${shardId}: ${target.host}: ${failure}; ` +
              (roundDone ? `asking again in ${pause} ms` : 'trying the next queue'));
          }
          if (!roundDone) continue;
          await sleep(pause, undefined, { signal });
        } else {
          // 429 (the daily budget, or this shard looping: both kept in the journal every queue of
          // the list shares), 400, 401: reported and waited out, then the same queue is asked again.
          const refusal = retryAfterMs(answer.retryAfter, RETRY_ERROR_MS);
          const what = errorText(answer.body) || (answer.status === 429 ? 'daily session budget exhausted' : 'refused');
          warn(`gateway-queue: shard ${shardId}: ${answer.status} ${what}; not identifying, asking again in ${refusal} ms`);
          await sleep(refusal, undefined, { signal });
        }
        tried = 0;
        wait = null;
      }
    },

    // Reports the outcome of each grant from `manager`'s shard events (see the header). Returns the
    // throttler, so that buildIdentifyThrottler can be `(manager) => createQueueThrottler(...).watch(manager)`.
    watch(manager) {
      if (watched.has(manager)) return throttler;
      watched.add(manager);
      manager.on(READY_EVENT, (payload) => reportSoon(payload?.shardId, 'ready'));
      manager.on(CLOSED_EVENT, (payload) => reportSoon(payload?.shardId, 'closed', payload?.code));
      manager.on(DEBUG_EVENT, (payload) => {
        if (INVALID_SESSION_DEBUG.test(payload?.message ?? '')) reportSoon(payload.shardId, 'invalid_session');
      });
      return throttler;
    },
  };
  return throttler;
}

module.exports = { createQueueThrottler };
