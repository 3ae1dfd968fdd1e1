# Copyright (c) 2026 secops.rotation contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A small HTTPS service that presents a certificate from files and re-reads them on SIGHUP (tests, molecule).

It stands in for nginx/HAProxy in the certificate tests: ``GET /health`` answers ``{"status": "ok", "serial",
"generation", "pid"}`` over TLS; SIGHUP loads ``--cert``/``--key`` into a new TLS context used for every new
connection (the listening socket stays open; a pair that does not load keeps the old one and is logged);
while ``DIR/fault-ignore-reload`` exists SIGHUP is ignored (a reload that "succeeds" but changes nothing).
Files in DIR: ``pid``, ``port`` (written once listening; ``pid`` removed on exit), ``app.log``.

Library (for tests): :func:`start`, :func:`reload`, :func:`stop`, :func:`pid_of`, :func:`served_serial`.
Command line: ``python -m lab.tls_app serve --dir DIR --cert C --key K [--port P]`` (foreground),
``python -m lab.tls_app start|reload|stop DIR ...``, ``python -m lab.tls_app serial HOST:PORT``.
"""

import argparse
import http.server
import json
import logging
import os
import queue
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from pathlib import Path

from cryptography import x509

from .process import OWNER_VAR, STOP_GRACE, pidfile_pid, read_int, signal_pidfile, stop_pidfile

FAULT_IGNORE_RELOAD = 'fault-ignore-reload'
MARK = b'lab.tls_app'
log = logging.getLogger('lab.tls_app')


class TlsAppError(RuntimeError):
    """The service did not start or is not running; the message says why."""


def _context(cert, key):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    with open(cert, 'rb') as handle:
        serial = x509.load_pem_x509_certificate(handle.read()).serial_number
    return context, serial


class Server(http.server.ThreadingHTTPServer):
    """Wraps each accepted connection with the TLS context current at that moment (handshake in its thread)."""

    daemon_threads = True
    state = None  # {'context', 'serial', 'generation'}

    def finish_request(self, request, client_address):
        request.settimeout(10)
        try:
            tls = self.state['context'].wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            return
        try:
            super().finish_request(tls, client_address)
        finally:
            try:
                tls.close()
            except OSError:
                pass

    def handle_error(self, request, client_address):
        log.warning('error while serving %s: %s', client_address[0], sys.exc_info()[1])


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802  pylint: disable=invalid-name
        state = self.server.state
        body = json.dumps({'status': 'ok', 'serial': format(state['serial'], 'x'), 'generation': state['generation'],
                           'pid': os.getpid()}).encode()
        self.send_response(200)
        self.send_header('Content-Type', 'application/json')
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args):  # pylint: disable=redefined-builtin
        pass


def _write(path, text):
    tmp = f'{path}.tmp{os.getpid()}'
    with open(tmp, 'w', encoding='utf-8') as handle:
        handle.write(text)
    os.replace(tmp, path)


def serve(directory, cert, key, host='127.0.0.1', port=0):
    """Run in the foreground until SIGTERM/SIGINT; returns the exit code."""
    directory = Path(directory).resolve()
    logging.basicConfig(filename=directory / 'app.log', level=logging.INFO,
                        format='%(asctime)s %(levelname)s [%(process)d] %(message)s')
    try:
        context, serial = _context(cert, key)
    except (OSError, ssl.SSLError, ValueError) as exc:
        log.error('cannot start: %s', exc)
        return 1
    server = Server((host, port), Handler)
    server.state = {'context': context, 'serial': serial, 'generation': 1}
    events = queue.SimpleQueue()
    signal.signal(signal.SIGHUP, lambda *_: events.put('reload'))
    signal.signal(signal.SIGTERM, lambda *_: events.put('stop'))
    signal.signal(signal.SIGINT, lambda *_: events.put('stop'))

    def control():
        while True:
            event = events.get()
            if event == 'stop':
                server.shutdown()
                return
            if (directory / FAULT_IGNORE_RELOAD).exists():
                log.warning('SIGHUP ignored (fault injection); serial stays %x', server.state['serial'])
                continue
            try:
                new_context, new_serial = _context(cert, key)
            except (OSError, ssl.SSLError, ValueError) as exc:
                log.error('SIGHUP: cannot load %s / %s, keeping serial %x: %s', cert, key, server.state['serial'], exc)
                continue
            server.state = {'context': new_context, 'serial': new_serial, 'generation': server.state['generation'] + 1}
            log.info('SIGHUP: now serving serial %x (generation %d)', new_serial, server.state['generation'])

    threading.Thread(target=control, daemon=True).start()
    _write(directory / 'port', f'{server.server_address[1]}\n')
    _write(directory / 'pid', f'{os.getpid()}\n')
    log.info('started: pid %d on %s:%d serving serial %x', os.getpid(), host, server.server_address[1], serial)
    try:
        server.serve_forever(poll_interval=0.1)
    finally:
        server.server_close()
        if pid_of(directory) in (os.getpid(), None):
            (directory / 'pid').unlink(missing_ok=True)
        log.info('stopped')
    return 0


# --------------------------------------------------------------------------- control from tests

def pid_of(directory):
    """The pid in ``DIR/pid`` if that process is alive and is this service, else None."""
    return pidfile_pid(directory, MARK)


def start(directory, cert, key, host='127.0.0.1', port=0, timeout=15.0):
    """Start the service detached (loopback only); returns ``{'pid', 'port', 'dir', 'address'}`` once it answers."""
    if host not in ('127.0.0.1', 'localhost'):
        raise TlsAppError(f'refusing to listen on {host}: loopback only')
    directory = Path(directory).resolve()
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    if pid_of(directory):
        raise TlsAppError(f'already running in {directory}')
    (directory / 'port').unlink(missing_ok=True)
    env = dict(os.environ, **{OWNER_VAR: str(directory)})
    command = [sys.executable, '-m', 'lab.tls_app', 'serve', '--dir', str(directory), '--cert', str(cert),
               '--key', str(key), '--host', host, '--port', str(port)]
    with open(directory / 'app.log', 'ab') as out:
        proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=out, stderr=out, env=env,  # pylint: disable=consider-using-with
                                cwd=str(Path(__file__).resolve().parent.parent), start_new_session=True)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        bound = read_int(directory / 'port')
        if bound and read_int(directory / 'pid') == proc.pid:
            try:
                served_serial(host, bound, timeout=2)
                proc.returncode = 0  # detached on purpose
                return {'pid': proc.pid, 'port': bound, 'dir': str(directory), 'address': f'{host}:{bound}'}
            except OSError:
                pass
        time.sleep(0.05)
    if proc.poll() is None:
        proc.kill()
        proc.wait()
    tail = (directory / 'app.log').read_text(encoding='utf-8', errors='replace')[-2000:]
    raise TlsAppError(f'TLS app in {directory} did not start (exit code {proc.returncode}):\n{tail}')


def reload(directory):
    """SIGHUP the service of ``directory``; returns its pid."""
    pid = signal_pidfile(directory, MARK, signal.SIGHUP)
    if pid is None:
        raise TlsAppError(f'no TLS app runs in {directory}')
    return pid


def stop(directory, grace=STOP_GRACE):
    """SIGTERM (SIGKILL after ``grace`` s) the service of ``directory``; returns its pid or None."""
    return stop_pidfile(directory, MARK, grace)


def served_serial(host, port, timeout=5.0):
    """Serial (lower-case hex, no separators) of the certificate presented at host:port (not verified)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with socket.create_connection((host, int(port)), timeout=timeout) as sock:
        with context.wrap_socket(sock) as tls:
            der = tls.getpeercert(binary_form=True)
    return format(x509.load_der_x509_certificate(der).serial_number, 'x')


def main(argv=None):
    parser = argparse.ArgumentParser(prog='python -m lab.tls_app', description=__doc__.split('\n', 1)[0])
    sub = parser.add_subparsers(dest='command', required=True)
    run = sub.add_parser('serve', help='run in the foreground')
    run.add_argument('--dir', required=True)
    run.add_argument('--cert', required=True)
    run.add_argument('--key', required=True)
    run.add_argument('--host', default='127.0.0.1')
    run.add_argument('--port', type=int, default=0)
    begin = sub.add_parser('start', help='start detached, print "pid=<pid> port=<port>"')
    begin.add_argument('dir')
    begin.add_argument('--cert', required=True)
    begin.add_argument('--key', required=True)
    begin.add_argument('--port', type=int, default=0)
    for name in ('reload', 'stop'):
        sub.add_parser(name).add_argument('dirs', nargs='+')
    sub.add_parser('serial', help='print the serial served at HOST:PORT').add_argument('address')
    args = parser.parse_args(argv)
    try:
        if args.command == 'serve':
            return serve(args.dir, args.cert, args.key, args.host, args.port)
        if args.command == 'start':
            info = start(args.dir, args.cert, args.key, port=args.port)
            print(f"pid={info['pid']} port={info['port']}")
        elif args.command == 'serial':
            host, dummy, port = args.address.rpartition(':')
            print(served_serial(host, port))
        else:
            for directory in args.dirs:
                (reload if args.command == 'reload' else stop)(directory)
    except (TlsAppError, OSError, ssl.SSLError) as exc:
        print(f'lab.tls_app: {exc}', file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
