# Copyright (c) 2026 secops.rotation contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one place that makes this checkout importable as ``ansible_collections.secops.rotation``.

``<repo>/.build/collections/ansible_collections/secops/rotation -> <repo>`` (idempotent, safe when several
pytest/xdist processes start at once): :func:`ensure_collection_link` makes it, :func:`add_collection_to_path`
also puts ``<repo>/.build/collections`` first on ``sys.path``. Importing this module (or any ``lab`` module)
does neither: entry points call :func:`add_collection_to_path` (``python -m lab``, ``tests/conftest.py``,
:func:`lab.runner.ansible_env`). ``python -m lab.collection`` (``make collection``) makes the link for
``ansible-playbook`` (ANSIBLE_COLLECTIONS_PATH) and prints the collections root.
"""

import os
import sys

REPO = os.path.realpath(os.path.join(os.path.dirname(__file__), '..'))
COLLECTIONS_ROOT = os.path.join(REPO, '.build', 'collections')
COLLECTION = 'ansible_collections.secops.rotation'


def ensure_collection_link():
    """Create the symlink if it is missing or points elsewhere; return the collections root."""
    namespace_dir = os.path.join(COLLECTIONS_ROOT, 'ansible_collections', 'secops')
    link = os.path.join(namespace_dir, 'rotation')
    os.makedirs(namespace_dir, exist_ok=True)
    if os.path.islink(link) and os.path.realpath(link) == REPO:
        return COLLECTIONS_ROOT
    if os.path.exists(link) and not os.path.islink(link):
        raise RuntimeError('%s exists and is not a symlink; remove it' % link)
    # Create under a unique name, then rename over: atomic, and concurrent runs all end up with the same link.
    tmp_link = '%s.%d.tmp' % (link, os.getpid())
    try:
        os.symlink(REPO, tmp_link)
        os.replace(tmp_link, link)
    finally:
        if os.path.lexists(tmp_link):
            os.unlink(tmp_link)
    return COLLECTIONS_ROOT


def add_collection_to_path():
    """Ensure the link and put the collections root first on ``sys.path``."""
    root = ensure_collection_link()
    if root not in sys.path:
        sys.path.insert(0, root)
    return root


def atomic_write(path, content, **kwargs):
    """The collection's own ``_files.atomic_write`` (mode set before the content lands), for the lab's files.

    Imported on first use, so importing ``lab`` needs no collection; the entry point must have called
    :func:`add_collection_to_path`.
    """
    try:
        from ansible_collections.secops.rotation.plugins.module_utils import _files  # pylint: disable=import-outside-toplevel
    except ModuleNotFoundError as exc:
        if not (exc.name or '').startswith('ansible_collections'):
            raise
        raise ModuleNotFoundError(f'{COLLECTION} is not importable ({exc}): call lab.collection.add_collection_to_path() '
                                  'at the entry point first', name=exc.name) from exc
    return _files.atomic_write(path, content, **kwargs)


def main():
    """``python -m lab.collection``: make the link, print the collections root (for ANSIBLE_COLLECTIONS_PATH)."""
    try:
        print(ensure_collection_link())
    except (OSError, RuntimeError) as exc:
        print(f'lab.collection: {exc}', file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
