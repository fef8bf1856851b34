'use strict';
// Child processes of an end-to-end test: the queue (the real gateway-queue binary, or with
// GQ_E2E_STAND_IN=grant-at-once a server that grants at once, to show the test then fails) and the
// bot processes. Every child is tracked by PID and killed when the test exits, however it exits.
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const net = require('node:net');
const { spawn, fork } = require('node:child_process');
const { setTimeout: sleep } = require('node:timers/promises');

const children = new Set();
process.on('exit', () => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) process.kill(child.pid, 'SIGKILL');
});
// A test stopped from outside (ctest's timeout, Ctrl-C) still leaves no process behind.
for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP']) process.on(signal, () => process.exit(1));

function track(child) {
  children.add(child);
  child.on('exit', () => children.delete(child));
  return child;
}

async function freePort() {
  const server = net.createServer();
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

// Sends SIGTERM, waits up to `graceMs` for the exit, then SIGKILL.
async function stopChild(child, graceMs = 3000) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  process.kill(child.pid, 'SIGTERM');
  if ((await Promise.race([exited.then(() => true), sleep(graceMs).then(() => false)])) === false) {
    process.kill(child.pid, 'SIGKILL');
    await exited;
  }
}

// Starts the queue on a free loopback port with its journal in a fresh directory, or in `db` (a
// PostgreSQL URI, which several queues may share); `env` adds variables (QUEUE_WIDEN_STEP_MS, ...).
// Resolves to { url, stop(), kill() } once GET /health answers 200; kill() is SIGKILL, a crash.
async function startQueue({ binary, intervalMs, maxConcurrency, authToken, db, env: extraEnv = {} }) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gq-e2e-'));
  const port = await freePort();
  const env = Object.fromEntries(Object.entries(process.env).filter(
    ([name]) => !/^(HOST|PORT|QUEUE_.*|DISCORD_.*)$/.test(name)));
  Object.assign(env, {
    HOST: '127.0.0.1', PORT: String(port), QUEUE_DB: db ?? path.join(dir, 'queue.db'),
    QUEUE_MAX_CONCURRENCY: String(maxConcurrency), QUEUE_IDENTIFY_INTERVAL_MS: String(intervalMs),
    QUEUE_LOG_LEVEL: 'warn',
  });
  if (authToken) env.QUEUE_AUTH_TOKEN = authToken;
  Object.assign(env, extraEnv);
  const standIn = process.env.GQ_E2E_STAND_IN === 'grant-at-once';
  const command = standIn ? ['/usr/bin/python3', path.join(__dirname, '..', 'grant_at_once.py')] : [binary];
  if (standIn) console.log('!! GQ_E2E_STAND_IN=grant-at-once: the queue is replaced by a server that grants at once');
  const child = track(spawn(command[0], command.slice(1), { cwd: dir, env, stdio: ['ignore', 'inherit', 'inherit'] }));
  child.on('error', (error) => console.log(`queue: ${error.message}`)); // then /health never answers
  const url = `http://127.0.0.1:${port}`;
  const stop = async () => {
    await stopChild(child);
    fs.rmSync(dir, { recursive: true, force: true });
  };
  const kill = async () => {
    const exited = new Promise((resolve) => child.once('exit', resolve));
    process.kill(child.pid, 'SIGKILL');
    await exited;
  };
  for (const deadline = Date.now() + 10000; Date.now() < deadline; await sleep(50)) {
    if (child.exitCode !== null) break;
    try {
      if ((await fetch(`${url}/health`)).status === 200) return { url, stop, kill };
    } catch { /* not listening yet */ }
  }
  await stop();
  throw new Error(`queue did not answer /health on ${url}`);
}

// Forks a bot process (shard_process.js) with `config`; `onMessage` gets its reports.
// `loaded` resolves once the process has loaded the library and takes commands; `exited` once it
// has exited, with its exit code.
function startBot(config, onMessage) {
  const child = track(fork(path.join(__dirname, 'shard_process.js'), [JSON.stringify(config)], { stdio: 'inherit' }));
  const exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
  const loaded = new Promise((resolve, reject) => {
    child.on('message', (m) => (m.event === 'loaded' ? resolve() : onMessage(m)));
    child.once('exit', () => reject(new Error('bot process exited before it was loaded')));
  });
  loaded.catch(() => {});
  return {
    loaded,
    exited,
    send: (message) => child.send(message),
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.send({ cmd: 'exit' });
      if ((await Promise.race([exited.then(() => true), sleep(3000).then(() => false)])) === false) await stopChild(child, 0);
    },
  };
}

module.exports = { startQueue, startBot };
