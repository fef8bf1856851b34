"""The queue's loop guard end to end, with a crash-looping shard in a real discord.py process.

    /usr/bin/python3 loop_guard.py --binary PATH/TO/gateway-queue

The queue runs with QUEUE_SHARD_HOURLY_LIMIT=LIMIT and one bucket. Shard 0 runs alone in a bot
process that exits (status 3, a crash) 0.3 s after its READY; the test starts it again each time,
LIMIT + 1 times. Each of the first LIMIT boots is granted, identifies and reaches READY (and its
`ready` report reaches the journal). The next boot's request is refused with 429: the process
logs the body's error text ("shard 0 is looping") and does not identify, nor ask again (it waits
Retry-After, about an hour). Meanwhile shards 1-3 of the same bucket, in another process that
starts with that boot, are granted and reach READY, each once. /status lists shard 0 under
`looping`.

GQ_E2E_SHARD_HOURLY_LIMIT=0 runs the queue without the guard: the test must then fail.
"""
import argparse
import asyncio
import os
import sys
import time

from run import Bot, Queue, fail, failures, journal_rows, until
from fake_discord import FakeDiscord

INTERVAL_MS = 300
LIMIT = 3
SHARD_COUNT = 4
OTHERS = [1, 2, 3]
WATCH_S = 2.0  # after the refusal: no IDENTIFY of shard 0, no second request


async def boot(fake, queue, shard_ids, **options):
    bot = await Bot.start(fake, shard_ids, queue.url, shard_count=SHARD_COUNT, **options)
    await until('the bot to load', lambda: bot.saw('loaded'))
    await bot.send('go')
    return bot


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--binary', required=True)
    binary = os.path.abspath(parser.parse_args().binary)
    limit = os.environ.get('GQ_E2E_SHARD_HOURLY_LIMIT', str(LIMIT))
    if limit != str(LIMIT):
        print(f'!! GQ_E2E_SHARD_HOURLY_LIMIT={limit}: the queue runs with that limit, the test expects {LIMIT}', flush=True)
    fake = FakeDiscord()
    await fake.start()
    queue, bots, rows, status, refusal, looping = None, [], [], None, None, None
    started = time.monotonic()
    try:
        queue = Queue(binary, interval_ms=INTERVAL_MS, max_concurrency=1, env={'QUEUE_SHARD_HOURLY_LIMIT': limit})
        for attempt in range(1, LIMIT + 1):
            bot = await boot(fake, queue, [0], exit_on_ready=True)
            bots.append(bot)
            try:
                await asyncio.wait_for(bot.process.wait(), 15)
            except asyncio.TimeoutError:
                fail(f'boot {attempt} of shard 0 did not reach READY and crash within 15 s')
                break
            if not bot.saw('ready', 0):
                fail(f'boot {attempt} of shard 0 exited (status {bot.process.returncode}) before READY')
        # The next boot, and the other shards of the bucket starting with it.
        looping = await boot(fake, queue, [0], exit_on_ready=True)
        others = await boot(fake, queue, OTHERS)
        bots += [looping, others]

        def refused():
            return next((e for e in looping.events if e['event'] == 'log' and ' 429 ' in e['message']), None)

        try:
            await until('the refusal of shard 0', refused, 10)
        except RuntimeError as error:
            fail(str(error))
        refusal = refused()
        await until('shards 1-3 to reach READY', lambda: all(others.saw('ready', s) for s in OTHERS),
                    len(OTHERS) * INTERVAL_MS / 1000 + 10)
        await asyncio.sleep(WATCH_S)
        status = queue.get_json('status')
        rows = journal_rows(queue.url)
    except RuntimeError as error:
        fail(str(error))
    finally:
        for bot in bots:
            await bot.stop()
        if queue is not None:
            queue.stop()
        await fake.stop()
    elapsed = time.monotonic() - started

    identified = [i['shard'] for i in fake.identifies]
    grants = [r['shard'] for r in rows]
    print(f'loop guard: shard 0 identified {identified.count(0)} times, granted {grants.count(0)} times (limit {LIMIT}); '
          f"refusal: {refusal['message'] if refusal else 'none'}; shards 1-3 identified "
          f'{sum(identified.count(s) for s in OTHERS)} times; {elapsed:.1f} s', flush=True)
    if identified.count(0) != LIMIT or grants.count(0) != LIMIT:
        fail(f'shard 0 identified {identified.count(0)} times and was granted {grants.count(0)} times; '
             f'expected {LIMIT} (the limit) each')
    if refusal is None or 'shard 0 is looping' not in refusal['message']:
        fail("the refused boot did not log the queue's error text ('shard 0 is looping')")
    if looping is not None:
        if sum(1 for e in looping.events if e['event'] == 'log' and ' 429 ' in e['message']) > 1:
            fail('shard 0 asked again after the 429 within Retry-After')
        if looping.saw('granted', 0):
            fail('shard 0 was granted past the limit')
    for shard in OTHERS:
        if identified.count(shard) != 1:
            fail(f'shard {shard} identified {identified.count(shard)} times, expected once')
    ready_reports = [r for r in rows if r['shard'] == 0 and r.get('outcome') == 'ready']
    if len(ready_reports) != LIMIT:
        fail(f"the journal has {len(ready_reports)} 'ready' outcomes of shard 0's {grants.count(0)} grants, "
             f'expected {LIMIT}: every boot reached READY before it crashed')
    if not status or 0 not in [entry.get('shard') for entry in status.get('looping', [])]:
        fail(f"/status does not list shard 0 under looping: {status and status.get('looping')}")
    print('discord.py loop guard: ' + ('all checks passed' if not failures else f'{len(failures)} check(s) failed'),
          flush=True)
    return 0 if not failures else 1


if __name__ == '__main__':
    sys.exit(asyncio.run(main()))
