# -*- coding: utf-8 -*-
# Copyright (c) 2026 secops.rotation contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The module base: every module of the collection is its documentation, its argument spec and one call

    RotationModule(IamKeyRotator, argument_spec(), requires=[('boto3', BOTO3_IMPORT_ERROR)]).run()

which builds the AnsibleModule (check mode always supported), reports a missing library with Ansible's
``missing_required_lib`` message, constructs the logic class the same way everywhere
(``logic_cls(params, check_mode=..., diff=..., warn=module.warn)``) and runs it through ``run_module`` (clean
failures, no secret in a failed result).

Private to the collection: the leading underscore means no compatibility promise to other collections.
"""

from __future__ import annotations

from typing import Any, Iterable

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.secops.rotation.plugins.module_utils._common import run_module


class RotationModule:
    """``requires``: ``[(pip name, import error or None)]`` checked before anything runs; ``secret_keys``: result keys
    that hold secrets (stripped from a failed result); ``fail_extra``: fields of every failure result (e.g.
    ``changed=False``); the remaining keyword arguments go to AnsibleModule (``mutually_exclusive``, ...)."""

    def __init__(self, logic_cls: type, argument_spec: dict, requires: Iterable[tuple[str, str | None]] = (),
                 secret_keys: Iterable[str] = (), fail_extra: dict | None = None, **ansible_kwargs: Any) -> None:
        self.logic_cls = logic_cls
        self.argument_spec = argument_spec
        self.requires = list(requires)
        self.secret_keys = tuple(secret_keys)
        self.fail_extra = dict(fail_extra or {})
        self.ansible_kwargs = ansible_kwargs

    def build(self) -> AnsibleModule:
        return AnsibleModule(argument_spec=self.argument_spec, supports_check_mode=True, **self.ansible_kwargs)

    def run(self, module: Any = None) -> None:
        module = module or self.build()
        for library, import_error in self.requires:
            if import_error:
                module.fail_json(msg=missing_required_lib(library), exception=import_error, **self.fail_extra)

        def action():
            # built inside run_module, so a constructor that refuses its input fails as cleanly as run() does
            logic = self.logic_cls(module.params, check_mode=module.check_mode, diff=module._diff, warn=module.warn)
            return logic.run()

        run_module(module, action, self.secret_keys, **self.fail_extra)
