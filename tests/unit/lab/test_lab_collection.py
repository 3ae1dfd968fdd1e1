# Copyright (c) 2026 secops.rotation contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""lab/collection.py is the one place that links the checkout as ``ansible_collections.secops.rotation``.

Each test works on a copy of ``lab/`` in a temporary "checkout", so the link it may make is that copy's, and
runs Python in a fresh subprocess, so this pytest's own ``sys.path`` (set up by tests/conftest.py) is not involved.
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

LAB = Path(__file__).resolve().parents[3] / 'lab'
MODULES = sorted(['lab'] + ['lab.' + path.stem for path in LAB.glob('*.py') if path.stem != '__init__'])
IMPORT = """
import importlib, json, sys
before = list(sys.path)
importlib.import_module(sys.argv[1])
print(json.dumps({'path_changed': sys.path != before,
                  'collection_imported': sorted(m for m in sys.modules if m.startswith('ansible_collections'))}))
"""


@pytest.fixture
def checkout(tmp_path):
    """A directory holding a copy of lab/ (and nothing else): what lab.collection takes for the repo."""
    repo = tmp_path / 'repo'
    shutil.copytree(LAB, repo / 'lab', ignore=shutil.ignore_patterns('__pycache__'))
    return repo


def _python(repo, *args):
    env = {name: value for name, value in os.environ.items() if name != 'PYTHONPATH'}
    return subprocess.run([sys.executable, *args], cwd=repo, env=env, capture_output=True, text=True, timeout=60, check=False)


def _link(repo):
    return repo / '.build' / 'collections' / 'ansible_collections' / 'secops' / 'rotation'


def test_every_lab_module_is_listed():
    """The parametrized import test below covers the modules that exist (the split must not hide one)."""
    assert {'lab.core', 'lab.process', 'lab.openbao', 'lab.postgres', 'lab.moto_server', 'lab.collection',
            'lab.apps', 'lab.tls_app', 'lab.runner', 'lab.__main__'} <= set(MODULES)


@pytest.mark.parametrize('module', MODULES)
def test_importing_a_lab_module_has_no_side_effects(checkout, module):
    """Importing any lab module neither changes sys.path, nor imports the collection, nor creates the link."""
    proc = _python(checkout, '-c', IMPORT, module)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.splitlines()[-1]) == {'path_changed': False, 'collection_imported': []}
    assert not (checkout / '.build').exists()


def test_python_m_lab_collection_creates_the_link_idempotently(checkout):
    """``python -m lab.collection`` (make collection) links the checkout and prints the collections root; again: same link."""
    root = checkout / '.build' / 'collections'
    first = _python(checkout, '-m', 'lab.collection')
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip() == str(root.resolve())
    link = _link(checkout)
    assert link.is_symlink() and link.resolve() == checkout.resolve()
    inode = os.lstat(link).st_ino
    again = _python(checkout, '-m', 'lab.collection')
    assert (again.returncode, again.stdout, again.stderr) == (0, first.stdout, '')
    assert os.lstat(link).st_ino == inode  # left alone, not re-created
    assert sorted(os.listdir(link.parent)) == ['rotation']  # no temporary link left behind


def test_python_m_lab_collection_repairs_a_link_to_elsewhere(checkout, tmp_path):
    """A link to another checkout (e.g. a moved worktree) is replaced by one to this checkout."""
    link = _link(checkout)
    link.parent.mkdir(parents=True)
    link.symlink_to(tmp_path)
    proc = _python(checkout, '-m', 'lab.collection')
    assert proc.returncode == 0, proc.stderr
    assert link.resolve() == checkout.resolve()


def test_python_m_lab_collection_refuses_to_replace_a_directory(checkout):
    """A real directory where the link belongs is not deleted: exit 1 and say what to remove."""
    link = _link(checkout)
    link.mkdir(parents=True)
    proc = _python(checkout, '-m', 'lab.collection')
    assert proc.returncode == 1
    assert 'exists and is not a symlink; remove it' in proc.stderr and 'Traceback' not in proc.stderr
    assert link.is_dir() and not link.is_symlink()


def test_add_collection_to_path_puts_the_root_first_once(checkout):
    """The entry point's one call: link made, the collections root first on sys.path, not added twice."""
    code = ('import sys; from lab.collection import add_collection_to_path as add; a = add(); b = add(); '
            'print(a == b == sys.path[0], sys.path.count(a))')
    proc = _python(checkout, '-c', code)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ['True', '1']
    assert _link(checkout).is_symlink()


def test_lab_files_without_the_collection_say_what_to_call(checkout, tmp_path):
    """Writing a lab file before the entry point set up the collection fails with the fix in the message."""
    code = 'import sys; from lab.core import write_env; write_env(sys.argv[1], {"A": "b"})'
    proc = _python(checkout, '-c', code, str(tmp_path / 'env'))
    assert proc.returncode == 1
    assert 'call lab.collection.add_collection_to_path() at the entry point first' in proc.stderr
    assert not (tmp_path / 'env').exists() and not (checkout / '.build').exists()
