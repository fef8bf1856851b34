'use strict';
// The refusal rules of clients/discordjs/queue_throttler.js against a scripted server (node --test):
// a 503 and a 429 are each waited out for their Retry-After, only the 2xx lets the shard go, the
// request carries `shard` and the bearer token, and aborting the signal closes the connection.
const test = require('node:test');
const assert = require('node:assert');
const http = require('node:http');
const path = require('node:path');
const { createQueueThrottler } = require(path.resolve(__dirname, '../../../clients/discordjs/queue_throttler.js'));

// Serves `answers` in order, one per request; a `null` answer holds the request open.
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
  return { url: `http://127.0.0.1:${server.address().port}`, seen, close: () => server.close() };
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
