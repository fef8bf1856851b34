'use strict';
// An identify throttler for @discordjs/ws (and discord.js 14, which runs on it) that waits on
// gateway-queue instead of pacing shards inside one process.
//
//   const { createQueueThrottler } = require('./queue_throttler');
//   new WebSocketManager({ ..., buildIdentifyThrottler: () =>
//     createQueueThrottler({ url: 'http://127.0.0.1:5000', token: process.env.QUEUE_AUTH_TOKEN }) });
//
// `url` may also be a list, for an active queue and its standbys: ['http://a:5000', 'http://b:5000'].
//
// Rules: identify only after a 2xx; a 503 or an unreachable queue moves on to the next URL of the
// list, and once every URL has been tried the shard waits (the longest Retry-After of the 503s)
// before the next round; a 429 means the daily session budget is used up (the budget is shared,
// so another queue would say the same): it is reported and the shard waits Retry-After (the
// reset) before asking that queue again, it never identifies and never loops; when the shard is
// destroyed, `signal` aborts the request, the queue drops the shard and the next one of its bucket
// takes the slot.
//
// waitForIdentify never throws except on abort: @discordjs/ws 1.2 answers any other error from a
// throttler by reconnecting the shard and, once that returns, identifying anyway.
const http = require('node:http');
const https = require('node:https');
const { setTimeout: sleep } = require('node:timers/promises');

// Waits after an error that has no Retry-After (every queue unreachable, 400, 401, 5xx).
const RETRY_ERROR_MS = 5000;

// Seconds from a Retry-After header, in ms; `fallbackMs` when absent or not a number.
function retryAfterMs(value, fallbackMs) {
  const seconds = Number.parseInt(value ?? '', 10);
  return Number.isFinite(seconds) && seconds >= 0 ? seconds * 1000 : fallbackMs;
}

// One long-poll. node:http is used rather than fetch: fetch gives up on a response that takes
// more than 300 s, and a shard behind many others waits longer than that. `agent: false` gives the
// request its own connection, so aborting it closes exactly that socket.
function ask(url, headers, signal) {
  const transport = url.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const request = transport.request(url, { method: 'GET', headers, signal, agent: false }, (response) => {
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

// What a queue answers while it cannot serve, and what a load balancer in front of the queues
// answers when the one it reached went away (502) or timed out (504).
const UNAVAILABLE = new Set([502, 503, 504]);

/**
 * Builds an IIdentifyThrottler for @discordjs/ws.
 * @param {object} options
 * @param {string | string[]} options.url  base URL of gateway-queue, e.g. 'http://127.0.0.1:5000', or
 *   a list of them (an active queue and its standbys), tried in turn
 * @param {string} [options.token]  sent as `Authorization: Bearer <token>` (the queue's QUEUE_AUTH_TOKEN)
 * @param {(message: string) => void} [options.warn]  where refusals are reported (default console.warn)
 */
function createQueueThrottler({ url, token, warn = (message) => console.warn(message) }) {
  const urls = [url].flat();
  if (urls.length === 0) throw new TypeError('createQueueThrottler: no queue URL');
  const headers = token ? { authorization: `Bearer ${token}` } : {};
  // The URL that granted last: every wait starts there, so a dead queue is not asked first.
  let preferred = 0;
  return {
    async waitForIdentify(shardId, signal) {
      let index = preferred;
      // 503s and unreachable queues since the last wait, and the longest Retry-After among them.
      let tried = 0;
      let wait = null;
      for (;;) {
        signal.throwIfAborted();
        const target = new URL(urls[index]);
        target.searchParams.set('shard', String(shardId));
        let answer = null;
        let failure = null;
        try {
          answer = await ask(target, headers, signal);
        } catch (error) {
          if (signal.aborted) throw error;
          failure = error.message;
        }
        if (answer && answer.status >= 200 && answer.status < 300) {
          preferred = index;
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
          // 429 (the daily budget, shared by every queue of the list), 400, 401: reported and waited
          // out, then the same queue is asked again.
          const refusal = retryAfterMs(answer.retryAfter, RETRY_ERROR_MS);
          const what = answer.status === 429 ? 'daily session budget exhausted' : answer.body.trim();
          warn(`gateway-queue: shard ${shardId}: ${answer.status} ${what}; not identifying, asking again in ${refusal} ms`);
          await sleep(refusal, undefined, { signal });
        }
        tried = 0;
        wait = null;
      }
    },
  };
}

module.exports = { createQueueThrottler };
