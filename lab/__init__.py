"""Local lab of real servers (OpenBao, PostgreSQL, moto) for the secops.rotation integration tests and demo.

Usage: ``python -m lab up|down|status|env [--dir DIR]`` or ``Lab(state_dir).up()`` from Python (after
``lab.collection.add_collection_to_path()``, which the lab's files are written with).

Importing ``lab`` imports nothing else: the names below load :mod:`lab.core` on first use, so ``python -m
lab.collection`` or ``python -m lab.tls_app`` do not pull in the servers' clients.
"""

import importlib

# Not __all__: these are not defined until first use (a star import of lab is not supported).
EXPORTS = ('Lab', 'LabError', 'file_lock', 'is_same_process', 'load_env', 'probe', 'process_identity', 'stop_processes', 'write_env')


def __getattr__(name):
    if name in EXPORTS:
        return getattr(importlib.import_module('.core', __name__), name)
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')


def __dir__():
    return sorted([*globals(), *EXPORTS])
