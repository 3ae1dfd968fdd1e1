# Copyright (c) 2026 secops.rotation contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Make this checkout importable as ``ansible_collections.secops.rotation`` (for pytest and the demo).

Creates ``<repo>/.build/collections/ansible_collections/secops/rotation -> <repo>`` (idempotent, safe when
several pytest/xdist processes start at once) and puts ``<repo>/.build/collections`` first on ``sys.path``.
``make collection`` makes the same link for ``ansible-playbook`` (ANSIBLE_COLLECTIONS_PATH).
"""

import os
import sys

REPO = os.path.realpath(os.path.join(os.path.dirname(__file__), '..'))
COLLECTIONS_ROOT = os.path.join(REPO, '.build', 'collections')


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
