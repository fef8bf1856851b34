"""End-to-end test of clients/discordpy/queue_client.py with Debian's discord.py, on loopback.

    /usr/bin/python3 run.py --binary PATH/TO/gateway-queue

1. queue:   6 shards in 2 processes, max_concurrency 2, waiting on gateway-queue: every shard
            identifies once, and two IDENTIFYs of one bucket are never closer than the interval.
2. control: the same processes with discord.py's own pacing (first shard of a process at once)
            must collide in a bucket, or the test proves nothing.
3. abort:   a shard whose wait is cancelled frees its place: the next shard of its bucket
            identifies one interval after the previous one, not two.
4. held:    a re-identifying shard whose wait outlasts discord.py's reconnect timeout (60 s, made
            RECONNECT_TIMEOUT_S in the bot process: bot_process.py) is cancelled by the library
            and retried, and keeps its place: it is granted before a shard that asked after it.

Spacing check, as in the discord.js test: grants of one bucket leave the queue at least
INTERVAL_MS apart and each IDENTIFY follows its grant by a delay d; only the earlier shard's delay
can shrink a gap, so each pair must be at least INTERVAL_MS - TOLERANCE_MS - d(earlier) apart,
with d measured from the grant's time in the queue's journal (GET /history: the instant its 200
is due to be written) to the IDENTIFY at the fake gateway (without a journal, from the hook's
return). discord.py's delay was 0.2-3.6 ms idle
and up to ~16 ms at load average 13 here; TOLERANCE_MS covers millisecond rounding and the rest.
Shards that do not wait give gaps of a few tens of ms, far below.

With GQ_E2E_STAND_IN=grant-at-once the queue is replaced by a server that grants at once, to show
that the test then fails.
"""
import argparse
import asyncio
import atexit
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

import aiohttp

from fake_discord import FakeDiscord

INTERVAL_MS = 1000
TOLERANCE_MS = 25
# Longer in the abort run: shard 2 must be cancelled before its grant, after three steps that are
# slow on a loaded machine.
ABORT_INTERVAL_MS = 2000
# The held run: HELD_FILLERS requests queue before the re-identifying shard, so it waits about
# HELD_FILLERS + 0.7 intervals (6.7 s). discord.py cancels it after RECONNECT_TIMEOUT_S, pauses 0-2 s
# (its backoff) and connects again with another RECONNECT_TIMEOUT_S: 4 s puts the grant inside the
# second attempt whatever the pause, as a grant that came between attempts would not be used.
HELD_FILLERS = 6
RECONNECT_TIMEOUT_S = 4.0
MAX_CONCURRENCY = 2
SHARD_COUNT = 6
PROCESSES = [[0, 1, 2], [4, 5, 3]]  # the first shard of each process is in bucket 0
AUTH_TOKEN = 'e2e-queue-token'
HERE = os.path.dirname(os.path.abspath(__file__))

failures = []
children = []  # every process the test started, killed by PID at exit however the test ends


@atexit.register
def kill_children():
    for child in children:
        try:
            os.kill(child.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


# A test stopped from outside (ctest's timeout, Ctrl-C) still leaves no process behind.
signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))


def fail(message):
    failures.append(message)
    print(f'FAIL: {message}', flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


class Queue:
    """The real gateway-queue (or the grant-at-once stand-in) with a journal in a fresh directory,
    or in `db` (a PostgreSQL URI, which several queues may share); `env`: more variables."""

    def __init__(self, binary, auth_token=None, interval_ms=INTERVAL_MS, db=None,
                 max_concurrency=MAX_CONCURRENCY, env=None):
        extra = env or {}
        self.dir = tempfile.mkdtemp(prefix='gq-e2e-')
        port = free_port()
        self.url = f'http://127.0.0.1:{port}/'
        env = {k: v for k, v in os.environ.items()
               if k not in ('HOST', 'PORT') and not k.startswith(('QUEUE_', 'DISCORD_'))}
        env.update(HOST='127.0.0.1', PORT=str(port), QUEUE_DB=db or os.path.join(self.dir, 'queue.db'),
                   QUEUE_MAX_CONCURRENCY=str(max_concurrency), QUEUE_IDENTIFY_INTERVAL_MS=str(interval_ms),
                   QUEUE_LOG_LEVEL='warn')
        if auth_token:
            env['QUEUE_AUTH_TOKEN'] = auth_token
        env.update(extra)
        command = [binary]
        if os.environ.get('GQ_E2E_STAND_IN') == 'grant-at-once':
            print('!! GQ_E2E_STAND_IN=grant-at-once: the queue is replaced by a server that grants at once', flush=True)
            command = ['/usr/bin/python3', os.path.join(HERE, '..', 'grant_at_once.py')]
        self.process = subprocess.Popen(command, cwd=self.dir, env=env)
        children.append(self.process)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and self.process.poll() is None:
            try:
                with urllib.request.urlopen(self.url + 'health', timeout=1) as response:
                    if response.status == 200:
                        return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f'queue did not answer /health on {self.url}')

    def status(self, path):
        """The HTTP status of GET `path` (0: no answer)."""
        try:
            with urllib.request.urlopen(self.url + path, timeout=5) as response:
                return response.status
        except urllib.error.HTTPError as error:
            return error.code
        except OSError:
            return 0

    def get_json(self, path, token=None):
        """GET `path` as JSON (None: no answer or not JSON)."""
        request = urllib.request.Request(self.url + path)
        if token:
            request.add_header('Authorization', f'Bearer {token}')
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                return json.load(response)
        except (OSError, ValueError):
            return None

    def kill(self):
        """SIGKILL: a crash."""
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def stop(self):
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(3)
            except Exception:
                os.kill(self.process.pid, signal.SIGKILL)
                self.process.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


class Bot:
    """One bot process (bot_process.py); `events` collects what it reports."""

    def __init__(self, process):
        self.process = process
        self.events = []  # {'event', 'shard', 'wall'}
        asyncio.ensure_future(self._read())

    @classmethod
    async def start(cls, fake, shard_ids, queue_url, queue_token=None, shard_count=SHARD_COUNT, **options):
        config = {'api_base': fake.api_base, 'gateway_url': fake.gateway_url, 'queue_url': queue_url,
                  'queue_token': queue_token, 'shard_count': shard_count, 'shard_ids': shard_ids, **options}
        process = await asyncio.create_subprocess_exec(
            '/usr/bin/python3', os.path.join(HERE, 'bot_process.py'), json.dumps(config),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
        children.append(process)
        return cls(process)

    async def _read(self):
        async for line in self.process.stdout:
            self.events.append(json.loads(line))

    def saw(self, event, shard=None):
        return next((e for e in self.events if e['event'] == event and e['shard'] == shard), None)

    async def send(self, line):
        self.process.stdin.write(line.encode() + b'\n')
        await self.process.stdin.drain()

    async def stop(self):
        if self.process.returncode is None:
            os.kill(self.process.pid, signal.SIGKILL)
            await self.process.wait()


async def until(what, condition, timeout_s=30):
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError(f'timed out waiting for {what}')
        await asyncio.sleep(0.005)


async def start_bots(fake, queue_url, queue_token=None):
    """Starts one bot per PROCESSES entry, all released together once they are loaded."""
    bots = [await Bot.start(fake, shard_ids, queue_url, queue_token) for shard_ids in PROCESSES]
    await until('the bots to load', lambda: all(bot.saw('loaded') for bot in bots))
    for bot in bots:
        await bot.send('go')
    return bots


async def stop_bots(bots):
    for bot in bots:
        await bot.stop()


async def wait_for(fake, count, timeout_s):
    deadline = time.monotonic() + timeout_s
    while len(fake.identifies) < count and time.monotonic() < deadline:
        await asyncio.sleep(0.01)


def journal_rows(queue_url, token=None):
    """Every grant in the queue's journal, oldest first: [{'shard', 'released_at', ...}]; empty when
    there is none."""
    request = urllib.request.Request(queue_url + 'history?limit=1000')
    if token:
        request.add_header('Authorization', f'Bearer {token}')
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return sorted(json.load(response).get('releases', []), key=lambda r: r['released_at'])
    except (OSError, ValueError):
        return []


def journal_times(queue_url, token=None):
    """shard -> unix ms of its (last) grant from the queue's journal; empty when there is none."""
    return {r['shard']: r['released_at'] for r in journal_rows(queue_url, token)}


def smallest_gaps(identifies):
    gaps = {}
    for bucket in range(MAX_CONCURRENCY):
        times = sorted(i['mono'] for i in identifies if i['shard'] % MAX_CONCURRENCY == bucket)
        gaps[bucket] = min((b - a for a, b in zip(times, times[1:])), default=None)
    return gaps


def describe(gaps):
    return ', '.join(f'bucket {b}: ' + ('-' if g is None else f'{g:.1f} ms') for b, g in gaps.items())


async def queue_run(fake, binary):
    queue = Queue(binary, AUTH_TOKEN)  # the hook's Authorization header is exercised too
    bots = []
    journaled = {}
    try:
        bots = await start_bots(fake, queue.url, AUTH_TOKEN)
        await wait_for(fake, SHARD_COUNT, 3 * INTERVAL_MS / 1000 + 30)
        await asyncio.sleep(0.2)  # an extra IDENTIFY would show up here
        journaled = journal_times(queue.url, AUTH_TOKEN)
    finally:
        await stop_bots(bots)
        queue.stop()
    granted = {e['shard']: e['wall'] for bot in bots for e in bot.events if e['event'] == 'granted'}
    shards = [i['shard'] for i in fake.identifies]
    for shard in range(SHARD_COUNT):
        if shards.count(shard) != 1:
            fail(f'queue run: shard {shard} identified {shards.count(shard)} times, expected once')
    gaps = smallest_gaps(fake.identifies)

    since = journaled or granted

    def delay(identify):
        return max(0.0, identify['wall'] - since[identify['shard']]) if identify['shard'] in since else 0.0

    print(f'queue run: {len(fake.identifies)} IDENTIFYs; smallest same-bucket gap: {describe(gaps)}; '
          f'grant-to-IDENTIFY delay max {max(map(delay, fake.identifies), default=0):.1f} ms '
          f"(from the {'journal' if journaled else 'hook' + chr(39) + 's return'})", flush=True)
    for bucket in range(MAX_CONCURRENCY):
        ids = sorted((i for i in fake.identifies if i['shard'] % MAX_CONCURRENCY == bucket), key=lambda i: i['mono'])
        for earlier, later in zip(ids, ids[1:]):
            gap = later['mono'] - earlier['mono']
            if gap < INTERVAL_MS - TOLERANCE_MS - delay(earlier):
                fail(f"queue run: bucket {bucket}: shard {later['shard']} identified {gap:.1f} ms after shard "
                     f"{earlier['shard']} (< {INTERVAL_MS} - {TOLERANCE_MS} - {delay(earlier):.1f} ms, its measured delay)")


async def control_run(fake):
    bots = []
    try:
        bots = await start_bots(fake, None)
        await wait_for(fake, len(PROCESSES), 30)  # the first shard of each process, at once
    finally:
        await stop_bots(bots)
    gaps = smallest_gaps(fake.identifies)
    print(f"control run (discord.py's own pacing): {len(fake.identifies)} IDENTIFYs; smallest same-bucket gap: {describe(gaps)}", flush=True)
    if not any(gap is not None and gap < INTERVAL_MS for gap in gaps.values()):
        fail('control run: no two IDENTIFYs of one bucket closer than the interval; the test proves nothing')


async def abort_run(fake, binary):
    """Bucket 0: shard 0 takes the slot, shard 2 (second process) then shard 4 (third) wait behind
    it, and shard 2's task is cancelled while its process lives on: shard 4 must identify one
    interval after shard 0, not two, and shard 2 never."""
    queue = Queue(binary, interval_ms=ABORT_INTERVAL_MS)
    bots = []
    journaled = {}
    try:
        bots = [await Bot.start(fake, [shard], queue.url) for shard in (0, 2, 4)]
        await until('the bots to load', lambda: all(bot.saw('loaded') for bot in bots))
        identified = lambda shard: any(i['shard'] == shard for i in fake.identifies)  # noqa: E731
        await bots[0].send('go')
        await until('shard 0 to identify', lambda: identified(0))
        await bots[1].send('go')
        await until('shard 2 to ask', lambda: bots[1].saw('asking', 2))
        await asyncio.sleep(0.15)  # shard 2's request reaches the queue before shard 4's
        await bots[2].send('go')
        await until('shard 4 to ask', lambda: bots[2].saw('asking', 4))
        await asyncio.sleep(0.15)
        await bots[1].send('cancel')
        deadline = time.monotonic() + 3 * ABORT_INTERVAL_MS / 1000
        while not identified(4) and time.monotonic() < deadline:
            await asyncio.sleep(0.005)
        await asyncio.sleep(0.3)  # shard 2 must not identify after all
        journaled = journal_times(queue.url)
        if bots[1].process.returncode is not None:
            fail('abort run: the process of shard 2 exited; the test needs it alive')
    finally:
        await stop_bots(bots)
        queue.stop()
    at = {i['shard']: i['mono'] for i in fake.identifies}
    if 2 in at:
        fail('abort run: shard 2 identified although its wait was cancelled')
    if 4 not in at:
        fail('abort run: shard 4 never identified')
        return
    gap = at[4] - at[0]
    granted0 = journaled.get(0) or (bots[0].saw('granted', 0) or {}).get('wall')
    delay0 = max(0.0, next(i['wall'] for i in fake.identifies if i['shard'] == 0) - granted0) if granted0 else 0.0
    print(f'abort run: shard 0 -> shard 4 (shard 2 cancelled while waiting): {gap:.1f} ms', flush=True)
    if gap < ABORT_INTERVAL_MS - TOLERANCE_MS - delay0:
        fail(f'abort run: shard 4 identified {gap:.1f} ms after shard 0, less than one interval')
    if gap >= 1.5 * ABORT_INTERVAL_MS:
        fail(f'abort run: shard 4 identified {gap:.1f} ms after shard 0: the cancelled shard kept its place')


async def held_run(fake, binary):
    """One bucket: shard 0 identifies; HELD_FILLERS requests of this test (other shards) queue up;
    shard 0 is told to identify again (op 9) and queues behind them; one more request ('late')
    queues behind shard 0. discord.py must cancel shard 0's wait at least once, and shard 0 must
    still be granted before 'late', and identify exactly once more."""
    queue = Queue(binary, max_concurrency=1)
    bot = None
    rows = []
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None),
                                     connector=aiohttp.TCPConnector(force_close=True)) as session:
        async def ask(shard):
            async with session.get(queue.url, params={'shard': str(shard)}) as response:
                return response.status

        requests = []
        try:
            bot = await Bot.start(fake, [0], queue.url, reconnect_timeout=RECONNECT_TIMEOUT_S)
            await until('the bot to load', lambda: bot.saw('loaded'))
            await bot.send('go')
            await until('shard 0 to identify', lambda: len(fake.identifies) == 1)
            for shard in range(10, 10 + HELD_FILLERS):
                requests.append(asyncio.ensure_future(ask(shard)))
                await asyncio.sleep(0.02)  # in this order
            await fake.invalidate(0)
            await until('shard 0 to ask again', lambda: sum(e['event'] == 'asking' for e in bot.events) == 2)
            await asyncio.sleep(0.2)
            requests.append(asyncio.ensure_future(ask(20)))  # 'late'
            await until('shard 0 to identify again', lambda: len(fake.identifies) == 2,
                        (HELD_FILLERS + 2) * INTERVAL_MS / 1000 + 10)
            await asyncio.wait_for(asyncio.gather(*requests), 2 * INTERVAL_MS / 1000 + 5)
            await asyncio.sleep(0.3)  # an extra IDENTIFY would show up here
            rows = journal_rows(queue.url)
        finally:
            for request in requests:
                request.cancel()
            if bot is not None:
                await bot.stop()
            queue.stop()
    order = [r['shard'] for r in rows]
    cancelled = sum(1 for e in bot.events if e['event'] == 'wait_cancelled')
    print(f"held run: journal order {order}; shard 0's re-identify wait cancelled by discord.py {cancelled} "
          'time(s)', flush=True)
    if cancelled == 0:
        fail('held run: discord.py never cancelled the wait; the run proves nothing')
    if len(fake.identifies) != 2:
        fail(f'held run: shard 0 identified {len(fake.identifies)} times, expected 2')
    if order.count(0) != 2:
        fail(f'held run: shard 0 was granted {order.count(0)} times, expected 2 (a grant left unused?)')
    elif 20 not in order or order.index(20) < len(order) - 1 - order[::-1].index(0):
        fail("held run: shard 0's re-identify was granted after a shard that asked after it: it lost its place")


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--binary', required=True)
    binary = os.path.abspath(parser.parse_args().binary)
    fake = FakeDiscord()
    await fake.start()
    try:
        runs = (('queue', lambda: queue_run(fake, binary)), ('control', lambda: control_run(fake)),
                ('abort', lambda: abort_run(fake, binary)), ('held', lambda: held_run(fake, binary)))
        for name, run in runs:
            fake.identifies = []
            try:
                await run()
            except Exception as error:  # a broken run is a failure, not a crash that skips the others
                fail(f'{name} run: {error!r}')
    finally:
        await fake.stop()
    print('discord.py end-to-end: ' + ('all checks passed' if not failures else f'{len(failures)} check(s) failed'), flush=True)
    return 0 if not failures else 1


if __name__ == '__main__':
    sys.exit(asyncio.run(main()))
