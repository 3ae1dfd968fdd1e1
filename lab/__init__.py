"""Local lab of real servers (OpenBao, PostgreSQL, moto) for the secops.rotation integration tests and demo.

Usage: ``python -m lab up|down|status|env [--dir DIR]`` or ``Lab(state_dir).up()`` from Python.
"""

from .core import Lab, LabError, file_lock, is_same_process, load_env, probe, process_identity, stop_processes, write_env

__all__ = ['Lab', 'LabError', 'file_lock', 'is_same_process', 'load_env', 'probe', 'process_identity', 'stop_processes', 'write_env']
