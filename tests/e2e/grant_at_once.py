"""A stand-in for gateway-queue that grants every request at once.

Used only to show that the end-to-end tests fail when shards are not paced: run a test with
GQ_E2E_STAND_IN=grant-at-once and it starts this instead of the real binary (same PORT variable,
same 200 body). It must never be used for anything else.
"""
import http.server
import json
import os


class GrantAtOnce(http.server.BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'

    def do_GET(self):
        body = json.dumps({'message': "You're free to connect now! :)"}).encode()
        self.send_response(200)
        self.send_header('Content-Type', 'application/json')
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


if __name__ == '__main__':
    server = http.server.ThreadingHTTPServer(('127.0.0.1', int(os.environ['PORT'])), GrantAtOnce)
    server.serve_forever()
