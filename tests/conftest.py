# Copyright (c) 2026 secops.rotation contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Make this checkout importable as ``ansible_collections.secops.rotation`` and ``lab`` for plain ``pytest tests``.

The only place the tests set this up: pytest loads this root conftest before any other (tests/integration/conftest.py
imports ``lab`` without further ado), and ``lab.collection`` owns the link and the ``sys.path`` entry.
"""


import os
import sys

sys.path.insert(0, os.path.realpath(os.path.join(os.path.dirname(__file__), '..')))

from lab.collection import add_collection_to_path  # noqa: E402  pylint: disable=wrong-import-position

add_collection_to_path()


def pytest_configure(config):
    config.addinivalue_line('markers', 'smoke: the quick end-to-end test that `make matrix` runs on every supported ansible-core')
