"""End-to-end failover through clients/discordpy/queue_client.py with Debian's discord.py.

    GQ_POSTGRES_CLUSTER_FILE=FILE /usr/bin/python3 failover.py --binary PATH/TO/gateway-queue

FILE holds "DIR PORT" of a running PostgreSQL cluster (user postgres trusted on 127.0.0.1).

Two gateway-queue processes share one PostgreSQL journal: A active, B a hot standby. Six shards in
two processes, all in one bucket, are given the list [A, B]. After two IDENTIFYs, A is killed with
SIGKILL while the next shard of each process waits at it, and the first shard is told to identify
again (op 9, a re-identify through discord.py's Shard.reidentify). Checks, as in the discord.js
test: every shard identifies (the first one twice); no IDENTIFY without a 2xx (the hook returned
as often as the shard identified, and the journal holds a grant for each); the grants after the
kill are B's (A is dead; the journal's rows after the kill count them); two IDENTIFYs of the bucket
are never closer than the interval less the earlier one's measured delay after its grant. Prints
the time from the kill to the first grant after it, and to the first grant of a shard that was
waiting at A when it died.

GQ_E2E_FIRST_QUEUE_ONLY=1 gives the shards only A's URL, as a client without a list would have:
the test must then fail.
"""
import argparse
import asyncio
import os
import shutil
import subprocess
import sys
import time

from run import Bot, Queue, fail, failures, until, journal_rows
from fake_discord import FakeDiscord

INTERVAL_MS = 1000
TOLERANCE_MS = 25
PROCESSES = [[0, 1, 2], [3, 4, 5]]
SHARD_COUNT = 6
KILL_AFTER = 2  # IDENTIFYs before the active queue is killed
# Kill to first grant: B takes over within ~0.2 s, the shards ask again after the standby's
# Retry-After (1 s), and B's first grant is due one interval and 100 ms after A's last.
FIRST_GRANT_BOUND_MS = 4000


def create_database(cluster_file):
    """A fresh database in the cluster of `cluster_file`; returns its URI."""
    with open(cluster_file) as file:
        port = file.read().split()[1]
    name = f'gq_e2e_py_{os.getpid()}_{int(time.time() * 1000)}'
    psql = shutil.which('psql') or '/usr/lib/postgresql/15/bin/psql'
    subprocess.run([psql, '-q', '-h', '127.0.0.1', '-p', port, '-U', 'postgres', '-c', f'CREATE DATABASE {name}'],
                   check=True)
    return f'postgresql://postgres@127.0.0.1:{port}/{name}'


async def failover(binary, db):
    fake = FakeDiscord()
    await fake.start()
    queues, bots, rows, killed_at = [], [], [], None
    try:
        a = Queue(binary, interval_ms=INTERVAL_MS, db=db, max_concurrency=1)
        queues.append(a)
        await until('queue A to be active', lambda: a.status('ready') == 200, 10)
        b = Queue(binary, interval_ms=INTERVAL_MS, db=db, max_concurrency=1)
        queues.append(b)
        if b.status('ready') != 503:
            fail('queue B is not a standby')
        only_first = os.environ.get('GQ_E2E_FIRST_QUEUE_ONLY') == '1'
        if only_first:
            print("!! GQ_E2E_FIRST_QUEUE_ONLY=1: the shards get only the first queue's URL", flush=True)
        urls = a.url if only_first else [a.url, b.url]
        bots = [await Bot.start(fake, shard_ids, urls, shard_count=SHARD_COUNT) for shard_ids in PROCESSES]
        await until('the bots to load', lambda: all(bot.saw('loaded') for bot in bots))
        for bot in bots:
            await bot.send('go')
        await until(f'{KILL_AFTER} IDENTIFYs', lambda: len(fake.identifies) >= KILL_AFTER, 30)
        killed_at = time.time() * 1000
        a.kill()
        await fake.invalidate(fake.identifies[0]['shard'])
        try:
            await until('every shard to identify', lambda: len(fake.identifies) >= SHARD_COUNT + 1,
                        (FIRST_GRANT_BOUND_MS + (SHARD_COUNT + 1 - KILL_AFTER) * INTERVAL_MS) / 1000 + 10)
        except RuntimeError as error:
            fail(str(error))
        # An extra IDENTIFY, paced an interval on, would show up here.
        await asyncio.sleep(INTERVAL_MS / 1000 + 0.2)
        if b.status('ready') != 200:
            fail('queue B did not take over')
        rows = journal_rows(b.url)
    finally:
        for bot in bots:
            await bot.stop()
        for queue in queues:
            queue.stop()
        await fake.stop()

    identifies = sorted(fake.identifies, key=lambda i: i['mono'])
    grants = [e for bot in bots for e in bot.events if e['event'] == 'granted']

    def count(items, shard):
        return sum(1 for item in items if item['shard'] == shard)

    for shard in range(SHARD_COUNT):
        expected = 2 if identifies and shard == identifies[0]['shard'] else 1
        if count(identifies, shard) != expected:
            fail(f'shard {shard} identified {count(identifies, shard)} times, expected {expected}')
        if count(identifies, shard) > count(grants, shard):
            fail(f'shard {shard} identified {count(identifies, shard)} times after {count(grants, shard)} grants')
        if count(identifies, shard) > count(rows, shard):
            fail(f'shard {shard} identified {count(identifies, shard)} times; the journal has {count(rows, shard)} grants')
    after = sorted(g['wall'] for g in grants if g['wall'] > killed_at)
    journaled_after = sum(1 for r in rows if r['released_at'] > killed_at)
    if journaled_after < len(after):
        fail(f'{len(after)} grants after the kill, but B journaled {journaled_after}')

    def delay(identify):
        """From the shard's latest journaled grant before this IDENTIFY."""
        grant = [r['released_at'] for r in rows if r['shard'] == identify['shard'] and r['released_at'] <= identify['wall']]
        return identify['wall'] - grant[-1] if grant else 0.0

    smallest = min((later['mono'] - earlier['mono'] for earlier, later in zip(identifies, identifies[1:])), default=None)
    for earlier, later in zip(identifies, identifies[1:]):
        gap = later['mono'] - earlier['mono']
        if gap < INTERVAL_MS - TOLERANCE_MS - delay(earlier):
            fail(f"shard {later['shard']} identified {gap:.1f} ms after shard {earlier['shard']} "
                 f'(< {INTERVAL_MS} - {TOLERANCE_MS} - {delay(earlier):.1f} ms, its measured delay)')
    # Shards that were waiting at A when it died: asked before the kill, not granted since.
    events = [e for bot in bots for e in bot.events if e['wall'] <= killed_at]

    def last(event, shard):
        return max((e['wall'] for e in events if e['event'] == event and e['shard'] == shard), default=float('-inf'))

    held = {e['shard'] for e in events if e['event'] == 'asking' and last('asking', e['shard']) > last('granted', e['shard'])}
    held_after = sorted(g['wall'] for g in grants if g['wall'] > killed_at and g['shard'] in held)

    def ms(walls):
        return f'{walls[0] - killed_at:.0f} ms' if walls else 'none'

    first_grant_ms = after[0] - killed_at if after else None
    print(f'failover (discord.py): {len(identifies)} IDENTIFYs, {len(after)} granted after the kill -9 of the active; '
          f'kill -> first grant through the client: {ms(after)}, '
          f'to the first of the {len(held)} shards waiting at the active: {ms(held_after)}; '
          f"smallest gap between IDENTIFYs: {'-' if smallest is None else f'{smallest:.1f} ms'} "
          f'(interval {INTERVAL_MS} ms)', flush=True)
    if first_grant_ms is None or first_grant_ms > FIRST_GRANT_BOUND_MS:
        fail(f'no grant within {FIRST_GRANT_BOUND_MS} ms of the kill')


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--binary', required=True)
    binary = os.path.abspath(parser.parse_args().binary)
    cluster_file = os.environ.get('GQ_POSTGRES_CLUSTER_FILE')
    if not cluster_file:
        print('GQ_POSTGRES_CLUSTER_FILE is not set: it names the file with "DIR PORT" of a PostgreSQL cluster')
        return 2
    try:
        await failover(binary, create_database(cluster_file))
    except Exception as error:  # a broken run is a failure, reported as one
        fail(f'failover run: {error!r}')
    print('discord.py failover: ' + ('all checks passed' if not failures else f'{len(failures)} check(s) failed'), flush=True)
    return 0 if not failures else 1


if __name__ == '__main__':
    sys.exit(asyncio.run(main()))
