"""discord.py shards that wait on gateway-queue before each IDENTIFY.

    from queue_client import QueueShardedClient
    client = QueueShardedClient(intents=..., queue_url='http://127.0.0.1:5000',
                                queue_token=os.environ.get('QUEUE_AUTH_TOKEN'))
    client.run(token)

The forks keep the same hook: for nextcord, disnake or pycord change the import (`import nextcord
as discord`, `import disnake as discord`; pycord installs as `discord`).

Rules: identify only after a 2xx; a 503 is retried after its Retry-After; a 429 means the daily
session budget is used up: it is logged and the shard waits Retry-After (the reset) before asking
again, it never identifies and never loops. A shard that is cancelled while it waits (client
closed, or discord.py's 180 s connect timeout) cancels its request: the queue drops it and the
next shard of its bucket takes the slot.
"""
import asyncio
import logging

import aiohttp
import discord

_log = logging.getLogger(__name__)

# Wait after an error that has no Retry-After (queue unreachable, 400, 401, 5xx).
RETRY_ERROR_S = 5.0


def _retry_after(value, fallback):
    """Seconds from a Retry-After header; `fallback` when it is absent or not a number."""
    try:
        return max(0.0, float(int(value)))
    except (TypeError, ValueError):
        return fallback


async def wait_for_identify(session, queue_url, shard_id, token=None):
    """Returns once gateway-queue allows `shard_id` to identify.

    Raises only asyncio.CancelledError (when the waiting task is cancelled), which aborts the
    request and closes its connection.
    """
    headers = {'Authorization': f'Bearer {token}'} if token else {}
    params = {'shard': str(shard_id)}
    while True:
        try:
            async with session.get(queue_url, params=params, headers=headers) as response:
                body = await response.text()
                status, retry_after = response.status, response.headers.get('Retry-After')
        except aiohttp.ClientError as error:
            _log.warning('gateway-queue: shard %s: %s; asking again in %.0f s', shard_id, error, RETRY_ERROR_S)
            await asyncio.sleep(RETRY_ERROR_S)
            continue
        if 200 <= status < 300:
            return
        if status == 503:
            await asyncio.sleep(_retry_after(retry_after, 1.0))
            continue
        wait = _retry_after(retry_after, RETRY_ERROR_S)
        what = 'daily session budget exhausted' if status == 429 else body.strip()
        _log.error('gateway-queue: shard %s: %s %s; not identifying, asking again in %.0f s', shard_id, status, what, wait)
        await asyncio.sleep(wait)


class QueueShardedClient(discord.AutoShardedClient):
    """An AutoShardedClient whose every IDENTIFY (first ones and re-identifies) waits on the queue."""

    def __init__(self, *args, queue_url, queue_token=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.queue_url = queue_url
        self.queue_token = queue_token
        self._queue_session = None

    async def before_identify_hook(self, shard_id, *, initial=False):
        if self._queue_session is None:
            # No total timeout (aiohttp's default gives up after 300 s, and a shard behind many
            # others waits longer); one connection per request, so a cancelled wait closes its own.
            self._queue_session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=10),
                connector=aiohttp.TCPConnector(force_close=True))
        await wait_for_identify(self._queue_session, self.queue_url, shard_id or 0, self.queue_token)

    async def close(self):
        await super().close()
        if self._queue_session is not None:
            await self._queue_session.close()
