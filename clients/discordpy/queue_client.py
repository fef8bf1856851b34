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
before the next round; a 429 (the daily session budget or its reserve is used up, or the queue's
loop guard refuses a shard granted QUEUE_SHARD_HOURLY_LIMIT times in the last hour; the journal is
shared, so another queue would say the same) is logged with the body's error text and the shard
waits Retry-After before asking that queue again, it never identifies and never loops.

A request says `initial=true` (a boot, which the queue does not grant from its reserve of session
starts for reconnects) until its shard has been granted once in this process, or when discord.py
calls the hook with `initial=True`. discord.py's own flag alone would not do: an
AutoShardedClient sets it for the first shard it launches only. After each granted IDENTIFY the
client reports what it became, once, with `POST <queue>/outcome?shard=N&result=R`: `ready` (the
READY dispatch), `invalid_session` (an op 9 before READY) or `closed&code=C` (the connection ended
before READY), to the queue that granted, fire-and-forget (see QueueShardedClient, ShardRequests).

discord.py cancels a shard's connect, the wait in the queue included, after 60 s (a reconnect) or
180 s (a launch), and tries again after a pause. The shard's request outlives that cancellation,
and the retried connect takes it over, so the shard keeps its place in line (a grant that came in
the pause is used only while fresh: see ShardRequests). When the client is closed, or the task
running it is cancelled, the requests are cancelled: the queue drops them and the next shard of
each bucket takes the slot.
"""
import asyncio
import json
import logging
from urllib.parse import urlsplit

import aiohttp
import discord

_log = logging.getLogger(__name__)

# Wait after an error that has no Retry-After (every queue unreachable, 400, 401, 5xx).
RETRY_ERROR_S = 5.0
# How old a grant may be when the shard comes back for it (see ShardRequests).
GRANT_MAX_AGE_S = 0.1
# An outcome report gives up after this long: it is never worth holding a connection for.
REPORT_TIMEOUT_S = 10.0


def _retry_after(value, fallback):
    """Seconds from a Retry-After header; `fallback` when it is absent or not a number."""
    try:
        return max(0.0, float(int(value)))
    except (TypeError, ValueError):
        return fallback


# What a queue answers while it cannot serve, and what a load balancer in front of the queues
# answers when the one it reached went away (502) or timed out (504).
UNAVAILABLE = (502, 503, 504)


def _error_text(body):
    """The `error` of a JSON body such as the queue's refusals ('' for JSON without one); else the
    body, stripped."""
    try:
        parsed = json.loads(body)
    except ValueError:
        return body.strip()
    error = parsed.get('error') if isinstance(parsed, dict) else None
    return error if isinstance(error, str) else ''


async def wait_for_identify(session, queue_url, shard_id, token=None, *, first=0, initial=False):
    """Returns once a queue allows `shard_id` to identify: the index in the list of the one that did.

    `queue_url` is a URL or a list of them; `first` is the index of the one to ask first; `initial`
    adds `initial=true` (a boot; the queue keeps its reserve of session starts from boots). Raises
    only asyncio.CancelledError (when the waiting task is cancelled), which aborts the request and
    closes its connection.
    """
    urls = [queue_url] if isinstance(queue_url, str) else list(queue_url)
    headers = {'Authorization': f'Bearer {token}'} if token else {}
    params = {'shard': str(shard_id)}
    if initial:
        params['initial'] = 'true'
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
            # 429 (the daily budget or the reserve, shared by every queue of the list, or the
            # loop guard: this shard was granted QUEUE_SHARD_HOURLY_LIMIT times in the last hour),
            # 400, 401: logged with the body's error text and waited out, then the same queue is
            # asked again.
            refusal = _retry_after(retry_after, RETRY_ERROR_S)
            what = _error_text(body) or ('daily session budget exhausted' if status == 429 else body.strip())
            _log.error('gateway-queue: shard %s: %s %s; not identifying, asking again in %.0f s',
                       shard_id, status, what, refusal)
            await asyncio.sleep(refusal)
        tried, wait = 0, None


def _outcome_url(queue_url):
    """`<queue>/outcome` of a queue URL ('http://a:5000/' and 'http://a:5000' alike)."""
    return queue_url.rstrip('/') + '/outcome'


async def report_outcome(session, queue_url, shard_id, result, token=None, *, code=None, first=0,
                         timeout=REPORT_TIMEOUT_S):
    """POSTs `<queue>/outcome?shard=N&result=R[&code=C]` once: returns (status, detail), status None
    when no queue answered.

    `first` is the index of the queue that granted (asked first); the others of the list are asked
    only when it answers 502/503/504 or is unreachable, one round, no retries. Any other answer ends
    it (204 done; 409: no grant of that shard in the last 10 minutes; 400, 401). Raises only
    asyncio.CancelledError."""
    urls = [queue_url] if isinstance(queue_url, str) else list(queue_url)
    headers = {'Authorization': f'Bearer {token}'} if token else {}
    params = {'shard': str(shard_id), 'result': result}
    if code is not None:
        params['code'] = str(code)
    status, detail = None, 'no queue to report to'
    for step in range(len(urls)):
        url = urls[(first + step) % len(urls)]
        where = urlsplit(url).netloc.rpartition('@')[2]
        try:
            async with session.post(_outcome_url(url), params=params, headers=headers,
                                    timeout=aiohttp.ClientTimeout(total=timeout)) as response:
                status, body = response.status, await response.text()
        except (aiohttp.ClientError, asyncio.TimeoutError) as error:
            status, detail = None, f'{where}: {error or type(error).__name__}'
            continue
        detail = f'{where}: {status} {_error_text(body)}'.rstrip()
        if status not in UNAVAILABLE:
            break
    return status, detail


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

    report() tells the queue what a granted IDENTIFY became (POST /outcome), in a task of its own:
    nothing waits for it, it is never retried, and a failure is logged once per shard and result.
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
        self._granted_by = {}  # shard id -> index of the URL that granted its last request
        self._reports = set()  # report tasks in flight
        self._report_failures = set()  # (shard id, result) whose failure was logged
        self._closed = False

    async def wait(self, shard_id, initial=False):
        """Returns once `shard_id` may identify. Cancelling it leaves the request running.

        `initial`: the request says `initial=true` (a boot), as does any request of a shard this
        client has not seen granted yet. It is the flag of the wait that starts the request; a
        retried wait that takes a running request over does not change it."""
        initial = initial or shard_id not in self._granted_by
        while True:
            if self._closed:
                raise asyncio.CancelledError('gateway-queue: the client was closed')
            request = self._requests.get(shard_id)
            if request is None:
                request = self._requests[shard_id] = asyncio.ensure_future(self._ask(shard_id, initial))
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

    def _http(self):
        if self._session is None:
            # No total timeout (aiohttp's default gives up after 300 s, and a shard behind many
            # others waits longer); one connection per request, so a cancelled wait closes its own.
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=10),
                connector=aiohttp.TCPConnector(force_close=True))
        return self._session

    async def _ask(self, shard_id, initial):
        self._first = await wait_for_identify(self._http(), self.urls, shard_id, self.token,
                                              first=self._first, initial=initial)
        self._granted_by[shard_id] = self._first
        # Whether a wait is attached now, as the grant arrives: it resumes with it, however long
        # the event loop takes to get there.
        return asyncio.get_running_loop().time(), self._waiting.get(shard_id, 0) > 0

    def report(self, shard_id, result, code=None):
        """Reports what the last grant of `shard_id` became: 'ready', 'invalid_session' or 'closed'
        (`code`: the close code, if any). Returns at once; the POST goes to the queue that granted
        (the others of the list only if it is unavailable) in a task of its own. After close(),
        nothing is sent."""
        if self._closed:
            return
        task = asyncio.ensure_future(self._report(shard_id, result, code))
        self._reports.add(task)
        task.add_done_callback(self._reports.discard)

    async def _report(self, shard_id, result, code):
        status, detail = await report_outcome(self._http(), self.urls, shard_id, result, self.token,
                                              code=code, first=self._granted_by.get(shard_id, self._first))
        if status is not None and 200 <= status < 300:
            return
        if (shard_id, result) not in self._report_failures:
            self._report_failures.add((shard_id, result))
            _log.warning('gateway-queue: shard %s: reporting %s failed (%s); not retried, logged once',
                         shard_id, result, detail)

    def reopen(self):
        """Takes waits again after close() (a client that connects again)."""
        self._closed = False

    async def close(self):
        """Cancels every request (the queue drops them) and report and closes the HTTP session;
        until reopen(), a wait raises CancelledError instead of asking."""
        self._closed = True
        requests, self._requests = list(self._requests.values()), {}
        requests += list(self._reports)
        for request in requests:
            request.cancel()
        await asyncio.gather(*requests, return_exceptions=True)
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()


class QueueShardedClient(discord.AutoShardedClient):
    """An AutoShardedClient whose every IDENTIFY (first ones and re-identifies) waits on the queue,
    and which tells the queue what each granted IDENTIFY became.

    Outcomes: after each grant the first of these, seen on the websocket that sent the IDENTIFY, is
    reported (ShardRequests.report): the READY dispatch -> 'ready'; an Invalid Session (op 9)
    before READY -> 'invalid_session'; the connection ending before READY -> 'closed', with the
    close code as discord.py sees it (its own close code, else the gateway's). Nothing is reported
    while the client closes. discord.py has no event for an op 9 that names the shard, so each
    websocket the client creates is watched: discord.py hands it to
    `_connection._update_references` before its IDENTIFY; the watch wraps that websocket's
    `log_receive` (every message, decompressed; parsed only between the grant and its outcome) and
    `poll_event` (which raises when the connection ends). If a discord.py version lacks that hook,
    a warning says so once and the shards identify as before, with no reports.
    """

    def __init__(self, *args, queue_url, queue_token=None, queue_grant_max_age=GRANT_MAX_AGE_S,
                 **kwargs):
        super().__init__(*args, **kwargs)
        self.queue_requests = ShardRequests(queue_url, queue_token, queue_grant_max_age)
        self._queue_websockets = {}  # shard id -> its newest gateway websocket
        self._queue_identifying = {}  # shard id -> the websocket of its granted IDENTIFY, until its outcome
        update = getattr(self._connection, '_update_references', None)
        if update is None:
            _log.warning('gateway-queue: this discord.py has no _connection._update_references: '
                         'outcomes are not reported (the queue cannot widen a bucket on Invalid Sessions)')
            return

        def update_references(ws):
            update(ws)
            self._queue_watch(ws)

        self._connection._update_references = update_references

    async def before_identify_hook(self, shard_id, *, initial=False):
        shard = shard_id or 0
        # An IDENTIFY of this shard whose end was not seen (its connection failed outside the watch).
        previous = self._queue_identifying.get(shard)
        if previous is not None:
            self._queue_outcome(shard, previous, 'closed', self._queue_close_code(previous))
        await self.queue_requests.wait(shard, initial=initial)
        ws = self._queue_websockets.get(shard)
        if ws is not None:
            self._queue_identifying[shard] = ws

    @staticmethod
    def _queue_close_code(ws):
        # As discord.py reads it: the code it closed with, else the one the gateway sent.
        socket = getattr(ws, 'socket', None)
        return getattr(ws, '_close_code', None) or getattr(socket, 'close_code', None)

    def _queue_outcome(self, shard, ws, result, code=None):
        if self._queue_identifying.get(shard) is not ws:
            return  # reported already, or not the websocket of the shard's granted IDENTIFY
        del self._queue_identifying[shard]
        if not self.is_closed():
            self.queue_requests.report(shard, result, code)

    def _queue_watch(self, ws):
        shard = ws.shard_id or 0
        self._queue_websockets[shard] = ws
        log_receive, poll_event = ws.log_receive, ws.poll_event

        def watched_log_receive(msg, /):
            if self._queue_identifying.get(shard) is ws:
                try:
                    payload = json.loads(msg)
                except (TypeError, ValueError):
                    payload = None
                if isinstance(payload, dict):
                    if payload.get('op') == 0 and payload.get('t') == 'READY':
                        self._queue_outcome(shard, ws, 'ready')
                    elif payload.get('op') == 9:
                        self._queue_outcome(shard, ws, 'invalid_session')
            log_receive(msg)

        async def watched_poll_event():
            try:
                await poll_event()
            except BaseException:
                self._queue_outcome(shard, ws, 'closed', self._queue_close_code(ws))
                raise

        ws.log_receive = watched_log_receive
        ws.poll_event = watched_poll_event

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
