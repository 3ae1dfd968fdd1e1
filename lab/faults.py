# Copyright (c) 2026 secops.rotation contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Faults for tests against the lab: a proxy in front of OpenBao that loses Vault's answers after Vault did the work."""

import http.server
import threading
import time

import requests


class LosingProxy:
    """An HTTP proxy in front of the lab's OpenBao that forwards every request and, for the paths in ``lose``, throws
    Vault's answer away after Vault carried the request out: it answers 504 (a load balancer whose backend timeout is
    shorter than the database) or, with ``mode='hang'``, holds the connection past the client's timeout.

    Loopback only; ``seen`` lists the requests (``'GET /v1/database/creds/app'``), ``close()`` stops it."""

    def __init__(self, upstream, lose=(), mode='504', hang=3.0):
        proxy = self
        self.upstream, self.lose, self.mode, self.hang, self.seen = upstream.rstrip('/'), set(lose), mode, hang, []

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def _forward(self):
                body = self.rfile.read(int(self.headers.get('Content-Length') or 0))
                headers = dict((k, v) for k, v in self.headers.items() if k.lower() not in ('host', 'content-length', 'connection'))
                answer = requests.request(self.command, proxy.upstream + self.path, headers=headers, data=body or None, timeout=60)
                key = '%s %s' % (self.command, self.path.split('?')[0])
                proxy.seen.append(key)
                if key in proxy.lose:
                    if proxy.mode == 'hang':
                        time.sleep(proxy.hang)
                        self.close_connection = True
                        return
                    page = b'<html><h1>504 Gateway Time-out</h1></html>\n'
                    self.send_response(504)
                    self.send_header('Content-Type', 'text/html')
                    self.send_header('Content-Length', str(len(page)))
                    self.end_headers()
                    self.wfile.write(page)
                    return
                self.send_response(answer.status_code)
                self.send_header('Content-Type', answer.headers.get('Content-Type', 'application/json'))
                self.send_header('Content-Length', str(len(answer.content)))
                self.end_headers()
                self.wfile.write(answer.content)

            do_GET = do_PUT = do_POST = do_DELETE = do_LIST = _forward

        self.server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), Handler)
        self.url = 'http://127.0.0.1:%d' % self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def count(self, key):
        return self.seen.count(key)

    def close(self):
        self.server.shutdown()
        self.server.server_close()
