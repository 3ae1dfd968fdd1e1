# -*- coding: utf-8 -*-
# Copyright (c) 2026 secops.rotation contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The collection's error base. A leaf: it imports nothing of the collection and no third-party library, so every
module_utils file can derive its errors from it without importing another backend (``_common`` no longer pulls
boto3 into modules that do not use AWS).

Private to the collection: the leading underscore means no compatibility promise to other collections.
"""

from __future__ import annotations


class OperatorError(Exception):
    """A problem described for the operator: ``str(exc)`` says what was wrong in words one can act on, and never
    holds a secret. ``run_module`` turns it into ``fail_json(msg=str(exc))``; anything else is a bug (traceback)."""


class RotationError(OperatorError):
    """A rotation cannot go on (invalid input, a state the module refuses to act on, a failed check)."""


class MissingLibraryError(OperatorError):
    """A Python library an option needs is not installed on the host that runs the module.

    ``library`` is the pip name, ``reason`` what needs it (``None``: the module as a whole), ``import_error`` the
    traceback text of the failed import. ``run_module`` reports it with Ansible's ``missing_required_lib`` message.
    """

    def __init__(self, library: str, import_error: str | None = None, reason: str | None = None) -> None:
        super().__init__('%s is required%s' % (library, ' for %s' % reason if reason else ''))
        self.library = library
        self.import_error = import_error
        self.reason = reason
