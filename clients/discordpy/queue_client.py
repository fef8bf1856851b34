"""discord.py shards that wait on gateway-queue before each IDENTIFY.

    from queue_client import QueueShardedClient
    client = QueueShardedClient(intents=..., queue_url='http://127.0.0.1:5000',
                                queue_token=os.environ.get('QUEUE_AUTH_TOKEN'))
    client.run(token)

`queue_url` may also be a list, for an active queue and its standbys:
['http://a:5000/', 'http://b:5000/'].

The forks keep the same hook: for nextcord, disnake or pycord change the import (`import nextcord
as discord`, `import disnake as discord`; pycord installs as `discord`).

Rules: identify only after a 2xx; a 503 or an unreachable queue moves on to the next URL of the
list, and once every URL has been tried the shard waits (the longest Retry-After of the 503s)
before the next round; a 429 means the daily session budget is used up (the budget is shared, so
another queue would say the same): it is logged and the shard waits Retry-After (the reset) before
asking that queue again, it never identifies and never loops.

discord.py cancels a shard's connect, the wait in the queue included, after 60 s (a reconnect) or
180 s (a launch), and tries again after a pause. The shard's request outlives that cancellation,
and the retried connect takes it over, so the shard keeps its place in line (a grant that came in
the pause is used only while fresh: see ShardRequests). When the client is closed, or the task
running it is cancelled, the requests are cancelled: the queue drops them and the next shard of
each bucket takes the slot.
"""
import asyncio
import logging
from urllib.parse import urlsplit

import aiohttp
import discord

_log = logging.getLogger(__name__)

# Wait after an error that has no Retry-After (every queue unreachable, 400, 401, 5xx).
RETRY_ERROR_S = 5.0
# How old a grant may be when the shard comes back for it (see ShardRequests).
GRANT_MAX_AGE_S = 0.1


def _retry_after(value, fallback):
    """Seconds from a Retry-After header; `fallback` when it is absent or not a number."""
    try:
        return max(0.0, float(int(value)))
    except (TypeError, ValueError):
        return fallback


# What a queue answers while it cannot serve, and what a load balancer in front of the queues
# answers when the one it reached went away (502) or timed out (504).
UNAVAILABLE = (502, 503, 504)


async def wait_for_identify(session, queue_url, shard_id, token=None, *, first=0):
    """Returns once a queue allows `shard_id` to identify: the index in the list of the one that did.

    `queue_url` is a URL or a list of them; `first` is the index of the one to ask first. Raises
    only asyncio.CancelledError (when the waiting task is cancelled), which aborts the request and
    closes its connection.
    """
    urls = [queue_url] if isinstance(queue_url, str) else list(queue_url)
    headers = {'Authorization': f'Bearer {token}'} if token else {}
    params = {'shard': str(shard_id)}
    index = first % len(urls)
    tried, wait = 0, None  # 503s and unreachable queues since the last wait; longest Retry-After
    while True:
        status = failure = None
        try:
            async with session.get(urls[index], params=params, headers=headers) as response:
                body = await response.text()
                status, retry_after = response.status, response.headers.get('Retry-After')
        except aiohttp.ClientError as error:
            failure = error
        if status is not None and 200 <= status < 300:
            return index
        if status is None or status in UNAVAILABLE:
            # Unreachable, standby, full or stopping (or, behind a load balancer, the queue went
            # away: 502, 504): another queue of the list may be the active one. Once all were
            # tried, wait before the next round.
            if status is not None:
                wait = max(wait or 0.0, _retry_after(retry_after, 1.0))
            where = urlsplit(urls[index]).netloc.rpartition('@')[2]
            index = (index + 1) % len(urls)
            tried += 1
            pause = RETRY_ERROR_S if wait is None else wait
            if failure is not None:
                then = f'asking again in {pause:.0f} s' if tried == len(urls) else 'trying the next queue'
                _log.warning('gateway-queue: shard %s: %s: %s; %s', shard_id, where, failure, then)
            if tried < len(urls):
                continue
            await asyncio.sleep(pause)
        else:
            # 429 (the daily budget, shared by every queue of the list), 400, 401: logged and
            # waited out, then the same queue is asked again.
            refusal = _retry_after(retry_after, RETRY_ERROR_S)
            what = 'daily session budget exhausted' if status == 429 else body.strip()
            _log.error('gateway-queue: shard %s: %s %s; not identifying, asking again in %.0f s',
                       shard_id, status, what, refusal)
            await asyncio.sleep(refusal)
        tried, wait = 0, None


class ShardRequests:
    """The queue requests of one client's shards, one at most per shard, each in a task of its own.

    A request outlives a cancelled wait: discord.py cancels a connect that takes too long and
    tries again, and the retried wait takes the same request over, so the shard keeps its place.
    A grant is used once. A grant that came while no wait was attached to its request is used only
    if the shard comes back for it within `grant_max_age` seconds of its arrival (a grant that a
    wait was attached to is used however busy the event loop was): a grant that came while the
    shard was between attempts (discord.py's
    pause before a retry is up to seconds) would make an IDENTIFY that late, and the next shard of
    its bucket, granted one interval after it, would identify closer than the interval to it. Such
    a grant is logged and left unused (it was spent) and the shard asks again.
    """

    def __init__(self, queue_url, token=None, grant_max_age=GRANT_MAX_AGE_S):
        self.urls = [queue_url] if isinstance(queue_url, str) else list(queue_url)
        if not self.urls:
            raise ValueError('gateway-queue: no queue URL')
        self.token = token
        self.grant_max_age = grant_max_age
        self._session = None
        self._first = 0  # the URL that granted last: a dead queue is not asked first
        self._requests = {}  # shard id -> task resolving to (loop time of the grant, attended)
        self._waiting = {}  # shard id -> waits attached to its request right now
        self._closed = False

    async def wait(self, shard_id):
        """Returns once `shard_id` may identify. Cancelling it leaves the request running."""
        while True:
            if self._closed:
                raise asyncio.CancelledError('gateway-queue: the client was closed')
            request = self._requests.get(shard_id)
            if request is None:
                request = self._requests[shard_id] = asyncio.ensure_future(self._ask(shard_id))
            self._waiting[shard_id] = self._waiting.get(shard_id, 0) + 1
            try:
                granted_at, attended = await asyncio.shield(request)
            except asyncio.CancelledError:
                raise  # this wait was cancelled (the request goes on), or close() ended the request
            except Exception:
                self._requests.pop(shard_id, None)
                raise
            finally:
                self._waiting[shard_id] -= 1
            if self._requests.get(shard_id) is not request:
                continue  # another wait of this shard took the grant
            del self._requests[shard_id]  # no await since the check: the grant is used once
            age = asyncio.get_running_loop().time() - granted_at
            if attended or age <= self.grant_max_age:
                return
            _log.warning('gateway-queue: shard %s: its grant came %.1f s before the shard asked again '
                         '(its connect had been cancelled); not identifying that late, asking again',
                         shard_id, age)

    async def _ask(self, shard_id):
        if self._session is None:
            # No total timeout (aiohttp's default gives up after 300 s, and a shard behind many
            # others waits longer); one connection per request, so a cancelled wait closes its own.
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=10),
                connector=aiohttp.TCPConnector(force_close=True))
        self._first = await wait_for_identify(self._session, self.urls, shard_id, self.token,
                                              first=self._first)
        # Whether a wait is attached now, as the grant arrives: it resumes with it, however long
        # the event loop takes to get there.
        return asyncio.get_running_loop().time(), self._waiting.get(shard_id, 0) > 0

    def reopen(self):
        """Takes waits again after close() (a client that connects again)."""
        self._closed = False

    async def close(self):
        """Cancels every request (the queue drops them) and closes the HTTP session; until
        reopen(), a wait raises CancelledError instead of asking."""
        self._closed = True
        requests, self._requests = list(self._requests.values()), {}
        for request in requests:
            request.cancel()
        await asyncio.gather(*requests, return_exceptions=True)
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()


class QueueShardedClient(discord.AutoShardedClient):
    """An AutoShardedClient whose every IDENTIFY (first ones and re-identifies) waits on the queue."""

    def __init__(self, *args, queue_url, queue_token=None, queue_grant_max_age=GRANT_MAX_AGE_S,
                 **kwargs):
        super().__init__(*args, **kwargs)
        self.queue_requests = ShardRequests(queue_url, queue_token, queue_grant_max_age)

    async def before_identify_hook(self, shard_id, *, initial=False):
        await self.queue_requests.wait(shard_id or 0)

    async def connect(self, *, reconnect=True):
        # Every launch and re-identify runs inside connect(): once it ends (the client closed, or
        # its task cancelled), no shard of this client comes back for a request.
        self.queue_requests.reopen()
        try:
            await super().connect(reconnect=reconnect)
        finally:
            await self.queue_requests.close()

    async def close(self):
        # After the library's close: a shard whose wait ends now must find the client closed, or
        # discord.py would go on to the next shard's connect.
        await super().close()
        await self.queue_requests.close()
