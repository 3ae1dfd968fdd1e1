# Copyright (c) 2026 secops.rotation contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Loopback networking for the lab: free ports, and HTTP sessions that ignore proxies from the environment."""

import socket

import requests


def free_ports(names, pairs=()):
    """Pick distinct free loopback ports, {name: port}; names in ``pairs`` also get port+1 free.

    OpenBao dev servers open a cluster listener on port+1; keeping it free avoids clashes and log noise.
    """
    held, ports = [], {}
    try:
        for name in names:
            while name not in ports:
                sock = socket.socket()
                sock.bind(('127.0.0.1', 0))
                held.append(sock)
                port = sock.getsockname()[1]
                if name in pairs:
                    buddy = socket.socket()
                    held.append(buddy)
                    try:
                        buddy.bind(('127.0.0.1', port + 1))
                    except OSError:
                        continue
                ports[name] = port
    finally:
        for sock in held:
            sock.close()
    return ports


def session(verify=True):
    """A requests session for loopback servers: no proxy or CA bundle from the environment.

    hvac ignores its own ``verify`` argument when given a session whose ``verify`` is truthy, so the CA
    file must be set on the session itself.
    """
    sess = requests.Session()
    sess.trust_env = False
    sess.verify = verify
    return sess


def http_ok(url, verify=True):
    """True if ``url`` answers 200 (any failure to connect, verify or parse counts as no)."""
    try:
        with session(verify) as sess:
            return sess.get(url, timeout=2).status_code == 200
    except (requests.RequestException, OSError):
        return False
