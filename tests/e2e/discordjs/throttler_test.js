'use strict';
// The refusal rules of clients/discordjs/queue_throttler.js against scripted servers (node --test):
// a 503 and a 429 are each waited out for their Retry-After, only the 2xx lets the shard go, the
// request carries `shard` and the bearer token, and aborting the signal closes the connection.
// With a list of queues: an unreachable queue and a 503 move on to the next one, a 429 does not,
// and a round of 503s waits the longest Retry-After before the next round.
const test = require('node:test');
const assert = require('node:assert');
const http = require('node:http');
const path = require('node:path');
const { createQueueThrottler } = require(path.resolve(__dirname, '../../../clients/discordjs/queue_throttler.js'));

// Serves `answers` in order, one per request; a `null` answer holds the request open.
// closeConnections() drops every connection, as a queue killed with SIGKILL does.
async function scriptedServer(answers) {
  const seen = [];
  const server = http.createServer((request, response) => {
    seen.push({ url: request.url, authorization: request.headers.authorization, at: Date.now(), closed: false });
    const record = seen[seen.length - 1];
    request.socket.on('close', () => { record.closed = true; });
    const answer = answers.shift();
    if (answer === null) return;
    response.writeHead(answer.status, answer.headers ?? {});
    response.end(answer.body ?? '{}');
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${server.address().port}`, seen,
    close: () => server.close(),
    closeConnections: () => server.closeAllConnections(),
  };
}

test('503 then 429 are waited out for their Retry-After; the 200 lets the shard identify', async () => {
  const server = await scriptedServer([
    { status: 503, headers: { 'retry-after': '1' } },
    { status: 429, headers: { 'retry-after': '1' } },
    { status: 200, body: '{"message":"ok"}' },
  ]);
  const warnings = [];
  const throttler = createQueueThrottler({ url: server.url, token: 'secret', warn: (m) => warnings.push(m) });
  const started = Date.now();
  await throttler.waitForIdentify(7, new AbortController().signal);
  server.close();
  assert.strictEqual(server.seen.length, 3);
  assert.ok(server.seen[1].at - server.seen[0].at >= 1000, 'the 503 was retried before its Retry-After');
  assert.ok(server.seen[2].at - server.seen[1].at >= 1000, 'the 429 was retried before its Retry-After');
  assert.ok(Date.now() - started >= 2000);
  for (const request of server.seen) {
    assert.match(request.url, /[?&]shard=7(&|$)/);
    assert.strictEqual(request.authorization, 'Bearer secret');
  }
  assert.strictEqual(warnings.length, 1);
  assert.match(warnings[0], /shard 7: 429 daily session budget exhausted/);
});

test('no token, no Authorization header; a 401 is reported and not retried at once', async () => {
  const server = await scriptedServer([{ status: 401, body: '{"error":"unauthorized"}', headers: { 'retry-after': '1' } }, { status: 200 }]);
  const warnings = [];
  const throttler = createQueueThrottler({ url: server.url, warn: (m) => warnings.push(m) });
  await throttler.waitForIdentify(0, new AbortController().signal);
  server.close();
  assert.strictEqual(server.seen[0].authorization, undefined);
  assert.ok(server.seen[1].at - server.seen[0].at >= 1000);
  assert.match(warnings[0], /401/);
});

test('aborting the signal rejects the wait and closes its connection', async () => {
  const server = await scriptedServer([null]);
  const throttler = createQueueThrottler({ url: server.url, warn: () => {} });
  const controller = new AbortController();
  const waiting = throttler.waitForIdentify(3, controller.signal);
  while (server.seen.length === 0) await new Promise((resolve) => setTimeout(resolve, 5));
  controller.abort();
  await assert.rejects(waiting, { name: 'AbortError' });
  for (let k = 0; k < 200 && !server.seen[0].closed; ++k) await new Promise((resolve) => setTimeout(resolve, 5));
  assert.ok(server.seen[0].closed, 'the server still holds the aborted request');
  server.close();
});

// Resolves once `condition()` holds, or after 2 s.
async function until(condition) {
  for (let k = 0; k < 400 && !condition(); ++k) await new Promise((resolve) => setTimeout(resolve, 5));
}

// A URL where nothing listens: a port the kernel picked, closed again.
async function refusingUrl() {
  const server = http.createServer();
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${server.address().port}`;
  await new Promise((resolve) => server.close(resolve));
  return url;
}

test('a list of queues: refused on the first, granted by the second at once; the next wait starts there', async () => {
  const second = await scriptedServer([{ status: 200 }, { status: 200 }]);
  const warnings = [];
  const throttler = createQueueThrottler({ url: [await refusingUrl(), second.url], warn: (m) => warnings.push(m) });
  const started = Date.now();
  await throttler.waitForIdentify(1, new AbortController().signal);
  assert.ok(Date.now() - started < 1000, 'waited before asking the second queue');
  await throttler.waitForIdentify(2, new AbortController().signal);
  second.close();
  assert.deepStrictEqual(second.seen.map((r) => r.url), ['/?shard=1', '/?shard=2']);
  assert.strictEqual(warnings.length, 1, 'the refused queue was asked again after the second granted');
  assert.match(warnings[0], /shard 1: 127\.0\.0\.1:\d+: .*; trying the next queue/);
});

test('a list of queues: the first dies while holding the request; the second grants', async () => {
  const first = await scriptedServer([null]);
  const second = await scriptedServer([{ status: 200 }]);
  const throttler = createQueueThrottler({ url: [first.url, second.url], warn: () => {} });
  const waiting = throttler.waitForIdentify(4, new AbortController().signal);
  await until(() => first.seen.length > 0);
  first.closeConnections();
  await waiting;
  first.close();
  second.close();
  assert.strictEqual(second.seen.length, 1);
});

test('a list of queues: a 503 (standby), or a load balancer\'s 502 or 504, on the first moves to the second at once', async () => {
  for (const status of [503, 502, 504]) {
    const first = await scriptedServer([{ status, headers: { 'retry-after': '1' } }]);
    const second = await scriptedServer([{ status: 200 }]);
    const throttler = createQueueThrottler({ url: [first.url, second.url], warn: () => {} });
    const started = Date.now();
    await throttler.waitForIdentify(5, new AbortController().signal);
    first.close();
    second.close();
    assert.ok(Date.now() - started < 1000, `waited before asking the second queue after a ${status}`);
    assert.strictEqual(first.seen.length, 1);
    assert.strictEqual(second.seen.length, 1);
  }
});

test('a list of queues: a 429 on the first is no reason to switch; it is waited out and asked again', async () => {
  const first = await scriptedServer([{ status: 429, headers: { 'retry-after': '1' } }, { status: 200 }]);
  const second = await scriptedServer([]);
  const warnings = [];
  const throttler = createQueueThrottler({ url: [first.url, second.url], warn: (m) => warnings.push(m) });
  await throttler.waitForIdentify(6, new AbortController().signal);
  first.close();
  second.close();
  assert.strictEqual(second.seen.length, 0, 'the second queue was asked after a 429');
  assert.strictEqual(first.seen.length, 2);
  assert.ok(first.seen[1].at - first.seen[0].at >= 1000, 'the 429 was retried before its Retry-After');
  assert.match(warnings[0], /shard 6: 429 daily session budget exhausted/);
});

test('a list of queues: 503 from all of them waits the Retry-After, then asks from the list again', async () => {
  const first = await scriptedServer([{ status: 503, headers: { 'retry-after': '1' } }, { status: 503, headers: { 'retry-after': '1' } }]);
  const second = await scriptedServer([{ status: 503, headers: { 'retry-after': '2' } }, { status: 200 }]);
  const throttler = createQueueThrottler({ url: [first.url, second.url], warn: () => {} });
  await throttler.waitForIdentify(8, new AbortController().signal);
  first.close();
  second.close();
  const order = [...first.seen.map((r) => ({ ...r, queue: 1 })), ...second.seen.map((r) => ({ ...r, queue: 2 }))]
    .sort((a, b) => a.at - b.at);
  assert.deepStrictEqual(order.map((r) => r.queue), [1, 2, 1, 2]);
  assert.ok(order[1].at - order[0].at < 1000, 'waited between the queues of one round');
  // The longest Retry-After of the round (2 s) is waited before the next round.
  assert.ok(order[2].at - order[1].at >= 2000, `the next round came ${order[2].at - order[1].at} ms after the last 503`);
});
