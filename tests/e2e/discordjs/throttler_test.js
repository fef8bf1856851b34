'use strict';
// The rules of clients/discordjs/queue_throttler.js against scripted servers (node --test):
// a 503 and a 429 are each waited out for their Retry-After, only the 2xx lets the shard go, the
// request carries `shard` and the bearer token, and aborting the signal closes the connection.
// With a list of queues: an unreachable queue and a 503 move on to the next one, a 429 does not,
// and a round of 503s waits the longest Retry-After before the next round.
// Boots and outcomes: `initial=true` until a shard's first grant, never after; watch(manager)
// reports one outcome per grant (ready, invalid_session, closed&code) to the URL that granted,
// a 409 is not retried, and a report that hangs or fails never delays the next IDENTIFY. The
// manager here is a plain EventEmitter emitting what @discordjs/ws 1.2.3's manager emits; the
// end-to-end tests (invalid_sessions.js) drive the real one.
const test = require('node:test');
const assert = require('node:assert');
const http = require('node:http');
const path = require('node:path');
const { createQueueThrottler } = require(path.resolve(__dirname, '../../../clients/discordjs/queue_throttler.js'));

// Serves `answers` in order, one per GET; a `null` answer holds the request open. POSTs (outcome
// reports) are answered from `posts` the same way, 204 once it is empty, and recorded in `reports`.
// closeConnections() drops every connection, as a queue killed with SIGKILL does.
// Every server is closed after the last test, so that one failing before its close() leaves
// nothing listening and the run still ends.
const servers = new Set();
test.after(() => {
  for (const server of servers) {
    server.closeAllConnections();
    server.close();
  }
});

async function scriptedServer(answers, posts = []) {
  const seen = [];
  const reports = [];
  const server = http.createServer((request, response) => {
    const record = { method: request.method, url: request.url, authorization: request.headers.authorization, at: Date.now(), closed: false };
    (request.method === 'POST' ? reports : seen).push(record);
    request.socket.on('close', () => { record.closed = true; });
    const answer = request.method === 'POST' ? (posts.length > 0 ? posts.shift() : { status: 204, body: '' }) : answers.shift();
    if (answer === null) return;
    response.writeHead(answer.status, answer.headers ?? {});
    response.end(answer.body ?? '{}');
  });
  servers.add(server);
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${server.address().port}`, seen, reports,
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
  assert.deepStrictEqual(second.seen.map((r) => r.url), ['/?shard=1&initial=true', '/?shard=2&initial=true']);
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

test('a 429 from the loop guard is reported with its error text, waited out, and the shard does not identify before a 200', async () => {
  const server = await scriptedServer([
    { status: 429, headers: { 'retry-after': '1' }, body: '{"error":"shard 4 is looping: granted 3 times in the last hour"}' },
    { status: 200 },
  ]);
  const warnings = [];
  const throttler = createQueueThrottler({ url: server.url, warn: (m) => warnings.push(m) });
  await throttler.waitForIdentify(4, new AbortController().signal);
  server.close();
  assert.strictEqual(server.seen.length, 2);
  assert.ok(server.seen[1].at - server.seen[0].at >= 1000, 'the 429 was retried before its Retry-After');
  assert.strictEqual(warnings.length, 1);
  assert.match(warnings[0], /shard 4: 429 shard 4 is looping: granted 3 times in the last hour; not identifying, asking again in 1000 ms/);
});

test('initial=true on every request until a shard\'s first grant, and never after it', async () => {
  const server = await scriptedServer([
    { status: 503, headers: { 'retry-after': '0' } }, // shard 1, first wait: still a boot when asked again
    { status: 200 }, // shard 1 granted
    null, // shard 2, aborted before its grant
    { status: 200 }, // shard 1 again: a reconnect
    { status: 429, headers: { 'retry-after': '0' } }, // shard 2 again: never granted, still a boot
    { status: 200 }, // shard 2 granted
    { status: 200 }, // shard 2 again
  ]);
  const throttler = createQueueThrottler({ url: server.url, warn: () => {} });
  const signal = () => new AbortController().signal;
  await throttler.waitForIdentify(1, signal());
  const controller = new AbortController();
  const aborted = throttler.waitForIdentify(2, controller.signal);
  await until(() => server.seen.length === 3);
  controller.abort();
  await assert.rejects(aborted, { name: 'AbortError' });
  await throttler.waitForIdentify(1, signal());
  await throttler.waitForIdentify(2, signal());
  await throttler.waitForIdentify(2, signal());
  // Another throttler is another process: its first request for shard 1 is a boot again.
  const other = await scriptedServer([{ status: 200 }]);
  await createQueueThrottler({ url: other.url, warn: () => {} }).waitForIdentify(1, signal());
  server.close();
  other.close();
  assert.deepStrictEqual(server.seen.map((r) => r.url), [
    '/?shard=1&initial=true', '/?shard=1&initial=true', '/?shard=2&initial=true', '/?shard=1',
    '/?shard=2&initial=true', '/?shard=2&initial=true', '/?shard=2',
  ]);
  assert.deepStrictEqual(other.seen.map((r) => r.url), ['/?shard=1&initial=true']);
});

// What @discordjs/ws 1.2.3's WebSocketManager emits for a shard: ('ready', {data, shardId}),
// ('closed', {code, shardId}), and an op 9 only as ('debug', {message: 'Invalid session; ...', shardId}).
const { EventEmitter } = require('node:events');
const shardEvent = {
  ready: (manager, shardId) => manager.emit('ready', { data: {}, shardId }),
  closed: (manager, shardId, code) => manager.emit('closed', { code, shardId }),
  invalid: (manager, shardId) => manager.emit('debug', { message: 'Invalid session; will attempt to resume: false', shardId }),
  debug: (manager, shardId, message) => manager.emit('debug', { message, shardId }),
};

test('outcomes: the first of READY, op 9 and a close after each grant, one POST per grant, to the queue that granted', async () => {
  const first = await scriptedServer(Array(4).fill({ status: 503, headers: { 'retry-after': '1' } }));
  const second = await scriptedServer([{ status: 200 }, { status: 200 }, { status: 200 }]);
  const manager = new EventEmitter();
  const throttler = createQueueThrottler({ url: [first.url, second.url], token: 'secret', warn: () => {} }).watch(manager);
  assert.strictEqual(throttler.watch(manager), throttler, 'watch() returns the throttler (and attaches once)');
  shardEvent.ready(manager, 3); // no grant yet: nothing to report
  await throttler.waitForIdentify(3, new AbortController().signal); // 503 from the first, the second grants
  shardEvent.debug(manager, 3, 'Waiting for event ready for 15000ms');
  shardEvent.invalid(manager, 3);
  shardEvent.closed(manager, 3, 1000); // the library's own close after an op 9: not a second report
  await throttler.waitForIdentify(3, new AbortController().signal);
  shardEvent.closed(manager, 3, 4000);
  await throttler.waitForIdentify(3, new AbortController().signal);
  shardEvent.ready(manager, 3);
  shardEvent.closed(manager, 3, 1000); // after READY: not reported
  shardEvent.ready(manager, 9); // a shard this throttler never granted
  await until(() => second.reports.length >= 3);
  await new Promise((resolve) => setTimeout(resolve, 200)); // a fourth report would show up here
  first.close();
  second.close();
  assert.strictEqual(first.reports.length, 0, 'a report went to the queue that did not grant');
  assert.deepStrictEqual(second.reports.map((r) => r.url), [
    '/outcome?shard=3&result=invalid_session',
    '/outcome?shard=3&result=closed&code=4000',
    '/outcome?shard=3&result=ready',
  ]);
  for (const r of second.reports) assert.strictEqual(r.authorization, 'Bearer secret');
});

test('outcomes: a 503 or an unreachable granting queue passes the report to the next of the list, once', async () => {
  const first = await scriptedServer([{ status: 200 }], [{ status: 503, headers: { 'retry-after': '1' } }]);
  const second = await scriptedServer([]);
  const manager = new EventEmitter();
  const throttler = createQueueThrottler({ url: [first.url, second.url], warn: () => {} }).watch(manager);
  await throttler.waitForIdentify(0, new AbortController().signal);
  shardEvent.ready(manager, 0);
  await until(() => second.reports.length > 0);
  first.close();
  second.close();
  assert.deepStrictEqual(first.reports.map((r) => r.url), ['/outcome?shard=0&result=ready']);
  assert.deepStrictEqual(second.reports.map((r) => r.url), ['/outcome?shard=0&result=ready']);

  // Granted by B, A and B both unreachable at report time: warned about once, nothing retried.
  const b = await scriptedServer([{ status: 200 }]);
  const warnings = [];
  const manager2 = new EventEmitter();
  const throttler2 = createQueueThrottler({ url: [await refusingUrl(), b.url], warn: (m) => warnings.push(m) }).watch(manager2);
  await throttler2.waitForIdentify(1, new AbortController().signal);
  b.close(); // stops listening at once
  b.closeConnections();
  warnings.length = 0;
  shardEvent.invalid(manager2, 1);
  await until(() => warnings.length > 0);
  await new Promise((resolve) => setTimeout(resolve, 200));
  assert.strictEqual(warnings.length, 1);
  assert.match(warnings[0], /shard 1: outcome invalid_session not reported \(127\.0\.0\.1:\d+: .*\); not retrying/);
});

test('outcomes: a 409 is not retried and warned about once per shard and result', async () => {
  const conflict = { status: 409, body: '{"error":"no grant of shard 2 in the last 10 minutes"}' };
  const server = await scriptedServer([{ status: 200 }, { status: 200 }, { status: 200 }], [conflict, conflict, conflict]);
  const warnings = [];
  const manager = new EventEmitter();
  const throttler = createQueueThrottler({ url: server.url, warn: (m) => warnings.push(m) }).watch(manager);
  await throttler.waitForIdentify(2, new AbortController().signal);
  shardEvent.ready(manager, 2);
  await until(() => warnings.length > 0);
  await throttler.waitForIdentify(2, new AbortController().signal);
  shardEvent.ready(manager, 2); // a second 409 for ready: not warned about again
  await throttler.waitForIdentify(2, new AbortController().signal);
  shardEvent.closed(manager, 2, 4000); // another result: warned about
  await until(() => server.reports.length >= 3 && warnings.length >= 2);
  await new Promise((resolve) => setTimeout(resolve, 300)); // a retry would show up here
  server.close();
  assert.strictEqual(server.reports.length, 3, 'a 409 was retried');
  assert.deepStrictEqual(warnings.map((w) => w.replace(/127\.0\.0\.1:\d+/, 'HOST')), [
    'gateway-queue: shard 2: outcome ready not reported (HOST: 409 no grant of shard 2 in the last 10 minutes); not retrying',
    'gateway-queue: shard 2: outcome closed not reported (HOST: 409 no grant of shard 2 in the last 10 minutes); not retrying',
  ]);
});

test('outcomes: a report the queue never answers does not delay the next IDENTIFY', async () => {
  const server = await scriptedServer([{ status: 200 }, { status: 200 }], [null]);
  const manager = new EventEmitter();
  const throttler = createQueueThrottler({ url: server.url, warn: () => {} }).watch(manager);
  await throttler.waitForIdentify(5, new AbortController().signal);
  shardEvent.invalid(manager, 5);
  await until(() => server.reports.length > 0);
  const started = performance.now();
  await throttler.waitForIdentify(5, new AbortController().signal); // the shard identifies again
  const waitMs = performance.now() - started;
  assert.strictEqual(server.reports[0].closed, false, 'the report was not held open');
  server.closeConnections();
  server.close();
  assert.ok(waitMs < 1000, `the next wait took ${waitMs} ms behind a hanging report`);
  assert.deepStrictEqual(server.seen.map((r) => r.url), ['/?shard=5&initial=true', '/?shard=5']);
});
