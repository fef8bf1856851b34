'use strict';
// End-to-end failover through clients/discordjs/queue_throttler.js with the real @discordjs/ws:
//   GQ_POSTGRES_CLUSTER_FILE=FILE node failover.js --binary PATH/TO/gateway-queue
// FILE holds "DIR PORT" of a running PostgreSQL cluster (user postgres trusted on 127.0.0.1).
//
// Two gateway-queue processes share one PostgreSQL journal: A active, B a hot standby. Six shards
// in two processes, all in one bucket, are given the list [A, B]. After two IDENTIFYs, A is killed
// with SIGKILL while the other four wait at it, and shard 0 is told to identify again (op 9).
// Checks: every shard identifies (shard 0 twice); no IDENTIFY without a 2xx (the throttler
// returned as often as the shard identified, and the journal holds a grant for each); the grants
// after the kill are B's (A is dead; the journal's rows after the kill count them); and two
// IDENTIFYs of the bucket are never closer than the interval less the earlier one's measured
// delay after its grant (as in run.js). Prints the time from the kill to the first grant after it,
// and to the first grant of a shard that was waiting at A when it died.
//
// GQ_E2E_FIRST_QUEUE_ONLY=1 gives the shards only A's URL, as a client without a list would have:
// the test must then fail.
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { setTimeout: sleep } = require('node:timers/promises');
const { startFakeGateway } = require('./fake_gateway');
const { startQueue, startBot } = require('./processes');

const INTERVAL_MS = 1000;
const TOLERANCE_MS = 25;
const PROCESSES = [[0, 1, 2], [3, 4, 5]];
const SHARD_COUNT = 6;
const KILL_AFTER = 2; // IDENTIFYs before the active queue is killed
// Kill to first grant: B takes over within ~0.2 s, the shards ask again after the standby's
// Retry-After (1 s), and B's first grant is due one interval and 100 ms after A's last.
const FIRST_GRANT_BOUND_MS = 4000;

const binaryIndex = process.argv.indexOf('--binary');
const binary = binaryIndex > 0 && process.argv[binaryIndex + 1] ? path.resolve(process.argv[binaryIndex + 1]) : undefined;
const clusterFile = process.env.GQ_POSTGRES_CLUSTER_FILE;
if (!binary || !clusterFile) {
  console.error('usage: GQ_POSTGRES_CLUSTER_FILE=FILE node failover.js --binary PATH/TO/gateway-queue');
  process.exit(2);
}

const failures = [];
const fail = (message) => { failures.push(message); console.log(`FAIL: ${message}`); };

// A fresh database in the cluster of `clusterFile`; returns its URI.
function createDatabase() {
  const [, port] = fs.readFileSync(clusterFile, 'utf8').trim().split(/\s+/);
  const name = `gq_e2e_js_${process.pid}_${Date.now()}`;
  const psql = ['psql', '/usr/lib/postgresql/15/bin/psql'].find((p) => spawnSync(p, ['--version']).status === 0);
  const created = spawnSync(psql, ['-h', '127.0.0.1', '-p', port, '-U', 'postgres', '-c', `CREATE DATABASE ${name}`], { encoding: 'utf8' });
  if (created.status !== 0) throw new Error(`CREATE DATABASE failed: ${created.stderr}`);
  return `postgresql://postgres@127.0.0.1:${port}/${name}`;
}

async function status(url, what) {
  try {
    return (await fetch(`${url}${what}`)).status;
  } catch {
    return 0;
  }
}

async function until(what, condition, timeoutMs) {
  for (const deadline = Date.now() + timeoutMs; !(await condition()); await sleep(10)) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
  }
}

// Every grant in the journal, oldest first: [{shard, released_at}]; empty if it cannot be read.
async function journal(url) {
  try {
    const { releases } = await (await fetch(`${url}/history?limit=1000`)).json();
    return releases.sort((x, y) => x.released_at - y.released_at);
  } catch {
    return [];
  }
}

async function main() {
  const db = createDatabase();
  const gateway = await startFakeGateway();
  const queues = [];
  const bots = [];
  const grants = []; // {shard, wall}: each time the throttler returned
  const asks = []; // {shard, wall}: each time the throttler was called
  let killedAt = null;
  let rows = [];
  try {
    const a = await startQueue({ binary, intervalMs: INTERVAL_MS, maxConcurrency: 1, db });
    queues.push(a);
    await until('queue A to be active', async () => (await status(a.url, '/ready')) === 200, 10000);
    const b = await startQueue({ binary, intervalMs: INTERVAL_MS, maxConcurrency: 1, db });
    queues.push(b);
    if ((await status(b.url, '/ready')) !== 503) fail('queue B is not a standby');
    const onlyFirst = process.env.GQ_E2E_FIRST_QUEUE_ONLY === '1';
    if (onlyFirst) console.log('!! GQ_E2E_FIRST_QUEUE_ONLY=1: the shards get only the first queue\'s URL');
    const queueUrl = onlyFirst ? a.url : [a.url, b.url];
    for (const shardIds of PROCESSES) {
      bots.push(startBot({ gatewayUrl: gateway.url, queueUrl, shardCount: SHARD_COUNT, maxConcurrency: 1 }, (m) => {
        if (m.event === 'granted') grants.push({ shard: m.shardId, wall: m.wall });
        else if (m.event === 'asking') asks.push({ shard: m.shardId, wall: m.wall });
        else if (m.event !== 'ready') console.log(`bot: ${JSON.stringify(m)}`);
      }));
    }
    await Promise.all(bots.map((bot) => bot.loaded));
    bots.forEach((bot, k) => bot.send({ cmd: 'connect', key: 'all', shardIds: PROCESSES[k], mode: 'queue' }));
    await until(`${KILL_AFTER} IDENTIFYs`, () => gateway.identifies.length >= KILL_AFTER, 20000);
    killedAt = Date.now();
    await a.kill();
    gateway.invalidate(gateway.identifies[0].shard);
    // SHARD_COUNT + 1 IDENTIFYs in all, one interval apart after the kill.
    await until('every shard to identify', () => gateway.identifies.length >= SHARD_COUNT + 1,
      FIRST_GRANT_BOUND_MS + (SHARD_COUNT + 1 - KILL_AFTER) * INTERVAL_MS + 10000).catch((error) => fail(error.message));
    await sleep(INTERVAL_MS + 200); // an extra IDENTIFY, paced an interval on, would show up here
    if ((await status(b.url, '/ready')) !== 200) fail('queue B did not take over');
    rows = await journal(b.url);
  } finally {
    await Promise.all(bots.map((bot) => bot.stop()));
    await Promise.all(queues.map((queue) => queue.stop()));
    await gateway.close();
  }

  const identifies = [...gateway.identifies].sort((x, y) => x.mono - y.mono);
  const count = (list, shard) => list.filter((i) => i.shard === shard).length;
  for (let shard = 0; shard < SHARD_COUNT; ++shard) {
    const expected = shard === identifies[0]?.shard ? 2 : 1;
    if (count(identifies, shard) !== expected) fail(`shard ${shard} identified ${count(identifies, shard)} times, expected ${expected}`);
    if (count(identifies, shard) > count(grants, shard)) fail(`shard ${shard} identified ${count(identifies, shard)} times after ${count(grants, shard)} grants`);
    if (count(identifies, shard) > count(rows, shard)) fail(`shard ${shard} identified ${count(identifies, shard)} times; the journal has ${count(rows, shard)} grants`);
  }
  const after = grants.filter((g) => g.wall > killedAt).sort((x, y) => x.wall - y.wall);
  const journaledAfter = rows.filter((r) => r.released_at > killedAt).length;
  if (journaledAfter < after.length) fail(`${after.length} grants after the kill, but B journaled ${journaledAfter}`);
  // Each IDENTIFY's delay after its grant: from the shard's latest journaled grant before it.
  const delay = (i) => {
    const grant = rows.filter((r) => r.shard === i.shard && r.released_at <= i.wall).pop();
    return grant ? i.wall - grant.released_at : 0;
  };
  let smallest = Infinity;
  for (let k = 1; k < identifies.length; ++k) {
    const gap = identifies[k].mono - identifies[k - 1].mono;
    smallest = Math.min(smallest, gap);
    const least = INTERVAL_MS - TOLERANCE_MS - delay(identifies[k - 1]);
    if (gap < least) {
      fail(`shard ${identifies[k].shard} identified ${gap.toFixed(1)} ms after shard ${identifies[k - 1].shard} ` +
        `(< ${INTERVAL_MS} - ${TOLERANCE_MS} - ${delay(identifies[k - 1])} ms, its measured delay)`);
    }
  }
  // Shards that were waiting at A when it died: asked before the kill, not granted since.
  const last = (list, shard) => Math.max(-Infinity, ...list.filter((e) => e.shard === shard && e.wall <= killedAt).map((e) => e.wall));
  const held = new Set(asks.filter((e) => last(asks, e.shard) > last(grants, e.shard)).map((e) => e.shard));
  const ms = (grant) => (grant ? `${grant.wall - killedAt} ms` : 'none');
  const firstGrantMs = after.length > 0 ? after[0].wall - killedAt : null;
  console.log(`failover (discord.js): ${identifies.length} IDENTIFYs, ${after.length} granted after the kill -9 of the active; ` +
    `kill -> first grant through the client: ${ms(after[0])}, ` +
    `to the first of the ${held.size} shards waiting at the active: ${ms(after.find((g) => held.has(g.shard)))}; ` +
    `smallest gap between IDENTIFYs: ${smallest.toFixed(1)} ms (interval ${INTERVAL_MS} ms)`);
  if (firstGrantMs === null || firstGrantMs > FIRST_GRANT_BOUND_MS) fail(`no grant within ${FIRST_GRANT_BOUND_MS} ms of the kill`);
  console.log(failures.length === 0 ? 'discord.js failover: all checks passed' : `discord.js failover: ${failures.length} check(s) failed`);
  process.exit(failures.length === 0 ? 0 : 1);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
