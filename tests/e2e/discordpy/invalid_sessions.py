"""Invalid Sessions end to end: real discord.py shards, the real queue, a gateway that enforces the
identify interval itself, and clients slow between their grant and their IDENTIFY.

    /usr/bin/python3 invalid_sessions.py --binary PATH/TO/gateway-queue

The fake gateway (fake_discord.py, `identify_interval_ms`) answers an IDENTIFY that arrives sooner
than INTERVAL_MS after the previous IDENTIFY of its bucket (shard % MAX_CONCURRENCY) with an Invalid
Session (op 9, d: false), as Discord does. The queue grants each bucket INTERVAL_MS apart, the same
interval; each bot's hook then waits a scripted DELAYS_MS (0..400 ms, in turn: a busy event loop)
before it returns, so an IDENTIFY whose delay is shorter than the previous one's of its bucket
arrives too soon. One process per bucket, so the order of each bucket's IDENTIFYs, and so the
Invalid Sessions, follow from the script.

1. widening off (QUEUE_WIDEN_MAX_MS=0): the Invalid Sessions keep coming (in every bucket, and
   still two intervals after the first); the buckets stay at INTERVAL_MS.
2. widening on (QUEUE_WIDEN_STEP_MS=WIDEN_STEP_MS, above the longest delay): the client reports
   each op 9 (POST /outcome), the queue widens the bucket (/status buckets[].interval_ms), and
   no Invalid Session comes once the widening could have applied (one widened interval and the
   longest delay after /status showed it); every shard reaches READY, once.
Both: the journal holds the outcome of every grant as the gateway answered it (`ready` or
`invalid_session`): the real client reports what its websocket saw. Prints the op 9 counts.

GQ_E2E_NO_OUTCOMES=1 makes the bots report nothing: the bucket never widens and the test fails.
"""
import argparse
import asyncio
import os
import sys
import time

import aiohttp

from run import Bot, Queue, fail, failures, journal_rows, until
from fake_discord import FakeDiscord

INTERVAL_MS = 1000
WIDEN_STEP_MS = 500
WIDEN_MAX_MS = 1000
MAX_CONCURRENCY = 2
SHARD_COUNT = 12
PROCESSES = [[0, 2, 4, 6, 8, 10], [1, 3, 5, 7, 9, 11]]  # one bucket each
DELAYS_MS = [400, 0, 300, 100, 400, 50]  # after each grant, in turn, in each process
RUN_DEADLINE_S = 25


async def run_phase(binary, widen_max_ms):
    """One queue and gateway, two bots; until every shard is READY (or the deadline). Returns
    what was seen."""
    fake = FakeDiscord(identify_interval_ms=INTERVAL_MS, max_concurrency=MAX_CONCURRENCY)
    await fake.start()
    queue = bots = None
    intervals = {}  # bucket -> [(wall ms, interval_ms)] as /status showed them
    rows = []
    started = time.monotonic()
    try:
        queue = Queue(binary, interval_ms=INTERVAL_MS, max_concurrency=MAX_CONCURRENCY,
                      env={'QUEUE_WIDEN_STEP_MS': str(WIDEN_STEP_MS), 'QUEUE_WIDEN_MAX_MS': str(widen_max_ms)})
        bots = [await Bot.start(fake, shard_ids, queue.url, shard_count=SHARD_COUNT, delays=DELAYS_MS)
                for shard_ids in PROCESSES]
        await until('the bots to load', lambda: all(bot.saw('loaded') for bot in bots))
        started, started_wall = time.monotonic(), time.time() * 1000
        for bot in bots:
            await bot.send('go')
        deadline = started + RUN_DEADLINE_S
        async with aiohttp.ClientSession() as http:
            while time.monotonic() < deadline:
                try:
                    async with http.get(queue.url + 'status') as response:
                        status = await response.json()
                    for bucket in status.get('buckets', []):
                        intervals.setdefault(bucket['bucket'], []).append((time.time() * 1000, bucket.get('interval_ms')))
                except (aiohttp.ClientError, ValueError, KeyError):
                    pass
                if {r['shard'] for r in fake.readies} == set(range(SHARD_COUNT)):
                    break
                await asyncio.sleep(0.1)
        elapsed = time.monotonic() - started
        await asyncio.sleep(0.5)  # the last reports; an extra IDENTIFY would show up here
        rows = journal_rows(queue.url)
    finally:
        for bot in bots or []:
            await bot.stop()
        if queue is not None:
            queue.stop()
        await fake.stop()
    return {'fake': fake, 'intervals': intervals, 'rows': rows, 'elapsed': elapsed, 'started_wall': started_wall}


def per_bucket(items):
    return {b: sum(1 for i in items if i['shard'] % MAX_CONCURRENCY == b) for b in range(MAX_CONCURRENCY)}


def describe(name, phase):
    fake = phase['fake']
    widest = {b: max((v for _, v in seen if v is not None), default=None) for b, seen in sorted(phase['intervals'].items())}
    counts = per_bucket(fake.invalid_sessions)
    at = [(i['wall'] - phase['started_wall']) / 1000 for i in fake.invalid_sessions]
    span = f', {min(at):.1f}-{max(at):.1f} s after the start' if at else ''
    return (f'{name}: {len(fake.invalid_sessions)} op 9 (Invalid Session) at the gateway '
            f"({', '.join(f'bucket {b}: {n}' for b, n in counts.items())}{span}), {len(fake.identifies)} IDENTIFYs, "
            f"{len({r['shard'] for r in fake.readies})}/{SHARD_COUNT} shards READY in {phase['elapsed']:.1f} s; "
            f"widest /status interval_ms: {', '.join(f'bucket {b}: {v}' for b, v in widest.items())}")


def check_journal(name, phase):
    """The journal's outcomes agree with what the gateway answered."""
    rows, fake = phase['rows'], phase['fake']
    outcomes = [r.get('outcome') for r in rows]
    expected = {'ready': len(fake.readies), 'invalid_session': len(fake.invalid_sessions)}
    got = {result: outcomes.count(result) for result in expected}
    if got != expected:
        fail(f'{name}: journaled outcomes {got} (of {len(rows)} grants, {outcomes.count(None)} without one), '
             f'the gateway answered {expected}')


def check_off(phase):
    fake = phase['fake']
    for bucket in range(MAX_CONCURRENCY):
        times = [i['wall'] for i in fake.invalid_sessions if i['shard'] % MAX_CONCURRENCY == bucket]
        if len(times) < 2 or times[-1] - times[0] < 2 * INTERVAL_MS:
            fail(f'widening off: bucket {bucket}: {len(times)} Invalid Session(s), not still coming two intervals '
                 'after the first; the script does not provoke them and the test proves nothing')
        seen = [v for _, v in phase['intervals'].get(bucket, [])]
        if not seen or any(v != INTERVAL_MS for v in seen):
            fail(f'widening off: bucket {bucket}: /status interval_ms {sorted(set(seen))}, expected {INTERVAL_MS} throughout')
    check_journal('widening off', phase)


def check_on(phase, off):
    fake = phase['fake']
    for bucket in range(MAX_CONCURRENCY):
        seen = phase['intervals'].get(bucket, [])
        widened = [at for at, v in seen if v is not None and v >= INTERVAL_MS + WIDEN_STEP_MS]
        if not widened:
            fail(f'widening on: bucket {bucket}: /status interval_ms never reached {INTERVAL_MS + WIDEN_STEP_MS} '
                 f'(seen {sorted({v for _, v in seen})})')
            continue
        # A grant due before the widening may still go out one interval after it was seen (and its
        # IDENTIFY up to the longest delay later); none after that may meet an Invalid Session.
        settled = widened[0] + INTERVAL_MS + WIDEN_STEP_MS + max(DELAYS_MS) + 200
        late = [i for i in fake.invalid_sessions if i['shard'] % MAX_CONCURRENCY == bucket and i['wall'] > settled]
        if late:
            fail(f'widening on: bucket {bucket}: {len(late)} Invalid Session(s) after the bucket widened '
                 f"(shard {late[0]['shard']}, {late[0]['wall'] - widened[0]:.0f} ms after /status showed it)")
    ready = [r['shard'] for r in fake.readies]
    missing = sorted(set(range(SHARD_COUNT)) - set(ready))
    if missing:
        fail(f'widening on: shards {missing} never reached READY')
    twice = sorted({s for s in ready if ready.count(s) > 1})
    if twice:
        fail(f'widening on: shards {twice} reached READY more than once')
    if len(fake.invalid_sessions) >= len(off['fake'].invalid_sessions):
        fail(f"widening on: {len(fake.invalid_sessions)} Invalid Sessions, not fewer than without widening "
             f"({len(off['fake'].invalid_sessions)})")
    check_journal('widening on', phase)


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--binary', required=True)
    binary = os.path.abspath(parser.parse_args().binary)
    if os.environ.get('GQ_E2E_NO_OUTCOMES') == '1':
        print('!! GQ_E2E_NO_OUTCOMES=1: the bots report no outcomes', flush=True)
    phases = {}
    for name, widen_max_ms in (('widening off', 0), ('widening on', WIDEN_MAX_MS)):
        began = time.monotonic()
        try:
            phases[name] = await run_phase(binary, widen_max_ms)
        except Exception as error:  # a broken run is a failure, not a crash that skips the others
            fail(f'{name}: {error!r}')
            continue
        print(describe(name, phases[name]) + f' ({time.monotonic() - began:.1f} s with start and stop)', flush=True)
    if 'widening off' in phases:
        check_off(phases['widening off'])
        if 'widening on' in phases:
            check_on(phases['widening on'], phases['widening off'])
    print('discord.py Invalid Sessions: ' + ('all checks passed' if not failures else f'{len(failures)} check(s) failed'),
          flush=True)
    return 0 if not failures else 1


if __name__ == '__main__':
    sys.exit(asyncio.run(main()))
