"""The refusal rules of clients/discordpy/queue_client.py against a scripted server (unittest):
a 503 and a 429 are each waited out for their Retry-After, only the 2xx lets the shard go, the
request carries `shard` and the bearer token, and cancelling the wait closes its connection."""
import asyncio
import os
import sys
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', '..', 'clients', 'discordpy'))

import aiohttp  # noqa: E402
from queue_client import wait_for_identify  # noqa: E402


class ScriptedServer:
    """Answers requests with `answers` in order; None holds the request until the client leaves.

    Plain asyncio streams, so that a client hanging up is seen as end of stream at once."""

    def __init__(self, answers):
        self.answers = list(answers)
        self.seen = []  # {'target', 'authorization', 'at', 'closed'}

    async def handle(self, reader, writer):
        head = (await reader.readuntil(b'\r\n\r\n')).decode()
        lines = head.split('\r\n')
        headers = dict(line.split(': ', 1) for line in lines[1:] if ': ' in line)
        record = {'target': lines[0].split(' ')[1], 'authorization': headers.get('Authorization'),
                  'at': time.monotonic(), 'closed': False}
        self.seen.append(record)
        answer = self.answers.pop(0)
        if answer is None:
            record['closed'] = await reader.read(1) == b''
        else:
            status, extra = answer
            fields = ''.join(f'{name}: {value}\r\n' for name, value in extra.items())
            writer.write(f'HTTP/1.1 {status} X\r\n{fields}Content-Length: 2\r\nConnection: close\r\n\r\n{{}}'.encode())
            await writer.drain()
        writer.close()

    async def __aenter__(self):
        self.server = await asyncio.start_server(self.handle, '127.0.0.1', 0)
        self.url = f'http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}/'
        return self

    async def __aexit__(self, *_):
        self.server.close()


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


if __name__ == '__main__':
    unittest.main()
