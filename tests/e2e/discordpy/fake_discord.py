"""A fake Discord for discord.py 2.2: the two REST calls of login and a gateway.

discord.py always asks for `compress=zlib-stream`, so each connection gets one zlib stream and
every frame is binary, flushed with Z_SYNC_FLUSH (ending in 00 00 ff ff). The gateway sends HELLO,
answers heartbeats, and answers each IDENTIFY with READY; it records every IDENTIFY with its time.
REST bodies carry `Content-Type: application/json` exactly: discord.py parses nothing else.
invalidate(shard) sends that shard an Invalid Session (op 9, not resumable): it identifies again.

With `identify_interval_ms`, the gateway enforces the identify rate limit itself, as Discord does:
per bucket (shard % max_concurrency), an IDENTIFY that arrives sooner than the interval after the
bucket's previous IDENTIFY (answered or not) is answered with an Invalid Session (op 9, d: false)
instead of READY, and recorded in `invalid_sessions`.
"""
import json
import time
import zlib

from aiohttp import web, WSMsgType

USER = {'id': '1', 'username': 'e2e', 'discriminator': '0', 'avatar': None, 'bot': True}
APPLICATION = {
    'id': '1', 'name': 'e2e', 'description': '', 'icon': None, 'rpc_origins': [], 'bot_public': False,
    'bot_require_code_grant': False, 'owner': USER, 'verify_key': '0', 'flags': 0,
}


def _json(data):
    return web.Response(body=json.dumps(data).encode(), headers={'Content-Type': 'application/json'})


class FakeDiscord:
    def __init__(self, identify_interval_ms=None, max_concurrency=1):
        self.identifies = []  # {'shard', 'mono' (ms), 'wall' (ms)}, every IDENTIFY
        self.readies = []  # {'shard', 'mono', 'wall'}: IDENTIFYs answered with READY
        self.invalid_sessions = []  # {'shard', 'mono', 'wall', 'gap' (ms since the bucket's previous)}
        self.identify_interval_ms = identify_interval_ms
        self.max_concurrency = max_concurrency
        self._last_identify = {}  # bucket -> mono (ms) of its last IDENTIFY
        self.port = None
        self._runner = None
        self._sockets = set()
        self._senders = {}  # shard -> send() of the connection of its last IDENTIFY

    @property
    def api_base(self):
        return f'http://127.0.0.1:{self.port}/api/v10'

    @property
    def gateway_url(self):
        return f'ws://127.0.0.1:{self.port}/gateway'

    async def start(self):
        app = web.Application()
        app.router.add_get('/api/v10/users/@me', lambda _: _json(USER))
        app.router.add_get('/api/v10/oauth2/applications/@me', lambda _: _json(APPLICATION))
        app.router.add_get('/gateway', self._gateway)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, '127.0.0.1', 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]

    async def stop(self):
        for socket in list(self._sockets):
            await socket.close()
        await self._runner.cleanup()

    async def invalidate(self, shard):
        await self._senders[shard]({'op': 9, 'd': False})

    async def _gateway(self, request):
        socket = web.WebSocketResponse(autoping=True)
        await socket.prepare(request)
        self._sockets.add(socket)
        stream = zlib.compressobj()
        sequence = 0

        async def send(payload):
            data = stream.compress(json.dumps(payload).encode()) + stream.flush(zlib.Z_SYNC_FLUSH)
            await socket.send_bytes(data)

        try:
            await send({'op': 10, 'd': {'heartbeat_interval': 41250}})
            async for message in socket:
                if message.type != WSMsgType.TEXT:
                    continue
                payload = json.loads(message.data)
                if payload['op'] == 1:
                    await send({'op': 11})
                elif payload['op'] == 2:
                    shard, count = payload['d']['shard']
                    self._senders[shard] = send
                    identify = {'shard': shard, 'mono': time.monotonic() * 1000, 'wall': time.time() * 1000}
                    self.identifies.append(identify)
                    bucket = shard % self.max_concurrency
                    previous = self._last_identify.get(bucket)
                    self._last_identify[bucket] = identify['mono']
                    if (self.identify_interval_ms is not None and previous is not None
                            and identify['mono'] - previous < self.identify_interval_ms):
                        self.invalid_sessions.append({**identify, 'gap': identify['mono'] - previous})
                        await send({'op': 9, 'd': False})
                        continue
                    self.readies.append(identify)
                    sequence += 1
                    await send({'op': 0, 't': 'READY', 's': sequence, 'd': {
                        'v': 10, 'user': USER, 'guilds': [], 'session_id': f'session-{shard}',
                        'resume_gateway_url': self.gateway_url, 'shard': [shard, count],
                        'application': {'id': '1', 'flags': 0}}})
        finally:
            self._sockets.discard(socket)
        return socket
