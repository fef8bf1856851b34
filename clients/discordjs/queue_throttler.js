'use strict';
// An identify throttler for @discordjs/ws (and discord.js 14, which runs on it) that waits on
// gateway-queue instead of pacing shards inside one process.
//
//   const { createQueueThrottler } = require('./queue_throttler');
//   new WebSocketManager({ ..., buildIdentifyThrottler: () =>
//     createQueueThrottler({ url: 'http://127.0.0.1:5000', token: process.env.QUEUE_AUTH_TOKEN }) });
//
// Rules: identify only after a 2xx; a 503 is retried after its Retry-After; a 429 means the daily
// session budget is used up: it is reported and the shard waits Retry-After (the reset) before
// asking again, it never identifies and never loops; when the shard is destroyed, `signal` aborts
// the request, the queue drops the shard and the next one of its bucket takes the slot.
//
// waitForIdentify never throws except on abort: @discordjs/ws 1.2 answers any other error from a
// throttler by reconnecting the shard and, once that returns, identifying anyway.
const http = require('node:http');
const https = require('node:https');
const { setTimeout: sleep } = require('node:timers/promises');

// Waits after an error that has no Retry-After (queue unreachable, 400, 401, 5xx).
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

/**
 * Builds an IIdentifyThrottler for @discordjs/ws.
 * @param {object} options
 * @param {string} options.url  base URL of gateway-queue, e.g. 'http://127.0.0.1:5000'
 * @param {string} [options.token]  sent as `Authorization: Bearer <token>` (the queue's QUEUE_AUTH_TOKEN)
 * @param {(message: string) => void} [options.warn]  where refusals are reported (default console.warn)
 */
function createQueueThrottler({ url, token, warn = (message) => console.warn(message) }) {
  const headers = token ? { authorization: `Bearer ${token}` } : {};
  return {
    async waitForIdentify(shardId, signal) {
      for (;;) {
        signal.throwIfAborted();
        const target = new URL(url);
        target.searchParams.set('shard', String(shardId));
        let answer;
        try {
          answer = await ask(target, headers, signal);
        } catch (error) {
          if (signal.aborted) throw error;
          warn(`gateway-queue: shard ${shardId}: ${error.message}; asking again in ${RETRY_ERROR_MS} ms`);
          await sleep(RETRY_ERROR_MS, undefined, { signal });
          continue;
        }
        if (answer.status >= 200 && answer.status < 300) return;
        if (answer.status === 503) {
          await sleep(retryAfterMs(answer.retryAfter, 1000), undefined, { signal });
          continue;
        }
        const wait = retryAfterMs(answer.retryAfter, RETRY_ERROR_MS);
        const what = answer.status === 429 ? 'daily session budget exhausted' : answer.body.trim();
        warn(`gateway-queue: shard ${shardId}: ${answer.status} ${what}; not identifying, asking again in ${wait} ms`);
        await sleep(wait, undefined, { signal });
      }
    },
  };
}

module.exports = { createQueueThrottler };
