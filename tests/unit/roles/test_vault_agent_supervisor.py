# Copyright (c) 2026 secops.rotation contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""roles/vault_agent/files/vault_agent_supervisor.py without an agent binary: a shell script stands in for it.

Regression tests of the security review: the root ``run`` process never gets the variables of ``--env-file``
(only the agent child does), temporary files are created exclusively and pid/log files never through a symlink.
"""


import importlib.util
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

SUPERVISOR = Path(__file__).resolve().parents[3] / 'roles' / 'vault_agent' / 'files' / 'vault_agent_supervisor.py'
FAKE_AGENT = """#!/bin/sh
# stands in for `bao agent -config=...`: writes its pid file, then waits
echo $$ > "{pid_file}"
trap 'exit 0' TERM
i=0
while [ $i -lt 600 ]; do sleep 0.2; i=$((i + 1)); done
"""


@pytest.fixture(scope='module')
def sup():
    spec = importlib.util.spec_from_file_location('vault_agent_supervisor', str(SUPERVISOR))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def environ(pid):
    with open('/proc/%d/environ' % pid, 'rb') as handle:
        return dict(item.split(b'=', 1) for item in handle.read().split(b'\0') if b'=' in item)


def test_write_atomic_replaces_a_planted_symlink_instead_of_following_it(sup, tmp_path):
    victim = tmp_path / 'victim'
    victim.write_text('untouched\n', encoding='utf-8')
    target = tmp_path / 'supervisor.pid'
    os.symlink(str(victim), '%s.tmp%d' % (target, os.getpid()))
    sup._write_atomic(str(target), '123\n')
    assert target.read_text(encoding='utf-8') == '123\n' and not target.is_symlink()
    assert victim.read_text(encoding='utf-8') == 'untouched\n'
    assert not os.path.lexists('%s.tmp%d' % (target, os.getpid()))


def test_pid_and_log_files_are_not_opened_through_a_symlink(sup, tmp_path):
    victim = tmp_path / 'victim'
    victim.write_text('42\n', encoding='utf-8')
    link = tmp_path / 'link'
    os.symlink(str(victim), str(link))
    with pytest.raises(OSError):
        sup._open_log(str(link))
    assert sup._read_pid(str(link)) is None
    assert sup._read_pid(str(victim)) == 42
    assert sup._tail(str(link)) == ''
    assert victim.read_text(encoding='utf-8') == '42\n'


def test_the_env_file_reaches_the_agent_only_never_the_supervisor(tmp_path):
    agent_pid_file = tmp_path / 'run' / 'agent.pid'
    agent_pid_file.parent.mkdir()
    binary = tmp_path / 'fake-agent'
    binary.write_text(FAKE_AGENT.format(pid_file=agent_pid_file), encoding='utf-8')
    binary.chmod(0o755)
    planted = tmp_path / 'planted'
    planted.mkdir()
    marker = tmp_path / 'imported'
    (planted / 'sitecustomize.py').write_text('open(%r, "w").close()\n' % str(marker), encoding='utf-8')
    env_file = tmp_path / 'agent.env'
    env_file.write_text('PYTHONPATH="%s"\nLD_PRELOAD="/nonexistent/evil.so"\nAGENT_ONLY="yes"\n' % planted, encoding='utf-8')
    config = tmp_path / 'agent.hcl'
    config.write_text('# not read by the fake agent\n', encoding='utf-8')
    common = ['--pid-file', str(tmp_path / 'supervisor.pid'), '--config', str(config), '--binary', str(binary),
              '--log-file', str(tmp_path / 'agent.log'), '--env-file', str(env_file), '--agent-pid-file', str(agent_pid_file),
              '--grace', '3', '--wait', '20']
    run_env = {key: value for key, value in os.environ.items() if key not in ('PYTHONPATH', 'LD_PRELOAD')}
    try:
        proc = subprocess.run([sys.executable, str(SUPERVISOR), 'start'] + common, capture_output=True, text=True,
                              timeout=60, check=False, env=run_env)
        assert proc.returncode == 0, proc.stdout + proc.stderr + (tmp_path / 'agent.log').read_text(encoding='utf-8')
        status = json.loads(proc.stdout)
        assert status['running'] and status['agents'], status
        supervisor_env = environ(status['pid'])
        assert not {b'PYTHONPATH', b'LD_PRELOAD', b'AGENT_ONLY'} & set(supervisor_env), supervisor_env
        agent_env = environ(status['agents'][0])
        assert agent_env[b'AGENT_ONLY'] == b'yes' and agent_env[b'PYTHONPATH'] == str(planted).encode()
        time.sleep(0.5)
        marker_seen = marker.exists()
    finally:
        stop = subprocess.run([sys.executable, str(SUPERVISOR), 'stop'] + common, capture_output=True, text=True,
                              timeout=60, check=False)
    assert stop.returncode == 0 and not json.loads(stop.stdout)['agents'], stop.stdout + stop.stderr
    assert not marker_seen, 'the root supervisor imported code from the env file PYTHONPATH'
