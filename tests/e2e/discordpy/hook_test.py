"""The refusal rules of clients/discordpy/queue_client.py against scripted servers (unittest):
a 503 and a 429 are each waited out for their Retry-After, only the 2xx lets the shard go, the
request carries `shard` and the bearer token, and cancelling the wait closes its connection.
With a list of queues: an unreachable queue and a 503 move on to the next one, a 429 does not,
and a round of 503s waits the longest Retry-After before the next round.
ShardRequests: a request outlives a wait cancelled as discord.py cancels a slow connect (here with
asyncio.wait_for and a short timeout instead of the library's 60 s), the retried wait takes it
over, a grant is used once and only while fresh, and close() ends the request.
Boots and outcomes: `initial=true` until a shard's first grant, or when discord.py's hook says
initial; each outcome is one
POST /outcome (shard, result, code) to the queue that granted, another only if that one is
unavailable; a 409 is not retried and a failure is logged once; a report that hangs delays no
IDENTIFY; QueueShardedClient reports what the websocket of a granted IDENTIFY saw (READY, op 9, a
close with its code), once per grant."""
import asyncio
import json
import os
import socket
import sys
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', '..', 'clients', 'discordpy'))

import aiohttp  # noqa: E402
import discord  # noqa: E402
from queue_client import QueueShardedClient, ShardRequests, wait_for_identify  # noqa: E402


class ScriptedServer:
    """Answers requests with `answers` in order: (status, headers) or (status, headers, delay_s);
    None holds the request until the client leaves; 'drop' closes the connection unanswered, as a
    queue killed with SIGKILL does. With `posts`, POSTs take their answers from that list instead.

    Plain asyncio streams, so that a client hanging up is seen as end of stream at once."""

    def __init__(self, answers, posts=None):
        self.answers = list(answers)
        self.posts = None if posts is None else list(posts)
        self.seen = []  # {'method', 'target', 'authorization', 'at', 'closed'}

    async def handle(self, reader, writer):
        head = (await reader.readuntil(b'\r\n\r\n')).decode()
        lines = head.split('\r\n')
        headers = dict(line.split(': ', 1) for line in lines[1:] if ': ' in line)
        method = lines[0].split(' ')[0]
        record = {'method': method, 'target': lines[0].split(' ')[1],
                  'authorization': headers.get('Authorization'), 'at': time.monotonic(), 'closed': False}
        self.seen.append(record)
        answer = (self.posts if method == 'POST' and self.posts is not None else self.answers).pop(0)
        if answer is None:
            record['closed'] = await reader.read(1) == b''
        elif answer != 'drop':
            status, extra, *delay = answer
            if delay:
                await asyncio.sleep(delay[0])
            fields = ''.join(f'{name}: {value}\r\n' for name, value in extra.items() if name != 'body')
            body = '' if status == 204 else extra.get('body', '{}')
            writer.write(f'HTTP/1.1 {status} X\r\n{fields}Content-Length: {len(body)}\r\n'
                         f'Connection: close\r\n\r\n{body}'.encode())
            await writer.drain()
        writer.close()

    async def __aenter__(self):
        self.server = await asyncio.start_server(self.handle, '127.0.0.1', 0)
        self.url = f'http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}/'
        return self

    async def __aexit__(self, *_):
        self.server.close()


def refusing_url():
    """A URL where nothing listens: a port the kernel picked, closed again."""
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return f'http://127.0.0.1:{s.getsockname()[1]}/'


async def until(condition, timeout_s=5.0):
    deadline = time.monotonic() + timeout_s
    while not condition() and time.monotonic() < deadline:
        await asyncio.sleep(0.005)


def session():
    return aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None),
                                 connector=aiohttp.TCPConnector(force_close=True))


class WaitForIdentifyTest(unittest.IsolatedAsyncioTestCase):
    async def test_503_and_429_are_waited_out_and_only_200_proceeds(self):
        answers = [(503, {'Retry-After': '1'}), (429, {'Retry-After': '1'}), (200, {})]
        async with ScriptedServer(answers) as server, session() as client:
            with self.assertLogs('queue_client', 'ERROR') as logs:
                await wait_for_identify(client, server.url, 7, 'secret')
        self.assertEqual(len(server.seen), 3)
        self.assertGreaterEqual(server.seen[1]['at'] - server.seen[0]['at'], 1.0, '503 retried before Retry-After')
        self.assertGreaterEqual(server.seen[2]['at'] - server.seen[1]['at'], 1.0, '429 retried before Retry-After')
        for request in server.seen:
            self.assertEqual(request['target'], '/?shard=7')
            self.assertEqual(request['authorization'], 'Bearer secret')
        self.assertEqual(len(logs.records), 1)
        self.assertIn('429 daily session budget exhausted', logs.output[0])

    async def test_no_token_sends_no_authorization(self):
        async with ScriptedServer([(200, {})]) as server, session() as client:
            await wait_for_identify(client, server.url, 0)
        self.assertIsNone(server.seen[0]['authorization'])

    async def test_cancelling_the_wait_closes_its_connection(self):
        async with ScriptedServer([None]) as server, session() as client:
            task = asyncio.ensure_future(wait_for_identify(client, server.url, 3))
            while not server.seen:
                await asyncio.sleep(0.005)
            task.cancel()
            with self.assertRaises(asyncio.CancelledError):
                await task
            for _ in range(200):
                if server.seen[0]['closed']:
                    break
                await asyncio.sleep(0.005)
            self.assertTrue(server.seen[0]['closed'], 'the server still holds the cancelled request')



class QueueListTest(unittest.IsolatedAsyncioTestCase):
    async def test_refused_on_the_first_granted_by_the_second_at_once(self):
        async with ScriptedServer([(200, {})]) as second, session() as client:
            started = time.monotonic()
            with self.assertLogs('queue_client', 'WARNING') as logs:
                granted_by = await wait_for_identify(client, [refusing_url(), second.url], 1)
        self.assertEqual(granted_by, 1)
        self.assertLess(time.monotonic() - started, 1.0, 'waited before asking the second queue')
        self.assertEqual(second.seen[0]['target'], '/?shard=1')
        self.assertIn('trying the next queue', logs.output[0])

    async def test_the_first_dies_while_holding_the_request_the_second_grants(self):
        async with ScriptedServer(['drop']) as first, ScriptedServer([(200, {})]) as second, session() as client:
            with self.assertLogs('queue_client', 'WARNING'):
                self.assertEqual(await wait_for_identify(client, [first.url, second.url], 4), 1)
        self.assertEqual(len(second.seen), 1)

    async def test_503_or_a_load_balancers_502_or_504_on_the_first_moves_to_the_second_at_once(self):
        for status in (503, 502, 504):
            async with ScriptedServer([(status, {'Retry-After': '1'})]) as first, \
                    ScriptedServer([(200, {})]) as second, session() as client:
                started = time.monotonic()
                self.assertEqual(await wait_for_identify(client, [first.url, second.url], 5), 1)
            self.assertLess(time.monotonic() - started, 1.0, f'waited after a {status}')
            self.assertEqual((len(first.seen), len(second.seen)), (1, 1))

    async def test_429_on_the_first_is_waited_out_without_switching(self):
        async with ScriptedServer([(429, {'Retry-After': '1'}), (200, {})]) as first, \
                ScriptedServer([]) as second, session() as client:
            with self.assertLogs('queue_client', 'ERROR') as logs:
                self.assertEqual(await wait_for_identify(client, [first.url, second.url], 6), 0)
        self.assertEqual(second.seen, [], 'the second queue was asked after a 429')
        self.assertEqual(len(first.seen), 2)
        self.assertGreaterEqual(first.seen[1]['at'] - first.seen[0]['at'], 1.0, '429 retried before Retry-After')
        self.assertIn('429 daily session budget exhausted', logs.output[0])

    async def test_503_from_all_waits_the_longest_retry_after_then_asks_from_the_list_again(self):
        async with ScriptedServer([(503, {'Retry-After': '1'}), (503, {'Retry-After': '1'})]) as first, \
                ScriptedServer([(503, {'Retry-After': '2'}), (200, {})]) as second, session() as client:
            self.assertEqual(await wait_for_identify(client, [first.url, second.url], 8), 1)
        order = sorted([(r['at'], 1) for r in first.seen] + [(r['at'], 2) for r in second.seen])
        self.assertEqual([queue for _, queue in order], [1, 2, 1, 2])
        self.assertLess(order[1][0] - order[0][0], 1.0, 'waited between the queues of one round')
        self.assertGreaterEqual(order[2][0] - order[1][0], 2.0, 'the next round came before the longest Retry-After')


class ShardRequestsTest(unittest.IsolatedAsyncioTestCase):
    """discord.py's cancellation of a slow connect, simulated: asyncio.wait_for with 0.2 s."""

    async def cancelled_wait(self, requests, shard):
        with self.assertRaises(asyncio.TimeoutError):
            await asyncio.wait_for(requests.wait(shard), 0.2)

    async def test_a_request_outlives_the_cancelled_wait_and_the_retried_wait_takes_it_over(self):
        async with ScriptedServer([(200, {}, 0.6)]) as server:
            requests = ShardRequests(server.url)
            try:
                await self.cancelled_wait(requests, 3)
                started = time.monotonic()
                await requests.wait(3)
                waited = time.monotonic() - started
            finally:
                await requests.close()
        self.assertEqual(len(server.seen), 1, 'the retried wait asked again: the shard lost its place')
        self.assertGreater(waited, 0.2, 'the retried wait returned before the grant')

    async def test_a_grant_after_the_cancel_is_used_by_the_next_wait_and_only_once(self):
        async with ScriptedServer([(200, {}, 0.4), None]) as server:
            # A generous age limit: this test is about the grant being kept, not about its age.
            requests = ShardRequests(server.url, grant_max_age=5)
            try:
                await self.cancelled_wait(requests, 3)
                await until(lambda: requests._requests[3].done())  # granted while nobody waits
                started = time.monotonic()
                await asyncio.wait_for(requests.wait(3), 5)
                self.assertLess(time.monotonic() - started, 0.5, 'the held grant was not used at once')
                self.assertEqual(len(server.seen), 1)
                # The grant is spent: the shard's next IDENTIFY asks again.
                with self.assertRaises(asyncio.TimeoutError):
                    await asyncio.wait_for(requests.wait(3), 0.3)
                self.assertEqual(len(server.seen), 2)
            finally:
                await requests.close()

    async def test_a_grant_that_waited_too_long_for_its_shard_is_not_used(self):
        async with ScriptedServer([(200, {}, 0.3), (200, {}, 0.3)]) as server:
            requests = ShardRequests(server.url, grant_max_age=0.05)
            try:
                await self.cancelled_wait(requests, 3)
                await until(lambda: requests._requests[3].done())
                await asyncio.sleep(0.1)  # discord.py's pause before it connects again
                with self.assertLogs('queue_client', 'WARNING') as logs:
                    await requests.wait(3)
            finally:
                await requests.close()
        self.assertEqual(len(server.seen), 2, 'the stale grant was used')
        self.assertIn('not identifying that late', logs.output[0])

    async def test_a_grant_its_wait_was_attached_to_is_used_however_late_the_loop_gets_to_it(self):
        async with ScriptedServer([(200, {}, 0.2), None]) as server:
            requests = ShardRequests(server.url, grant_max_age=0.05)
            try:
                wait = asyncio.ensure_future(requests.wait(3))
                await until(lambda: 3 in requests._requests)
                # A busy event loop between the grant's arrival and the wait's resumption (this
                # callback runs after the request's end is passed on, before the wait resumes).
                requests._requests[3].add_done_callback(lambda _: time.sleep(0.2))
                await asyncio.wait_for(wait, 5)
                self.assertEqual(len(server.seen), 1, 'the grant was thrown away and asked again')
            finally:
                await requests.close()

    async def test_two_waits_of_one_shard_use_one_grant_once(self):
        async with ScriptedServer([(200, {}, 0.2), (200, {}, 0.2)]) as server:
            requests = ShardRequests(server.url)
            try:
                first = asyncio.ensure_future(requests.wait(3))
                second = asyncio.ensure_future(requests.wait(3))
                done, _ = await asyncio.wait([first, second], return_when=asyncio.FIRST_COMPLETED)
                self.assertEqual(len(done), 1, 'one grant let two waits go')
                await asyncio.wait_for(asyncio.gather(first, second), 5)
            finally:
                await requests.close()
        self.assertEqual(len(server.seen), 2)

    async def test_close_cancels_a_held_request_and_the_queue_sees_it_leave(self):
        async with ScriptedServer([None]) as server:
            requests = ShardRequests(server.url)
            await self.cancelled_wait(requests, 3)
            self.assertFalse(server.seen[0]['closed'], 'the cancelled wait dropped its request')
            await requests.close()
            await until(lambda: server.seen[0]['closed'])
        self.assertTrue(server.seen[0]['closed'], 'the server still holds the request after close()')


def client(queue_url, **options):
    return QueueShardedClient(intents=discord.Intents.none(), shard_count=4, queue_url=queue_url,
                              **options)


class FakeWebSocket:
    """What QueueShardedClient's watch uses of discord.py's DiscordWebSocket: shard_id, log_receive
    (each message, decompressed), poll_event (raises when the connection ends) and the close codes."""

    def __init__(self, shard_id):
        self.shard_id = shard_id
        self.received = []
        self._close_code = None
        self.socket = type('Socket', (), {'close_code': None})()
        self.ends = asyncio.get_running_loop().create_future()

    def log_receive(self, msg, /):
        self.received.append(msg)

    async def poll_event(self):
        await self.ends  # raises what the test sets

    def receive(self, payload):
        self.log_receive(json.dumps(payload))


def outcomes(server):
    return [r['target'] for r in server.seen if r['method'] == 'POST']


class BootTest(unittest.IsolatedAsyncioTestCase):
    async def test_initial_true_until_the_shard_is_granted_or_when_the_hook_says_initial(self):
        async with ScriptedServer([(200, {})] * 5) as server:
            bot = client(server.url)
            try:
                await bot.before_identify_hook(0, initial=True)
                await bot.before_identify_hook(1, initial=False)  # discord.py's later launches
                await bot.before_identify_hook(0)  # the same shard again: a reconnect
                await bot.before_identify_hook(1)
                await bot.before_identify_hook(1, initial=True)  # discord.py says boot
            finally:
                await bot.queue_requests.close()
        self.assertEqual([r['target'] for r in server.seen],
                         ['/?shard=0&initial=true', '/?shard=1&initial=true', '/?shard=0',
                          '/?shard=1', '/?shard=1&initial=true'])

    async def test_a_429_logs_the_body_s_error_text_and_does_not_identify(self):
        looping = '{"error": "shard 3 is looping: granted 3 times in the last hour"}'
        async with ScriptedServer([(429, {'Retry-After': '3600', 'body': looping})]) as server, session() as http:
            with self.assertLogs('queue_client', 'ERROR') as logs:
                with self.assertRaises(asyncio.TimeoutError):
                    await asyncio.wait_for(wait_for_identify(http, server.url, 3), 0.5)
        self.assertEqual(len(server.seen), 1, 'asked again before Retry-After')
        self.assertIn('429 shard 3 is looping: granted 3 times in the last hour; not identifying, '
                      'asking again in 3600 s', logs.output[0])


class OutcomeTest(unittest.IsolatedAsyncioTestCase):
    async def test_reports_go_to_the_queue_that_granted_with_shard_result_and_code(self):
        async with ScriptedServer([(503, {'Retry-After': '1'})]) as first, \
                ScriptedServer([(200, {})], posts=[(204, {}), (204, {})]) as second:
            requests = ShardRequests([first.url, second.url], 'secret')
            try:
                await requests.wait(3)
                requests.report(3, 'invalid_session')
                requests.report(3, 'closed', 4000)
                await until(lambda: len(outcomes(second)) == 2)
            finally:
                await requests.close()
        self.assertEqual([r['method'] for r in first.seen], ['GET'], 'reported to the queue that did not grant')
        self.assertEqual(outcomes(second), ['/outcome?shard=3&result=invalid_session',
                                            '/outcome?shard=3&result=closed&code=4000'])
        self.assertTrue(all(r['authorization'] == 'Bearer secret' for r in second.seen))

    async def test_the_granting_queue_unavailable_the_report_goes_to_the_next_once(self):
        async with ScriptedServer([(200, {})], posts=[(503, {'Retry-After': '1'})]) as first, \
                ScriptedServer([], posts=[(204, {})]) as second:
            requests = ShardRequests([first.url, second.url])
            try:
                await requests.wait(5)
                requests.report(5, 'ready')
                await until(lambda: outcomes(second))
                await asyncio.sleep(0.2)  # a retry would show up here
            finally:
                await requests.close()
        self.assertEqual(outcomes(first), ['/outcome?shard=5&result=ready'])
        self.assertEqual(outcomes(second), ['/outcome?shard=5&result=ready'])

    async def test_a_409_is_not_retried_and_a_failure_is_logged_once(self):
        # Nor sent to the other queue of the list: they share the journal, it would say the same.
        async with ScriptedServer([(200, {}), (200, {})], posts=[(409, {}), (409, {})]) as server, \
                ScriptedServer([], posts=[]) as other:
            requests = ShardRequests([server.url, other.url])
            try:
                with self.assertLogs('queue_client', 'WARNING') as logs:
                    for _ in range(2):  # two grants, each reported once
                        await requests.wait(6)
                        requests.report(6, 'invalid_session')
                        await until(lambda: not requests._reports)
                    await asyncio.sleep(0.3)  # a retry would show up here
            finally:
                await requests.close()
        self.assertEqual(outcomes(server), ['/outcome?shard=6&result=invalid_session'] * 2)
        self.assertEqual(other.seen, [])
        self.assertEqual(len(logs.records), 1, logs.output)
        self.assertIn('reporting invalid_session failed', logs.output[0])
        self.assertIn('409', logs.output[0])

    async def test_a_report_that_hangs_or_finds_no_queue_delays_no_identify(self):
        for where in ('hanging', 'unreachable'):
            async with ScriptedServer([(200, {}), (200, {})], posts=[None]) as server:
                # The report goes to the queue that granted; an unreachable one is made so by
                # granting from a list whose first URL refuses and reporting to that one.
                requests = ShardRequests(server.url)
                try:
                    await requests.wait(7)
                    if where == 'unreachable':
                        requests.urls = [refusing_url()]
                    started = time.monotonic()
                    requests.report(7, 'invalid_session')
                    if where == 'hanging':
                        await until(lambda: outcomes(server))
                    requests.urls = [server.url]
                    await asyncio.wait_for(requests.wait(7), 5)
                    waited = time.monotonic() - started
                    self.assertLess(waited, 0.3, f'the next grant waited {waited:.2f} s behind a {where} report')
                    if where == 'hanging':
                        self.assertFalse(server.seen[1]['closed'], 'the report gave up')
                finally:
                    await requests.close()

    async def test_the_client_reports_what_the_websocket_of_a_granted_identify_saw(self):
        async with ScriptedServer([(200, {})] * 4, posts=[(204, {})] * 3) as server:
            bot = client(server.url, queue_token='t')
            try:
                # Launch: discord.py hands the new websocket over, then IDENTIFYs (the hook).
                first = FakeWebSocket(2)
                bot._connection._update_references(first)
                first.receive({'op': 10, 'd': {'heartbeat_interval': 41250}})
                await bot.before_identify_hook(2, initial=True)
                first.receive({'op': 11})
                first.receive({'op': 9, 'd': False})
                first.receive({'op': 9, 'd': False})  # one report per grant
                first.ends.set_exception(RuntimeError('closed by discord.py after the op 9'))
                with self.assertRaises(RuntimeError):
                    await first.poll_event()
                await until(lambda: len(outcomes(server)) == 1)
                # The re-identify: READY.
                second = FakeWebSocket(2)
                bot._connection._update_references(second)
                await bot.before_identify_hook(2)
                second.receive({'op': 0, 't': 'READY', 's': 1, 'd': {}})
                await until(lambda: len(outcomes(server)) == 2)
                second.ends.set_exception(RuntimeError('closed after READY: nothing to report'))
                with self.assertRaises(RuntimeError):
                    await second.poll_event()
                # Another: the gateway closes the connection before READY.
                third = FakeWebSocket(2)
                bot._connection._update_references(third)
                await bot.before_identify_hook(2)
                third.socket.close_code = 4009
                third.ends.set_exception(RuntimeError('closed by the gateway'))
                with self.assertRaises(RuntimeError):
                    await third.poll_event()
                await until(lambda: len(outcomes(server)) == 3)
                # A websocket that RESUMEs (no hook, no grant): its op 9 is not reported.
                resumed = FakeWebSocket(2)
                bot._connection._update_references(resumed)
                resumed.receive({'op': 9, 'd': False})
                await asyncio.sleep(0.2)
            finally:
                await bot.queue_requests.close()
        self.assertEqual(outcomes(server), ['/outcome?shard=2&result=invalid_session',
                                            '/outcome?shard=2&result=ready',
                                            '/outcome?shard=2&result=closed&code=4009'])
        self.assertEqual(len(first.received), 4, 'messages were not passed on to discord.py')
        self.assertTrue(all(r['authorization'] == 'Bearer t' for r in server.seen))


if __name__ == '__main__':
    unittest.main()
