# Copyright (c) 2026 secops.rotation contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run the collection's modules for tests: directly (fast, one Python process per call) or through a real
``ansible-playbook`` run (for check/diff mode, no_log and ``-vvvv`` leak checks, module_defaults, batches).

Both go through the real module code with the real lab servers behind it; nothing is mocked.
"""

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

from .collection import REPO, add_collection_to_path


def ansible_env(extra):
    root = add_collection_to_path()
    env = dict(os.environ)
    env.update({key: str(value) for key, value in (extra or {}).items()})
    env['PYTHONPATH'] = os.pathsep.join([root] + ([env['PYTHONPATH']] if env.get('PYTHONPATH') else []))
    env['ANSIBLE_COLLECTIONS_PATH'] = root
    env.setdefault('ANSIBLE_LOCAL_TEMP', tempfile.gettempdir())
    env['ANSIBLE_NOCOLOR'] = '1'
    env['ANSIBLE_FORCE_COLOR'] = '0'
    return env


class ModuleRun(dict):
    """The module's result dict, plus ``stdout``/``stderr``/``rc`` of the process for leak checks."""

    stdout = stderr = ''
    rc = 0


def run_module(name, args, check=False, diff=False, env=None, timeout=600):
    """Run ``plugins/modules/<name>.py`` with ``args`` the way Ansible hands them over; return a :class:`ModuleRun`."""
    payload = dict(args)
    payload.update(_ansible_check_mode=check, _ansible_diff=diff)
    with tempfile.NamedTemporaryFile('w', suffix='.json', delete=False) as handle:
        json.dump({'ANSIBLE_MODULE_ARGS': payload}, handle)
        args_file = handle.name
    try:
        proc = subprocess.run([sys.executable, '-m', 'ansible_collections.secops.rotation.plugins.modules.%s' % name, args_file],
                              capture_output=True, text=True, env=ansible_env(env), timeout=timeout, check=False)
    finally:
        os.unlink(args_file)
    result = None
    for line in reversed(proc.stdout.strip().splitlines()):
        try:
            result = json.loads(line)
            break
        except ValueError:
            continue
    if not isinstance(result, dict):
        raise AssertionError('module %s printed no JSON result (rc %s)\nstdout: %s\nstderr: %s'
                             % (name, proc.returncode, proc.stdout[-3000:], proc.stderr[-3000:]))
    run = ModuleRun(result)
    run.stdout, run.stderr, run.rc = proc.stdout, proc.stderr, proc.returncode
    return run


class PlaybookRun:
    """An ``ansible-playbook`` run: ``rc``, ``output`` (stdout + stderr) and the registered results by name."""

    def __init__(self, proc, results):
        self.rc = proc.returncode
        self.output = proc.stdout + proc.stderr
        self.results = results


def run_playbook(plays, env=None, verbosity=0, check=False, diff=False, extra_vars=None, timeout=900, register=None):
    """Run ``plays`` (a list of plays as Python data, or YAML text) against localhost.

    ``register``: names of registered variables to hand back (read from a JSON file the play writes at the end,
    so secrets never pass through the output being checked).
    """
    with tempfile.TemporaryDirectory(prefix='secops-play-') as tmp:
        tmp = Path(tmp)
        if not isinstance(plays, str):
            plays = yaml.safe_dump(plays, sort_keys=False)
        playbook = yaml.safe_load(plays)
        dump = tmp / 'results.json'
        if register:
            playbook.append({'name': 'Hand registered results to the test', 'hosts': 'localhost', 'gather_facts': False,
                             'tasks': [{'name': 'Dump results', 'no_log': True, 'ansible.builtin.copy': {
                                 'dest': str(dump), 'mode': '0600',
                                 'content': '{{ %s | to_json }}' % ('{' + ', '.join("'%s': %s | default(None)" % (n, n) for n in register) + '}')}}]})
        (tmp / 'playbook.yml').write_text(yaml.safe_dump(playbook, sort_keys=False), encoding='utf-8')
        (tmp / 'inventory.yml').write_text(yaml.safe_dump({'all': {'hosts': {'localhost': {
            'ansible_connection': 'local', 'ansible_python_interpreter': sys.executable}}}}), encoding='utf-8')
        argv = [os.path.join(os.path.dirname(sys.executable), 'ansible-playbook'), '-i', str(tmp / 'inventory.yml'),
                str(tmp / 'playbook.yml')]
        if verbosity:
            argv.append('-' + 'v' * verbosity)
        if check:
            argv.append('--check')
        if diff:
            argv.append('--diff')
        if extra_vars:
            argv += ['-e', json.dumps(extra_vars)]
        proc = subprocess.run(argv, capture_output=True, text=True, env=ansible_env(env), timeout=timeout, cwd=str(REPO), check=False)
        results = json.loads(dump.read_text(encoding='utf-8')) if register and dump.exists() else {}
        return PlaybookRun(proc, results)
