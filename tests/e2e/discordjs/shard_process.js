'use strict';
// One bot process: real @discordjs/ws WebSocketManagers, driven by the test over IPC.
//   argv[2]: JSON {gatewayUrl, queueUrl, queueToken (optional), shardCount, maxConcurrency}
//   parent -> child: {cmd: 'connect', key, shardIds, mode: 'queue' | 'control'},
//                    {cmd: 'destroy', key}, {cmd: 'exit'}
//   child -> parent: {event: 'loaded'} once ready for commands, {event: 'asking' | 'granted', shardId, wall}, {event: 'warn' | 'error', message}
// 'queue' uses clients/discordjs/queue_throttler.js itself, wrapped only to report when a shard
// starts asking and when its grant arrived; 'control' leaves the library's default throttler
// (SimpleIdentifyThrottler, one per manager) in place.
const path = require('node:path');
const { createRequire } = require('node:module');

const clientDir = path.resolve(__dirname, '../../../clients/discordjs');
const { WebSocketManager } = createRequire(path.join(clientDir, 'package.json'))('@discordjs/ws');
const { createQueueThrottler } = require(path.join(clientDir, 'queue_throttler.js'));

const config = JSON.parse(process.argv[2]);
const managers = new Map();
const report = (message) => process.send(message);

function reportingThrottler() {
  const inner = createQueueThrottler({
    url: config.queueUrl,
    token: config.queueToken,
    warn: (message) => report({ event: 'warn', message }),
  });
  return {
    async waitForIdentify(shardId, signal) {
      report({ event: 'asking', shardId, wall: Date.now() });
      await inner.waitForIdentify(shardId, signal);
      report({ event: 'granted', shardId, wall: Date.now() });
    },
  };
}

function connect({ key, shardIds, mode }) {
  const options = {
    token: 'e2e-token',
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
  if (mode === 'queue') options.buildIdentifyThrottler = () => reportingThrottler();
  const manager = new WebSocketManager(options);
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
