'use strict';
// One bot process: real @discordjs/ws WebSocketManagers, driven by the test over IPC.
//   argv[2]: JSON {gatewayUrl, queueUrl, queueToken (optional), shardCount, maxConcurrency,
//                  identifyDelaysMs (optional), exitAfterReady (optional), botToken (optional)}
//   parent -> child: {cmd: 'connect', key, shardIds, mode: 'queue' | 'control'},
//                    {cmd: 'destroy', key}, {cmd: 'exit'}
//   child -> parent: {event: 'loaded'} once ready for commands, {event: 'asking' | 'granted', shardId, wall},
//                    {event: 'ready', shardId, wall}, {event: 'warn' | 'error', message}
// 'queue' uses clients/discordjs/queue_throttler.js itself, attached to the manager with watch()
// (so outcomes are reported), wrapped only to report when a shard starts asking and when its
// grant arrived; 'control' leaves the library's default throttler (SimpleIdentifyThrottler, one
// per manager) in place.
// identifyDelaysMs: the IDENTIFY after a grant is held this long, as a busy event loop would hold
// it; the list is taken in turn per bucket (shard % maxConcurrency), in the order this process's
// grants of that bucket arrive. exitAfterReady: the process exits (code 3) 200 ms after a READY,
// a bot that crashes once connected (the 200 ms let its outcome report go out). botToken: the
// Discord bot token the shards send in their IDENTIFY (default 'e2e-token'), which tells one
// bot's shards from another's at the fake gateway.
const path = require('node:path');
const { createRequire } = require('node:module');

const clientDir = path.resolve(__dirname, '../../../clients/discordjs');
const { WebSocketManager } = createRequire(path.join(clientDir, 'package.json'))('@discordjs/ws');
const { setTimeout: sleep } = require('node:timers/promises');
const { createQueueThrottler } = require(path.join(clientDir, 'queue_throttler.js'));

const config = JSON.parse(process.argv[2]);
const managers = new Map();
const report = (message) => process.send(message);

// bucket -> grants of that bucket so far in this process (the next index into identifyDelaysMs).
const bucketGrants = new Map();

function reportingThrottler(manager) {
  const inner = createQueueThrottler({
    url: config.queueUrl,
    token: config.queueToken,
    warn: (message) => report({ event: 'warn', message }),
  }).watch(manager);
  return {
    async waitForIdentify(shardId, signal) {
      report({ event: 'asking', shardId, wall: Date.now() });
      await inner.waitForIdentify(shardId, signal);
      report({ event: 'granted', shardId, wall: Date.now() });
      const delays = config.identifyDelaysMs ?? [];
      if (delays.length > 0) {
        const bucket = shardId % config.maxConcurrency;
        const k = bucketGrants.get(bucket) ?? 0;
        bucketGrants.set(bucket, k + 1);
        await sleep(delays[k % delays.length]);
      }
    },
  };
}

function connect({ key, shardIds, mode }) {
  const options = {
    token: config.botToken ?? 'e2e-token',
    intents: 0,
    shardCount: config.shardCount,
    shardIds,
    rest: {
      get: async () => ({
        url: config.gatewayUrl,
        shards: config.shardCount,
        session_start_limit: { total: 1000, remaining: 1000, reset_after: 86400000, max_concurrency: config.maxConcurrency },
      }),
    },
  };
  if (mode === 'queue') options.buildIdentifyThrottler = (manager) => reportingThrottler(manager);
  const manager = new WebSocketManager(options);
  manager.on('ready', ({ shardId }) => {
    report({ event: 'ready', shardId, wall: Date.now() });
    if (config.exitAfterReady) setTimeout(() => process.exit(3), 200);
  });
  managers.set(key, manager);
  manager.connect().catch((error) => report({ event: 'error', message: String(error) }));
}

async function destroy(key) {
  const manager = managers.get(key);
  managers.delete(key);
  if (manager) await manager.destroy({ reason: 'test', code: 1000 });
}

process.on('message', async (message) => {
  try {
    if (message.cmd === 'connect') connect(message);
    else if (message.cmd === 'destroy') await destroy(message.key);
    else if (message.cmd === 'exit') {
      setTimeout(() => process.exit(0), 2000).unref();
      await Promise.allSettled([...managers.keys()].map(destroy));
      process.exit(0);
    }
  } catch (error) {
    report({ event: 'error', message: String(error) });
  }
});
process.on('disconnect', () => process.exit(0));
report({ event: 'loaded' });
