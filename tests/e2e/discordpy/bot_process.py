"""One bot process: the real discord.py AutoShardedClient against the fake Discord of run.py.

argv[1]: JSON {api_base, gateway_url, queue_url (null: the library's own pacing; a URL or a list),
queue_token, shard_count, shard_ids, reconnect_timeout (optional, seconds), delays (optional: ms
the hook waits after each grant before it returns, taken in turn, as a busy event loop would
delay the IDENTIFY), exit_on_ready (optional: the process exits with status 3 0.3 s after its
first READY, a crash)}. Reports one JSON line per event on stdout: {"event": "loaded"|"asking"|
"granted"|"wait_cancelled"|"ready", "shard", "wall"}, and {"event": "log", "shard": null,
"message"} for each record of queue_client's log; starts when a line arrives on stdin; a later
line "cancel" cancels the client's task.
'queue' mode uses clients/discordpy/queue_client.py itself, subclassed only to report (and delay).
GQ_E2E_NO_OUTCOMES=1 stubs out its outcome reports, to show that a test of them then fails.
"""
import asyncio
import itertools
import json
import logging
import os
import sys
import time
import types

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', '..', 'clients', 'discordpy'))

import discord  # noqa: E402
import yarl  # noqa: E402
from queue_client import QueueShardedClient  # noqa: E402

config = json.loads(sys.argv[1])
discord.http.Route.BASE = config['api_base']
discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(config['gateway_url'])
if config.get('reconnect_timeout'):
    # discord.py gives a re-identifying shard 60 s (Shard.reidentify and Shard.reconnect call
    # asyncio.wait_for(..., timeout=60.0)), too long for a test: in this process discord.shard
    # sees an asyncio whose wait_for makes those 60 s `reconnect_timeout`. Nothing else changes.
    def _wait_for(future, timeout):
        return asyncio.wait_for(future, config['reconnect_timeout'] if timeout == 60.0 else timeout)

    discord.shard.asyncio = types.SimpleNamespace(**{**vars(asyncio), 'wait_for': _wait_for})


def report(event, shard, **fields):
    print(json.dumps({'event': event, 'shard': shard, 'wall': time.time() * 1000, **fields}), flush=True)


class LogEvents(logging.Handler):
    def emit(self, record):
        report('log', None, level=record.levelname, message=record.getMessage())


_stderr = logging.StreamHandler(sys.stderr)
_stderr.setLevel(logging.WARNING)
logging.getLogger('queue_client').addHandler(_stderr)
logging.getLogger('queue_client').addHandler(LogEvents())
logging.getLogger('queue_client').setLevel(logging.INFO)
delays = itertools.cycle(config['delays']) if config.get('delays') else None


class ReportingClient(QueueShardedClient):
    async def before_identify_hook(self, shard_id, *, initial=False):
        report('asking', shard_id, initial=initial)
        try:
            await super().before_identify_hook(shard_id, initial=initial)
        except asyncio.CancelledError:
            report('wait_cancelled', shard_id)
            raise
        report('granted', shard_id)
        if delays is not None:
            await asyncio.sleep(next(delays) / 1000)

    async def on_shard_connect(self, shard_id):  # the READY dispatch
        report('ready', shard_id)
        if config.get('exit_on_ready'):
            # A crash soon after READY (its report has 0.3 s to leave).
            asyncio.get_running_loop().call_later(0.3, os._exit, 3)


async def serve(client):
    """Runs the client until stdin closes; a 'cancel' line cancels its task (the shard is destroyed
    while the process lives on, so only the hook's own cancellation can free the queue slot)."""
    task = asyncio.ensure_future(client.start('e2e-token'))
    reader = asyncio.StreamReader()
    await asyncio.get_running_loop().connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while line := await reader.readline():
        if line.strip() == b'cancel':
            task.cancel()
            report('cancelled', None)


def main():
    options = dict(intents=discord.Intents.none(), shard_count=config['shard_count'], shard_ids=config['shard_ids'])
    if config['queue_url']:
        client = ReportingClient(queue_url=config['queue_url'], queue_token=config.get('queue_token'), **options)
        if os.environ.get('GQ_E2E_NO_OUTCOMES') == '1':
            print('!! GQ_E2E_NO_OUTCOMES=1: the client reports no outcomes', file=sys.stderr, flush=True)
            client.queue_requests.report = lambda *args, **kwargs: None
    else:
        client = discord.AutoShardedClient(**options)
    # Start on the test's word, so that processes importing at different speeds start together.
    report('loaded', None)
    sys.stdin.readline()
    asyncio.run(serve(client))


if __name__ == '__main__':
    main()
