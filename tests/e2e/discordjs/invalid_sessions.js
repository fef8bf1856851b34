'use strict';
// End-to-end: outcome reports and initial=true from clients/discordjs/queue_throttler.js with the
// real @discordjs/ws, against the queue's bucket widening on Invalid Sessions, its per-shard loop
// guard and its reserve of session starts for reconnects. On loopback.
//   node invalid_sessions.js --binary PATH/TO/gateway-queue
//
// 1. widening. The fake gateway enforces the identify interval itself, per bucket: an IDENTIFY less
//    than INTERVAL_MS after the previous one of its bucket (refused ones count) gets op 9 (d: false)
//    instead of READY. The queue spaces grants INTERVAL_MS apart too, but each shard identifies some
//    time after its grant, as a bot whose event loop is busy does: the delays are scripted, 400 ms
//    and 0 ms in turn per bucket, so the IDENTIFY after a 400 ms one comes 600 ms after it and is
//    refused. 12 shards, max_concurrency 2, one process per bucket (so that each process sees its
//    bucket's grants in the queue's order). Two runs side by side, each with its own queue and
//    gateway:
//      off: QUEUE_WIDEN_MAX_MS=0: op 9s go on until the last shard is READY (one in two IDENTIFYs);
//      on:  QUEUE_WIDEN_STEP_MS=WIDEN_STEP_MS: each reported invalid_session widens the bucket by a
//           step; once the spacing exceeds INTERVAL_MS + the delays' spread (two steps) the op 9s
//           stop, and every shard is READY.
//    Checks: every shard READY in "on"; op 9s among the last IDENTIFYs of each bucket in "off" and
//    none among the last three of each bucket in "on", fewer in "on" than in "off"; /status
//    buckets[].interval_ms stays INTERVAL_MS in "off" and grows in "on"; the journal's outcomes
//    (GET /history) match the gateway: one `ready` per shard, one `invalid_session` per op 9.
// 2. loop guard. QUEUE_SHARD_HOURLY_LIMIT=LOOP_LIMIT, one bucket. A bot process holding shard 0
//    exits 200 ms after its READY and is started again at once, a crash loop; meanwhile another
//    process starts shards 1, 2, ... of the same bucket, one every STEADY_EVERY_MS, and two more
//    once shard 0 is refused. Checks: shard 0 is granted LOOP_LIMIT times, then its next start gets
//    a 429 whose "looping" text the throttler logs, and it does not identify again; the other
//    shards each identify once, two of them after the 429, and each is granted at its ask or one
//    interval after the bucket's previous grant, whichever is later (the looping shard costs them
//    no more than the slots it was granted, and none once refused).
// 3. boots and reconnects (initial=true). QUEUE_DAILY_LIMIT=4, QUEUE_RESERVE=2,
//    QUEUE_ON_EXHAUSTED=reject: shards 0 and 1 boot; shard 2's boot is then refused with 429 (it
//    asked with initial=true), while shard 0, told op 9 after READY, identifies again through the
//    same throttler without initial=true and is granted from the reserve.
//
// GQ_E2E_STAND_IN=grant-at-once (processes.js) must make it fail, as must a throttler that does not
// report outcomes (then "on" behaves like "off"), one that identifies on a 429, and one that sends
// initial=true always or never.
const path = require('node:path');
const { setTimeout: sleep } = require('node:timers/promises');
const { startFakeGateway } = require('./fake_gateway');
const { startQueue, startBot } = require('./processes');

const INTERVAL_MS = 1000;
const WIDEN_STEP_MS = 250;
const WIDEN_MAX_MS = 1000; // not reached: the op 9s stop at two steps
const DELAYS_MS = [400, 0];
const MAX_CONCURRENCY = 2;
const SHARDS_PER_BUCKET = 6;
const SHARD_COUNT = MAX_CONCURRENCY * SHARDS_PER_BUCKET;
const RUN_DEADLINE_MS = 25000;

const LOOP_INTERVAL_MS = 500;
const LOOP_LIMIT = 3;
// The other shards of the loop-guard run start one every STEADY_EVERY_MS, until two have started
// after shard 0 was refused (at most MAX_STEADY_SHARDS).
const STEADY_EVERY_MS = 750;
const MAX_STEADY_SHARDS = 24;
const RESERVE_INTERVAL_MS = 300;
// A grant may come this long after the earliest moment the interval allowed (written late, or a
// request slow to arrive, on a loaded machine).
const GAP_SLACK_MS = 150;

const binaryIndex = process.argv.indexOf('--binary');
const binary = binaryIndex > 0 && process.argv[binaryIndex + 1] ? path.resolve(process.argv[binaryIndex + 1]) : undefined;
if (!binary) {
  console.error('usage: node invalid_sessions.js --binary PATH/TO/gateway-queue');
  process.exit(2);
}

const failures = [];
const fail = (message) => { failures.push(message); console.log(`FAIL: ${message}`); };

async function getJson(url) {
  try {
    const response = await fetch(url);
    return response.ok ? await response.json() : null;
  } catch {
    return null;
  }
}

// Every grant in the queue's journal, oldest first; [] if it cannot be read.
async function journal(queueUrl) {
  const body = await getJson(`${queueUrl}/history?limit=1000`);
  return (body?.releases ?? []).sort((x, y) => x.released_at - y.released_at);
}

async function until(condition, timeoutMs) {
  for (const deadline = Date.now() + timeoutMs; Date.now() < deadline; await sleep(20)) {
    if (condition()) return true;
  }
  return condition();
}

// One run of part 1: the shards until all are READY (or RUN_DEADLINE_MS), /status polled all along.
async function wideningRun(name, widenMaxMs) {
  const started = Date.now();
  const gateway = await startFakeGateway({ enforceIntervalMs: INTERVAL_MS, maxConcurrency: MAX_CONCURRENCY });
  const queue = await startQueue({
    binary, intervalMs: INTERVAL_MS, maxConcurrency: MAX_CONCURRENCY,
    env: { QUEUE_WIDEN_STEP_MS: String(WIDEN_STEP_MS), QUEUE_WIDEN_MAX_MS: String(widenMaxMs) },
  });
  const ready = new Set();
  const intervals = Array.from({ length: MAX_CONCURRENCY }, () => []); // [{at, interval_ms}] on change
  const bots = [];
  let rows = [];
  let polling = true;
  const poll = (async () => {
    while (polling) {
      const status = await getJson(`${queue.url}/status`);
      for (const bucket of status?.buckets ?? []) {
        const seen = intervals[bucket.bucket];
        if (seen && seen[seen.length - 1]?.interval_ms !== bucket.interval_ms) {
          seen.push({ at: Date.now() - started, interval_ms: bucket.interval_ms });
        }
      }
      await sleep(100);
    }
  })();
  try {
    for (let bucket = 0; bucket < MAX_CONCURRENCY; ++bucket) {
      bots.push(startBot({
        gatewayUrl: gateway.url, queueUrl: queue.url, shardCount: SHARD_COUNT,
        maxConcurrency: MAX_CONCURRENCY, identifyDelaysMs: DELAYS_MS,
      }, (m) => {
        if (m.event === 'ready') ready.add(m.shardId);
        else if (m.event !== 'asking' && m.event !== 'granted') console.log(`${name}: bot: ${JSON.stringify(m)}`);
      }));
    }
    await Promise.all(bots.map((bot) => bot.loaded));
    bots.forEach((bot, bucket) => bot.send({
      cmd: 'connect', key: 'all', mode: 'queue',
      shardIds: Array.from({ length: SHARDS_PER_BUCKET }, (_, k) => k * MAX_CONCURRENCY + bucket),
    }));
    await until(() => ready.size === SHARD_COUNT, RUN_DEADLINE_MS);
    await sleep(300); // the last outcome reports arrive
    rows = await journal(queue.url);
  } finally {
    polling = false;
    await poll;
    await Promise.all(bots.map((bot) => bot.stop()));
    await queue.stop();
    await gateway.close();
  }
  return { name, ready, identifies: gateway.identifies, invalid: gateway.invalidSessions, intervals, rows, ms: Date.now() - started };
}

function judgeWidening(off, on) {
  const bucketOf = (i) => i.shard % MAX_CONCURRENCY;
  const describe = (run) => {
    const perBucket = [];
    for (let bucket = 0; bucket < MAX_CONCURRENCY; ++bucket) {
      const ids = run.identifies.filter((i) => bucketOf(i) === bucket).sort((a, b) => a.mono - b.mono);
      const refused = new Set(run.invalid.filter((i) => bucketOf(i) === bucket).map((i) => i.mono));
      let marks = ids.map((i) => (refused.has(i.mono) ? 'x' : '.')).join('');
      if (marks.length > 40) marks = `${marks.slice(0, 20)}...(${marks.length})...${marks.slice(-17)}`;
      const timeline = run.intervals[bucket].map((c) => `${c.interval_ms} ms at ${(c.at / 1000).toFixed(1)} s`).join(' -> ');
      perBucket.push({ bucket, marks, refused: refused.size, timeline, last: run.intervals[bucket].at(-1)?.interval_ms });
    }
    return perBucket;
  };
  const report = (run) => {
    console.log(`${run.name}: ${run.identifies.length} IDENTIFYs, ${run.invalid.length} op 9, ` +
      `${run.ready.size}/${SHARD_COUNT} shards READY, ${(run.ms / 1000).toFixed(1)} s`);
    for (const b of describe(run)) {
      console.log(`  bucket ${b.bucket}: IDENTIFYs ${b.marks} (x: op 9); interval_ms ${b.timeline || '(never read)'}`);
    }
  };
  report(off);
  report(on);
  console.log(`op 9 count: widening off ${off.invalid.length}, widening on ${on.invalid.length}`);

  // Off: the op 9s never stop, the spacing never changes.
  for (const b of describe(off)) {
    if (!b.marks.slice(-3).includes('x')) fail(`off: bucket ${b.bucket}: no op 9 among its last IDENTIFYs (${b.marks}): the delays did not collide`);
    if (b.last !== INTERVAL_MS) fail(`off: bucket ${b.bucket}: interval_ms ${b.last}, expected ${INTERVAL_MS} with QUEUE_WIDEN_MAX_MS=0`);
  }
  // On: every shard READY, the op 9s stop once the bucket is wide enough.
  if (on.ready.size !== SHARD_COUNT) fail(`on: ${on.ready.size} of ${SHARD_COUNT} shards READY within ${RUN_DEADLINE_MS} ms`);
  for (const b of describe(on)) {
    if (b.marks.length < 3 || b.marks.slice(-3).includes('x')) fail(`on: bucket ${b.bucket}: op 9s did not stop (${b.marks})`);
    if (!(b.last > INTERVAL_MS)) fail(`on: bucket ${b.bucket}: interval_ms ${b.last}, never widened above ${INTERVAL_MS}`);
    if (b.last > INTERVAL_MS + WIDEN_MAX_MS) fail(`on: bucket ${b.bucket}: interval_ms ${b.last} above the most widening allows`);
  }
  if (!(on.invalid.length < off.invalid.length)) fail(`on: ${on.invalid.length} op 9s, not fewer than the ${off.invalid.length} without widening`);
  // The journal's outcomes are what the gateway did: the real library's events, reported.
  for (const run of [off, on]) {
    const count = (result) => run.rows.filter((r) => r.outcome === result).length;
    const readyIdentifies = run.identifies.length - run.invalid.length;
    const missing = run.rows.filter((r) => r.outcome === null || r.outcome === undefined).length;
    console.log(`${run.name}: journal: ${run.rows.length} grants, outcomes ready ${count('ready')}, ` +
      `invalid_session ${count('invalid_session')}, closed ${count('closed')}, none ${missing}`);
    if (count('invalid_session') !== run.invalid.length) fail(`${run.name}: the journal has ${count('invalid_session')} invalid_session outcomes for ${run.invalid.length} op 9s`);
    if (count('ready') !== readyIdentifies) fail(`${run.name}: the journal has ${count('ready')} ready outcomes for ${readyIdentifies} READYs`);
    if (missing > 0) fail(`${run.name}: ${missing} grants without an outcome`);
  }
}

async function loopGuardRun() {
  const started = Date.now();
  const gateway = await startFakeGateway();
  const queue = await startQueue({
    binary, intervalMs: LOOP_INTERVAL_MS, maxConcurrency: 1, env: { QUEUE_SHARD_HOURLY_LIMIT: String(LOOP_LIMIT) },
  });
  const config = { gatewayUrl: gateway.url, queueUrl: queue.url, shardCount: MAX_STEADY_SHARDS + 1, maxConcurrency: 1 };
  const asked = new Map(); // steady shard -> wall ms it started asking
  let steady = null;
  let crashing = null;
  let starts = 0;
  let refusal = null; // the warning the crash-looping shard's throttler logged
  let refusedAt = null;
  let rows = [];
  let looping = null;
  try {
    steady = startBot(config, (m) => {
      if (m.event === 'asking') asked.set(m.shardId, m.wall);
      else if (!['granted', 'ready'].includes(m.event)) console.log(`loop guard: steady bot: ${JSON.stringify(m)}`);
    });
    await steady.loaded;
    const deadline = Date.now() + 20000;
    // The crash loop: shard 0's process is started again as soon as it exits, until it is refused.
    const crashLoop = (async () => {
      while (refusal === null && Date.now() < deadline) {
        ++starts;
        let refused;
        const refusedNow = new Promise((resolve) => { refused = resolve; });
        crashing = startBot({ ...config, exitAfterReady: true }, (m) => {
          if (m.event === 'warn' && /: 429 /.test(m.message)) {
            refusal = m.message;
            refusedAt = Date.now();
            refused();
          } else if (!['asking', 'granted', 'ready'].includes(m.event)) {
            console.log(`loop guard: crash-looping bot: ${JSON.stringify(m)}`);
          }
        });
        await crashing.loaded;
        crashing.send({ cmd: 'connect', key: 'crash', mode: 'queue', shardIds: [0] });
        await Promise.race([crashing.exited, refusedNow, sleep(Math.max(0, deadline - Date.now()))]);
      }
    })();
    // Meanwhile the other shards of the bucket come one by one, and two more once shard 0 is refused.
    let connected = 0;
    for (let after = 0; after < 2 && connected < MAX_STEADY_SHARDS && Date.now() < deadline; await sleep(STEADY_EVERY_MS)) {
      steady.send({ cmd: 'connect', key: `s${connected + 1}`, mode: 'queue', shardIds: [connected + 1] });
      ++connected;
      if (refusal !== null) ++after;
    }
    await crashLoop;
    // Every steady shard identifies; a refused shard must not: an extra IDENTIFY would show up here.
    await until(() => new Set(gateway.identifies.filter((i) => i.shard !== 0).map((i) => i.shard)).size >= connected, 10000);
    await sleep(2 * LOOP_INTERVAL_MS);
    rows = await journal(queue.url);
    looping = (await getJson(`${queue.url}/status`))?.looping ?? null;
  } finally {
    await crashing?.stop();
    await steady?.stop();
    await queue.stop();
    await gateway.close();
  }
  const identified = (shard) => gateway.identifies.filter((i) => i.shard === shard).length;
  const grants0 = rows.filter((r) => r.shard === 0).length;
  const steadyShards = [...asked.keys()].sort((a, b) => a - b);
  const steadyAfter = refusedAt === null ? 0 : rows.filter((r) => r.shard !== 0 && r.released_at > refusedAt).length;
  // How late each steady shard's grant came after it could have come: its ask, or one interval
  // after the bucket's previous grant, whichever is later. A queue that keeps the bucket busy
  // (and lets no refused shard hold a slot) gives about 0.
  const lateness = rows.map((r, k) => (r.shard === 0 || !asked.has(r.shard) ? null
    : r.released_at - Math.max(asked.get(r.shard), k > 0 ? rows[k - 1].released_at + LOOP_INTERVAL_MS : 0)));
  const gaps = rows.slice(1).map((r, k) => r.released_at - rows[k].released_at);
  console.log(`loop guard: shard 0 started ${starts} times, granted ${grants0} times, identified ${identified(0)} times; ` +
    `refused with: ${refusal ?? '(nothing)'}; /status looping: ${JSON.stringify(looping)}`);
  console.log(`loop guard: grants in order (shard, ms after the earliest moment it could come): ` +
    `${rows.map((r, k) => `${r.shard}${lateness[k] === null ? '' : ` ${lateness[k]}`}`).join(', ')}; ` +
    `smallest gap ${Math.min(...gaps)} ms (interval ${LOOP_INTERVAL_MS}); ${steadyAfter} grants of other shards after the 429; ` +
    `${((Date.now() - started) / 1000).toFixed(1)} s`);
  if (refusal === null || !/429 shard 0 is looping/.test(refusal)) fail(`loop guard: shard 0 was not refused as looping after ${starts} starts`);
  if (grants0 !== LOOP_LIMIT) fail(`loop guard: shard 0 granted ${grants0} times, expected ${LOOP_LIMIT}`);
  if (identified(0) !== LOOP_LIMIT) fail(`loop guard: shard 0 identified ${identified(0)} times, expected ${LOOP_LIMIT}`);
  if (starts !== LOOP_LIMIT + 1) fail(`loop guard: shard 0 started ${starts} times, expected ${LOOP_LIMIT + 1}`);
  for (const shard of steadyShards) {
    if (identified(shard) !== 1) fail(`loop guard: shard ${shard} identified ${identified(shard)} times, expected once`);
  }
  if (steadyAfter < 2) fail(`loop guard: ${steadyAfter} grants of other shards after shard 0 was refused, expected 2`);
  if (rows.length !== steadyShards.length + LOOP_LIMIT) fail(`loop guard: ${rows.length} grants, expected ${steadyShards.length + LOOP_LIMIT}`);
  gaps.forEach((gap, k) => {
    if (gap < LOOP_INTERVAL_MS - 2) fail(`loop guard: grant ${k + 1} came ${gap} ms after the previous one (interval ${LOOP_INTERVAL_MS} ms)`);
  });
  lateness.forEach((late, k) => {
    if (late !== null && late > GAP_SLACK_MS) fail(`loop guard: shard ${rows[k].shard} was granted ${late} ms later than the interval allowed`);
  });
}

// Part 3: boots and reconnects. QUEUE_DAILY_LIMIT=4, QUEUE_RESERVE=2, QUEUE_ON_EXHAUSTED=reject:
// boots (initial=true) may spend only the first 2 session starts. Shards 0 and 1 boot and are
// granted; shard 2 then boots and is refused with 429; shard 0, told op 9 after its READY,
// identifies again through the same throttler, a reconnect without initial=true, and is granted
// from the reserve.
async function reserveRun() {
  const started = Date.now();
  const gateway = await startFakeGateway();
  const queue = await startQueue({
    binary, intervalMs: RESERVE_INTERVAL_MS, maxConcurrency: 1,
    env: { QUEUE_DAILY_LIMIT: '4', QUEUE_RESERVE: '2', QUEUE_ON_EXHAUSTED: 'reject' },
  });
  const ready = [];
  const refusals = [];
  let bot = null;
  try {
    bot = startBot({ gatewayUrl: gateway.url, queueUrl: queue.url, shardCount: 3, maxConcurrency: 1 }, (m) => {
      if (m.event === 'ready') ready.push(m.shardId);
      else if (m.event === 'warn' && /: 429 /.test(m.message)) refusals.push(m.message);
      else if (!['asking', 'granted'].includes(m.event)) console.log(`reserve: bot: ${JSON.stringify(m)}`);
    });
    await bot.loaded;
    bot.send({ cmd: 'connect', key: 'boot', mode: 'queue', shardIds: [0, 1] });
    await until(() => ready.length >= 2, 10000);
    bot.send({ cmd: 'connect', key: 'late', mode: 'queue', shardIds: [2] });
    await until(() => refusals.length > 0, 5000);
    gateway.invalidate(0);
    await until(() => ready.filter((shard) => shard === 0).length >= 2, 5000);
    await sleep(RESERVE_INTERVAL_MS + 200); // an IDENTIFY of shard 2 would show up here
  } finally {
    await bot?.stop();
    await queue.stop();
    await gateway.close();
  }
  const identified = (shard) => gateway.identifies.filter((i) => i.shard === shard).length;
  console.log(`reserve: READY ${ready.join(', ')}; shard 2 refused with: ${refusals[0] ?? '(nothing)'}; ` +
    `${((Date.now() - started) / 1000).toFixed(1)} s`);
  if (identified(2) !== 0 || refusals.length === 0) fail(`reserve: shard 2 booted from the reserve (identified ${identified(2)} times, ${refusals.length} refusals): no initial=true on its request?`);
  if (identified(0) !== 2) fail(`reserve: shard 0 identified ${identified(0)} times, expected 2: its reconnect after op 9 was not granted from the reserve (initial=true sent again?)`);
}

async function main() {
  const started = Date.now();
  try {
    const [off, on] = await Promise.all([wideningRun('off', 0), wideningRun('on', WIDEN_MAX_MS)]);
    judgeWidening(off, on);
  } catch (error) {
    fail(`widening: ${error.message}`);
  }
  try {
    await loopGuardRun();
  } catch (error) {
    fail(`loop guard: ${error.message}`);
  }
  try {
    await reserveRun();
  } catch (error) {
    fail(`reserve: ${error.message}`);
  }
  console.log(`total ${((Date.now() - started) / 1000).toFixed(1)} s`);
  console.log(failures.length === 0 ? 'discord.js invalid sessions: all checks passed' : `discord.js invalid sessions: ${failures.length} check(s) failed`);
  process.exit(failures.length === 0 ? 0 : 1);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
