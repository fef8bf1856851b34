'use strict';
// A fake Discord gateway for @discordjs/ws: HELLO (op 10) on connect, a READY dispatch after each
// IDENTIFY (op 2), an ACK (op 11) for each heartbeat (op 1). Plain JSON text frames. It records
// every IDENTIFY with the time it arrived and the bot token it carries, which is what the
// end-to-end tests judge.
// invalidate(shard) sends that shard an Invalid Session (op 9, not resumable): it identifies again.
//
// With {enforceIntervalMs, maxConcurrency} it paces IDENTIFYs as Discord does, per bucket
// (shard % maxConcurrency): an IDENTIFY that arrives less than enforceIntervalMs after the previous
// IDENTIFY of its bucket is answered with op 9 (d: false) instead of READY, and recorded in
// `invalidSessions` ({shard, mono, wall, gap}). The refused IDENTIFY still counts as the bucket's
// latest: the gateway saw the attempt, so the next one is measured from it (Discord counts
// attempts, and a client that retries at once after an op 9 is refused again).
const path = require('node:path');
const { createRequire } = require('node:module');
const { EventEmitter } = require('node:events');
const { performance } = require('node:perf_hooks');

const clientDir = path.resolve(__dirname, '../../../clients/discordjs');
const { WebSocketServer } = createRequire(path.join(clientDir, 'package.json'))('ws');

// Starts listening on 127.0.0.1 (kernel-chosen port). Resolves to
// { url, identifies: [{shard, mono, wall, token}], invalidSessions, events, close() }; `identifies` holds
// every IDENTIFY, refused ones included.
async function startFakeGateway({ enforceIntervalMs = 0, maxConcurrency = 1 } = {}) {
  const server = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise((resolve, reject) => server.once('listening', resolve).once('error', reject));
  const url = `ws://127.0.0.1:${server.address().port}`;
  const gateway = { url, identifies: [], invalidSessions: [], events: new EventEmitter() };
  const sockets = new Map(); // shard -> the socket of its last IDENTIFY
  const lastIdentify = new Map(); // bucket -> mono time of its latest IDENTIFY, refused or not
  server.on('connection', (socket) => {
    let sequence = 0;
    socket.send(JSON.stringify({ op: 10, d: { heartbeat_interval: 41250 } }));
    socket.on('message', (data) => {
      const payload = JSON.parse(data.toString());
      if (payload.op === 1) {
        socket.send(JSON.stringify({ op: 11 }));
      } else if (payload.op === 2) {
        const [shard, count] = payload.d.shard;
        const record = { shard, mono: performance.now(), wall: Date.now(), token: payload.d.token };
        sockets.set(shard, socket);
        gateway.identifies.push(record);
        gateway.events.emit('identify', record);
        if (enforceIntervalMs > 0) {
          const bucket = shard % maxConcurrency;
          const previous = lastIdentify.get(bucket);
          lastIdentify.set(bucket, record.mono);
          if (previous !== undefined && record.mono - previous < enforceIntervalMs) {
            const refused = { ...record, gap: record.mono - previous };
            gateway.invalidSessions.push(refused);
            gateway.events.emit('invalid', refused);
            socket.send(JSON.stringify({ op: 9, d: false }));
            return;
          }
        }
        socket.send(JSON.stringify({
          op: 0, t: 'READY', s: ++sequence,
          d: {
            v: 10, user: { id: '1', username: 'e2e', discriminator: '0', avatar: null, bot: true },
            guilds: [], session_id: `session-${shard}`, resume_gateway_url: url,
            shard: [shard, count], application: { id: '1', flags: 0 },
          },
        }));
      }
    });
  });
  gateway.reset = () => {
    gateway.identifies = [];
    gateway.invalidSessions = [];
    lastIdentify.clear();
  };
  gateway.invalidate = (shard) => sockets.get(shard)?.send(JSON.stringify({ op: 9, d: false }));
  gateway.close = () => {
    for (const client of server.clients) client.terminate();
    return new Promise((resolve) => server.close(resolve));
  };
  return gateway;
}

module.exports = { startFakeGateway };
