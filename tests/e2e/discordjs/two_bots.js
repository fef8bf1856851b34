'use strict';
// Two bots in one queue, end to end: real @discordjs/ws shards of two bots, each bot's shards in
// processes of their own, waiting on one gateway-queue that serves both (QUEUE_BOTS_FILE).
//   node two_bots.js --binary PATH/TO/gateway-queue [--same-bot]
// The bots are configured as a user would: alpha's shards bear alpha's auth token (the token names
// the bot); beta has no token of its own, so its shards name it by the base URL
// http://HOST:PORT/bots/beta/ and bear the operator's token, as QUEUE_AUTH_TOKEN requires. Neither
// bot has a Discord token: their limits are the bots file's (one bucket each, distinct intervals).
//
// The fake gateway tells the bots apart by the bot token in each IDENTIFY. Checks:
// - each bot's shards identify once each, one interval of that bot apart (its bucket), and no
//   more than that apart while the next shard was already waiting (not the other bot's interval);
// - the bots do not wait for each other: beta's first IDENTIFY arrives within BOTH_FIRST_MS of
//   alpha's first, where one shared bucket would put them an interval or more apart;
// - GET /history (the operator's token, no bot named) holds one grant per IDENTIFY, each row naming
//   the bot whose shard identified after it.
// --same-bot points beta's shards at /bots/alpha/, a queue that ignores which bot asks: the test
// must then fail (the bots wait for each other, the counts and rows are wrong).
//
// Spacing is judged as in run.js: an IDENTIFY comes some delay d after its grant, measured from the
// grant's row in the journal, and only the earlier shard's delay can shrink a gap.
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { setTimeout: sleep } = require('node:timers/promises');
const { startFakeGateway } = require('./fake_gateway');
const { startQueue, startBot } = require('./processes');

const SHARD_COUNT = 3; // per bot, one process per shard
const TOLERANCE_MS = 25;
// A shard that was waiting when its bot's previous grant went is granted one interval later: this
// much later counts as paced by something else (beta's interval is 500 ms longer than alpha's).
const LATE_MS = 250;
// Both bots' shards start together; their first IDENTIFYs are a process wake-up apart, not an
// interval.
const BOTH_FIRST_MS = 500;
const OPERATOR_TOKEN = 'e2e-operator-token';
const BOTS = [
  { name: 'alpha', intervalMs: 1000, discordToken: 'alpha-discord-token', authToken: 'alpha-queue-token' },
  { name: 'beta', intervalMs: 1500, discordToken: 'beta-discord-token' },
];

const args = process.argv.slice(2);
const binaryIndex = args.indexOf('--binary');
const binary = binaryIndex >= 0 && args[binaryIndex + 1] ? path.resolve(args[binaryIndex + 1]) : undefined;
const sameBot = args.includes('--same-bot');
if (!binary) {
  console.error('usage: node two_bots.js --binary PATH/TO/gateway-queue [--same-bot]');
  process.exit(2);
}

const failures = [];
const fail = (message) => { failures.push(message); console.log(`FAIL: ${message}`); };

// Writes the bots file and alpha's token file into `dir`; returns the bots file's path.
function writeBotsFile(dir) {
  const tables = BOTS.map((bot) => {
    const lines = ['[[bot]]', `name = "${bot.name}"`, `identify_interval_ms = ${bot.intervalMs}`, 'max_concurrency = 1'];
    if (bot.authToken) {
      fs.writeFileSync(path.join(dir, `${bot.name}.tokens`), `${bot.authToken}\n`, { mode: 0o600 });
      lines.push(`auth_token_file = "${bot.name}.tokens"`);
    }
    return lines.join('\n');
  });
  const file = path.join(dir, 'bots.toml');
  fs.writeFileSync(file, `${tables.join('\n\n')}\n`);
  return file;
}

// How a bot's shards reach the queue: its base URL and bearer token.
function queueAccess(bot, queueUrl) {
  if (bot.authToken) return { queueUrl, queueToken: bot.authToken };
  const named = sameBot ? BOTS[0].name : bot.name;
  return { queueUrl: `${queueUrl}/bots/${named}/`, queueToken: OPERATOR_TOKEN };
}

// Every grant in the journal, across bots (the operator names none): [{bot, shard, released_at}].
async function journal(queueUrl) {
  try {
    const response = await fetch(`${queueUrl}/history?limit=1000`, { headers: { authorization: `Bearer ${OPERATOR_TOKEN}` } });
    const body = await response.json();
    if (response.status !== 200 || !Array.isArray(body.releases)) {
      fail(`GET /history: ${response.status} ${JSON.stringify(body)}`);
      return [];
    }
    return body.releases;
  } catch (error) {
    fail(`GET /history: ${error.message}`);
    return [];
  }
}

async function run(gateway) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gq-e2e-bots-'));
  if (sameBot) console.log('!! --same-bot: beta\'s shards ask as alpha, a queue that ignores the bot (the test must fail)');
  let queue = null;
  const processes = [];
  // `${bot}:${shard}` -> unix ms its shard started asking the queue
  const asking = new Map();
  let rows = [];
  try {
    queue = await startQueue({
      binary, intervalMs: 5000, maxConcurrency: 1, authToken: OPERATOR_TOKEN, env: { QUEUE_BOTS_FILE: writeBotsFile(dir) },
    });
    for (const bot of BOTS) {
      for (let shard = 0; shard < SHARD_COUNT; ++shard) {
        const config = { gatewayUrl: gateway.url, ...queueAccess(bot, queue.url), botToken: bot.discordToken, shardCount: SHARD_COUNT, maxConcurrency: 1 };
        const child = startBot(config, (m) => {
          if (m.event === 'asking') asking.set(`${bot.name}:${m.shardId}`, m.wall);
          else if (m.event !== 'granted' && m.event !== 'ready') console.log(`${bot.name} shard ${shard}: ${JSON.stringify(m)}`);
        });
        processes.push({ child, shard });
      }
    }
    // All loaded first, so that both bots' shards start together.
    await Promise.all(processes.map(({ child }) => child.loaded));
    for (const { child, shard } of processes) child.send({ cmd: 'connect', key: 'all', shardIds: [shard], mode: 'queue' });
    const expected = BOTS.length * SHARD_COUNT;
    // The slowest bot's last shard identifies (SHARD_COUNT - 1) of its intervals after its first;
    // behind one shared bucket (--same-bot) every shard waits its turn.
    const patience = expected * Math.max(...BOTS.map((b) => b.intervalMs)) + 10000;
    for (const deadline = Date.now() + patience; gateway.identifies.length < expected && Date.now() < deadline;) await sleep(10);
    await sleep(300); // an extra IDENTIFY would show up here
    rows = await journal(queue.url);
  } finally {
    await Promise.all(processes.map(({ child }) => child.stop()));
    if (queue) await queue.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
  judge(gateway.identifies, rows, asking);
}

function judge(identifies, rows, asking) {
  const byBot = new Map(BOTS.map((bot) => [bot.name, identifies.filter((i) => i.token === bot.discordToken).sort((a, b) => a.mono - b.mono)]));
  const strangers = identifies.filter((i) => !BOTS.some((bot) => bot.discordToken === i.token));
  if (strangers.length > 0) fail(`${strangers.length} IDENTIFY(s) with a token of neither bot`);
  const grantOf = (bot, shard) => rows.find((r) => r.bot === bot && r.shard === shard);

  for (const bot of BOTS) {
    const ids = byBot.get(bot.name);
    for (let shard = 0; shard < SHARD_COUNT; ++shard) {
      const count = ids.filter((i) => i.shard === shard).length;
      if (count !== 1) fail(`${bot.name}: shard ${shard} identified ${count} times, expected once`);
    }
    if (ids.length !== SHARD_COUNT) fail(`${bot.name}: ${ids.length} IDENTIFYs, expected ${SHARD_COUNT}`);
    // From the grant's journal row (its own bot's) to the IDENTIFY; 0 without a row (judged below).
    const delay = (i) => Math.max(0, i.wall - (grantOf(bot.name, i.shard)?.released_at ?? Infinity));
    const gaps = ids.slice(1).map((i, k) => i.mono - ids[k].mono);
    console.log(`${bot.name} (interval ${bot.intervalMs} ms): ${ids.length} IDENTIFYs, gaps ${gaps.map((g) => g.toFixed(1)).join(', ')} ms; ` +
      `grant-to-IDENTIFY delay max ${Math.max(0, ...ids.map(delay))} ms`);
    for (let k = 1; k < ids.length; ++k) {
      const least = bot.intervalMs - TOLERANCE_MS - delay(ids[k - 1]);
      if (gaps[k - 1] < least) {
        fail(`${bot.name}: shard ${ids[k].shard} identified ${gaps[k - 1].toFixed(1)} ms after shard ${ids[k - 1].shard} ` +
          `(< ${bot.intervalMs} - ${TOLERANCE_MS} - ${delay(ids[k - 1])} ms, its measured delay)`);
      }
    }
    // Paced by its own interval, not more: a grant that was waited for comes one interval after
    // the bot's previous grant (the journal's instants, on the queue's clock).
    const grants = rows.filter((r) => r.bot === bot.name).sort((a, b) => a.released_at - b.released_at);
    for (let k = 1; k < grants.length; ++k) {
      const due = grants[k - 1].released_at + bot.intervalMs;
      const asked = asking.get(`${bot.name}:${grants[k].shard}`);
      if (asked !== undefined && asked < due && grants[k].released_at > due + LATE_MS) {
        fail(`${bot.name}: shard ${grants[k].shard}, waiting since before it was due, was granted ` +
          `${grants[k].released_at - grants[k - 1].released_at} ms after the bot's previous grant (interval ${bot.intervalMs} ms)`);
      }
    }
  }

  // Neither bot waits for the other.
  const [alphaFirst, betaFirst] = BOTS.map((bot) => byBot.get(bot.name)[0]);
  if (alphaFirst && betaFirst) {
    const apart = Math.abs(betaFirst.mono - alphaFirst.mono);
    console.log(`first IDENTIFYs: beta ${(betaFirst.mono - alphaFirst.mono).toFixed(1)} ms after alpha`);
    if (apart > BOTH_FIRST_MS) fail(`the bots' first IDENTIFYs are ${apart.toFixed(1)} ms apart (> ${BOTH_FIRST_MS} ms): one bot waited for the other`);
  } else {
    fail('a bot never identified');
  }

  // The journal: one row per IDENTIFY, naming the bot whose shard identified after it.
  console.log(`journal: ${rows.length} rows, ${BOTS.map((bot) => `${bot.name} ${rows.filter((r) => r.bot === bot.name).length}`).join(', ')}`);
  const expected = BOTS.length * SHARD_COUNT;
  if (rows.length !== expected) fail(`journal: ${rows.length} rows, expected ${expected}`);
  for (const bot of BOTS) {
    for (const i of byBot.get(bot.name)) {
      const row = grantOf(bot.name, i.shard);
      if (!row) fail(`journal: no row of bot ${bot.name} for its shard ${i.shard}'s IDENTIFY`);
      // The same clock (this machine's); the queue writes its grant at released_at or a little later.
      else if (row.released_at > i.wall + 1 || i.wall - row.released_at > 1000) {
        fail(`journal: ${bot.name} shard ${i.shard}: granted at ${row.released_at}, identified at ${i.wall}: not its grant`);
      }
    }
  }
}

async function main() {
  const gateway = await startFakeGateway();
  try {
    await run(gateway);
  } catch (error) {
    fail(error.message);
  } finally {
    await gateway.close();
  }
  console.log(failures.length === 0 ? 'discord.js two bots: all checks passed' : `discord.js two bots: ${failures.length} check(s) failed`);
  process.exit(failures.length === 0 ? 0 : 1);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
