"""Command line: ``python -m lab up|down|status|env [--dir DIR]``.

The state dir defaults to ``$SECOPS_LAB_DIR`` or ``<repo>/.lab``; ``up`` writes ``DIR/env`` for
``source``-ing by shells, tests, the demo and molecule.
"""

import argparse
import os
import signal
import sys
import time
from pathlib import Path

from .collection import add_collection_to_path
from .core import Lab, LabError, leftover_pids

REPO = Path(__file__).resolve().parent.parent


def main(argv=None):
    """Run one lab command; returns the process exit code."""
    parser = argparse.ArgumentParser(prog='python -m lab', description='Local lab of real servers: OpenBao, PostgreSQL, moto.')
    parser.add_argument('command', choices=sorted(COMMANDS),
                        help='up: (re)start everything; down: stop it; status: what runs; env: print the env file; '
                             'demo: up, show it working, down; leftovers: fail if a lab below --dir still runs')
    parser.add_argument('--dir', default=os.environ.get('SECOPS_LAB_DIR') or str(REPO / '.lab'),
                        help='state dir (default: $SECOPS_LAB_DIR or <repo>/.lab)')
    args = parser.parse_args(argv)
    add_collection_to_path()  # the lab writes its files with the collection's atomic_write; the demo runs its modules
    # On SIGTERM (a CI timeout, a parent make), unwind like Ctrl-C so a half-done `up` stops what it started.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    lab = Lab(args.dir)
    try:
        return COMMANDS[args.command](lab)
    except LabError as exc:
        print(f'lab {args.command} failed: {exc}', file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f'lab {args.command} interrupted', file=sys.stderr)
        return 130


def _up(lab):
    began = time.monotonic()
    env = lab.up()
    print('\n'.join([  # one write: a reader like `| head -1` closing early does not break `up`
        f'lab up in {time.monotonic() - began:.1f}s ({lab.dir})',
        f"  OpenBao        {env['VAULT_ADDR']}  (root token: root)",
        f"  OpenBao TLS    {env['LAB_VAULT_TLS_ADDR']}  (CA {env['VAULT_CACERT']})",
        f"  PostgreSQL 18  {env['PGHOST']}:{env['PGPORT']}  (user {env['PGUSER']})",
        f"  moto IAM/STS   {env['AWS_ENDPOINT_URL']}",
        f'env file: {lab.env_file}   (source it, or: eval "$(python -m lab env)")']), flush=True)
    return 0


def _down(lab):
    lab.down()
    print(f'lab down ({lab.dir})')
    return 0


def _status(lab):
    status = lab.status()
    if not status['processes']:
        print(f'lab not running ({lab.dir})')
        return 1
    for name, proc in status['processes'].items():
        answers = status['probe'].get(name)
        health = '' if answers is None else ', answers' if answers else ', NOT answering'
        print(f"  {name:<12} pid {proc['pid']:<8} {'running' if proc['running'] else 'STOPPED'}{health}")
    healthy = all(p['running'] for p in status['processes'].values()) and len(status['processes']) == 4 \
        and all(status['probe'].values())
    print(f"lab {'up' if healthy else 'DEGRADED'} ({lab.dir}); env file: {lab.env_file}")
    return 0 if healthy else 1


def _env(lab):
    if not lab.env_file.is_file():
        print(f'no lab env file at {lab.env_file}: run python -m lab up', file=sys.stderr)
        return 1
    sys.stdout.write(lab.env_file.read_text(encoding='utf-8'))
    return 0


def _leftovers(lab):
    """Exit 1 if a process of any lab whose state dir is below --dir is still alive (a test run must leave none)."""
    pids = leftover_pids(lab.dir)
    for pid in pids:
        cmd = Path(f'/proc/{pid}/cmdline').read_bytes().replace(b'\0', b' ').decode(errors='replace').strip()
        print(f'  left running: pid {pid}: {cmd[:120]}', file=sys.stderr)
    print(f"{len(pids)} lab process(es) left running below {lab.dir}", file=sys.stderr if pids else sys.stdout)
    return 1 if pids else 0


def _demo(lab):
    from .demo import main as demo_main  # pylint: disable=import-outside-toplevel
    return demo_main(lab)


COMMANDS = {'up': _up, 'down': _down, 'status': _status, 'env': _env, 'demo': _demo, 'leftovers': _leftovers}

if __name__ == '__main__':
    sys.exit(main())
