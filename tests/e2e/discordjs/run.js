'use strict';
// End-to-end test of clients/discordjs/queue_throttler.js with the real @discordjs/ws, on loopback.
//   node run.js --binary PATH/TO/gateway-queue
// 1. queue:   12 shards in 3 processes, max_concurrency 2, all waiting on gateway-queue: every shard
//             identifies, and two IDENTIFYs of one bucket are never closer than the interval.
// 2. control: the same shards with the library's own per-process throttler must collide (two
//             IDENTIFYs of one bucket closer than the interval), or the test proves nothing.
// 3. abort:   a shard destroyed while it waits frees its place: the next shard of its bucket
//             identifies one interval after the previous one, not two.
//
// Spacing check: the queue never sends two grants of a bucket less than INTERVAL_MS apart, and a
// shard identifies some delay d after its grant: for grants at t and t' >= t + INTERVAL_MS the
// IDENTIFY gap is t' + d' - (t + d) >= INTERVAL_MS - d. Only the EARLIER shard's delay can shrink
// a gap, so each pair must be at least INTERVAL_MS - TOLERANCE_MS - d(earlier) apart, with d
// measured, never guessed: from the grant's time in the queue's journal (GET /history: the due
// instant, at which the 200 is written, or a little later on a busy machine) to the IDENTIFY at the
// fake gateway, both on this machine's clock.
// Measuring it matters on a loaded 2-core machine: a bot process not scheduled for 70 ms when its
// grant arrived delays that IDENTIFY by as much, while 20-46 ms is usual under load and a few ms
// idle. Without a journal (the grant-at-once stand-in) d is measured from the throttler's return.
// TOLERANCE_MS covers rounding to whole milliseconds and what is left; shards that do not wait
// give gaps of 0-250 ms, far below. The queue's own spacing at the socket is measured to the
// millisecond by the integration tests.
const { setTimeout: sleep } = require('node:timers/promises');
const { startFakeGateway } = require('./fake_gateway');
const { startQueue, startBot } = require('./processes');

const INTERVAL_MS = 1000;
const TOLERANCE_MS = 25;
// Longer in the abort run: shard 2 must be destroyed before its grant, after three steps that are
// slow on a loaded machine.
const ABORT_INTERVAL_MS = 2000;
const MAX_CONCURRENCY = 2;
const SHARD_COUNT = 12;
const PROCESSES = [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11]];
const AUTH_TOKEN = 'e2e-queue-token';

const binaryIndex = process.argv.indexOf('--binary');
const binary = binaryIndex > 0 && process.argv[binaryIndex + 1] ? require('node:path').resolve(process.argv[binaryIndex + 1]) : undefined;
if (!binary) {
  console.error('usage: node run.js --binary PATH/TO/gateway-queue');
  process.exit(2);
}

const failures = [];
const fail = (message) => { failures.push(message); console.log(`FAIL: ${message}`); };

// Resolves once `predicate(identifies)` holds, or after `timeoutMs` (then false).
async function waitUntil(gateway, predicate, timeoutMs) {
  for (const deadline = Date.now() + timeoutMs; Date.now() < deadline; await sleep(10)) {
    if (predicate(gateway.identifies)) return true;
  }
  return predicate(gateway.identifies);
}

// Smallest gap (ms) between consecutive IDENTIFYs of each bucket: {bucket: gap or null}.
function smallestGaps(identifies) {
  const gaps = {};
  for (let bucket = 0; bucket < MAX_CONCURRENCY; ++bucket) {
    const times = identifies.filter((i) => i.shard % MAX_CONCURRENCY === bucket).map((i) => i.mono).sort((a, b) => a - b);
    gaps[bucket] = times.length < 2 ? null : Math.min(...times.slice(1).map((t, k) => t - times[k]));
  }
  return gaps;
}

// shard -> unix ms of its grant from the queue's journal, or an empty map when there is none.
async function journalTimes(queueUrl, token) {
  try {
    const headers = token ? { authorization: `Bearer ${token}` } : {};
    const response = await fetch(`${queueUrl}/history?limit=1000`, { headers });
    const { releases } = await response.json();
    return new Map((releases ?? []).map((r) => [r.shard, r.released_at]));
  } catch {
    return new Map();
  }
}

const format = (gaps) => Object.entries(gaps).map(([b, g]) => `bucket ${b}: ${g === null ? '-' : g.toFixed(1)} ms`).join(', ');

async function queueRun(gateway) {
  // The queue requires a bearer token here, so the throttler's Authorization header is exercised too.
  const queue = await startQueue({ binary, intervalMs: INTERVAL_MS, maxConcurrency: MAX_CONCURRENCY, authToken: AUTH_TOKEN });
  const granted = new Map();
  let journaled = new Map();
  const bots = PROCESSES.map(() => startBot(
    { gatewayUrl: gateway.url, queueUrl: queue.url, queueToken: AUTH_TOKEN, shardCount: SHARD_COUNT, maxConcurrency: MAX_CONCURRENCY },
    (m) => {
      if (m.event === 'granted') granted.set(m.shardId, m.wall);
      else if (m.event !== 'asking' && m.event !== 'ready') console.log(`bot: ${JSON.stringify(m)}`);
    }));
  try {
    await Promise.all(bots.map((bot) => bot.loaded));
    bots.forEach((bot, k) => bot.send({ cmd: 'connect', key: 'all', shardIds: PROCESSES[k], mode: 'queue' }));
    // 6 shards per bucket: the last one identifies 5 intervals after the first.
    await waitUntil(gateway, (ids) => ids.length >= SHARD_COUNT, 5 * INTERVAL_MS + 20000);
    await sleep(200); // an extra IDENTIFY would show up here
    journaled = await journalTimes(queue.url, AUTH_TOKEN);
  } finally {
    await Promise.all(bots.map((bot) => bot.stop()));
    await queue.stop();
  }
  const seen = gateway.identifies.map((i) => i.shard);
  for (let shard = 0; shard < SHARD_COUNT; ++shard) {
    const count = seen.filter((s) => s === shard).length;
    if (count !== 1) fail(`queue run: shard ${shard} identified ${count} times, expected once`);
  }
  const gaps = smallestGaps(gateway.identifies);
  const since = journaled.size > 0 ? journaled : granted;
  const delay = (i) => (since.has(i.shard) ? Math.max(0, i.wall - since.get(i.shard)) : 0);
  console.log(`queue run: ${gateway.identifies.length} IDENTIFYs; smallest same-bucket gap: ${format(gaps)}; ` +
    `grant-to-IDENTIFY delay max ${Math.max(...gateway.identifies.map(delay), 0)} ms ` +
    `(from the ${journaled.size > 0 ? 'journal' : "throttler's return"})`);
  for (let bucket = 0; bucket < MAX_CONCURRENCY; ++bucket) {
    const ids = gateway.identifies.filter((i) => i.shard % MAX_CONCURRENCY === bucket).sort((a, b) => a.mono - b.mono);
    for (let k = 1; k < ids.length; ++k) {
      const gap = ids[k].mono - ids[k - 1].mono;
      const least = INTERVAL_MS - TOLERANCE_MS - delay(ids[k - 1]);
      if (gap < least) {
        fail(`queue run: bucket ${bucket}: shard ${ids[k].shard} identified ${gap.toFixed(1)} ms after shard ` +
          `${ids[k - 1].shard} (< ${INTERVAL_MS} - ${TOLERANCE_MS} - ${delay(ids[k - 1])} ms, its measured delay)`);
      }
    }
  }
}

async function controlRun(gateway) {
  const bots = PROCESSES.map(() => startBot(
    { gatewayUrl: gateway.url, queueUrl: null, shardCount: SHARD_COUNT, maxConcurrency: MAX_CONCURRENCY },
    (m) => m.event !== 'ready' && console.log(`bot: ${JSON.stringify(m)}`)));
  try {
    // All processes loaded first, so that they start together as a bot's processes would.
    await Promise.all(bots.map((bot) => bot.loaded));
    bots.forEach((bot, k) => bot.send({ cmd: 'connect', key: 'all', shardIds: PROCESSES[k], mode: 'control' }));
    // Each process identifies one shard per bucket at once, the next ones 5 s later: the first
    // round (2 per process) is enough to see processes collide.
    await waitUntil(gateway, (ids) => ids.length >= 2 * PROCESSES.length, 15000);
  } finally {
    await Promise.all(bots.map((bot) => bot.stop()));
  }
  const gaps = smallestGaps(gateway.identifies);
  console.log(`control run (SimpleIdentifyThrottler per process): ${gateway.identifies.length} IDENTIFYs; smallest same-bucket gap: ${format(gaps)}`);
  if (!Object.values(gaps).some((gap) => gap !== null && gap < INTERVAL_MS)) {
    fail('control run: no two IDENTIFYs of one bucket closer than the interval; the test proves nothing');
  }
}

async function abortRun(gateway) {
  const queue = await startQueue({ binary, intervalMs: ABORT_INTERVAL_MS, maxConcurrency: MAX_CONCURRENCY });
  const asking = new Set();
  const granted = new Map();
  let journaled = new Map();
  const bot = startBot(
    { gatewayUrl: gateway.url, queueUrl: queue.url, shardCount: SHARD_COUNT, maxConcurrency: MAX_CONCURRENCY },
    (m) => {
      if (m.event === 'asking') asking.add(m.shardId);
      else if (m.event === 'granted') granted.set(m.shardId, m.wall);
      else if (m.event !== 'ready') console.log(`bot: ${JSON.stringify(m)}`);
    });
  const until = async (what, condition) => {
    for (const deadline = Date.now() + 10000; !condition(); await sleep(5)) {
      if (Date.now() > deadline) throw new Error(`abort run: timed out waiting for ${what}`);
    }
  };
  const identified = (shard) => gateway.identifies.some((i) => i.shard === shard);
  try {
    await bot.loaded;
    // Bucket 0: shard 0 takes the slot, shard 2 then shard 4 queue behind it, shard 2 leaves.
    bot.send({ cmd: 'connect', key: '0', shardIds: [0], mode: 'queue' });
    await until('shard 0 to identify', () => identified(0));
    bot.send({ cmd: 'connect', key: '2', shardIds: [2], mode: 'queue' });
    await until('shard 2 to ask', () => asking.has(2));
    await sleep(150); // shard 2's request reaches the queue before shard 4's
    bot.send({ cmd: 'connect', key: '4', shardIds: [4], mode: 'queue' });
    await until('shard 4 to ask', () => asking.has(4));
    await sleep(150);
    bot.send({ cmd: 'destroy', key: '2' });
    await waitUntil(gateway, () => identified(4), 3 * ABORT_INTERVAL_MS);
    await sleep(300); // shard 2 must not identify after all
    journaled = await journalTimes(queue.url);
  } finally {
    await bot.stop();
    await queue.stop();
  }
  const at = (shard) => gateway.identifies.find((i) => i.shard === shard)?.mono;
  if (identified(2)) fail('abort run: shard 2 identified although it was destroyed while waiting');
  if (!identified(4)) {
    fail('abort run: shard 4 never identified');
    return;
  }
  const gap = at(4) - at(0);
  const since = journaled.size > 0 ? journaled : granted;
  const delay0 = Math.max(0, gateway.identifies.find((i) => i.shard === 0).wall - (since.get(0) ?? Infinity));
  console.log(`abort run: shard 0 -> shard 4 (shard 2 destroyed while waiting): ${gap.toFixed(1)} ms`);
  if (gap < ABORT_INTERVAL_MS - TOLERANCE_MS - delay0) fail(`abort run: shard 4 identified ${gap.toFixed(1)} ms after shard 0, less than one interval`);
  if (gap >= 1.5 * ABORT_INTERVAL_MS) fail(`abort run: shard 4 identified ${gap.toFixed(1)} ms after shard 0: the destroyed shard kept its place`);
}

async function main() {
  const gateway = await startFakeGateway();
  try {
    for (const [name, run] of [['queue', queueRun], ['control', controlRun], ['abort', abortRun]]) {
      gateway.reset();
      try {
        await run(gateway);
      } catch (error) {
        fail(`${name} run: ${error.message}`);
      }
    }
  } finally {
    await gateway.close();
  }
  console.log(failures.length === 0 ? 'discord.js end-to-end: all checks passed' : `discord.js end-to-end: ${failures.length} check(s) failed`);
  process.exit(failures.length === 0 ? 0 : 1);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
