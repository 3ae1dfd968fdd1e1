# Copyright (c) 2026 secops.rotation contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One stand-in for AnsibleModule in unit tests: what run_module and RotationModule use of it.

``exit_json``/``fail_json`` end the run like the real ones, by raising ``SystemExit(('exit' | 'fail', result))``;
the module keeps what ended it in ``outcome`` (``exit``/``fail``), ``failed`` and ``result``.
"""


class FakeModule:
    def __init__(self, params=None, check_mode=False, diff=False, no_log=False):
        self.params = {} if params is None else params
        self.check_mode, self._diff, self.no_log = check_mode, diff, no_log
        self.warnings = []
        self.outcome = self.failed = self.result = None

    def warn(self, text):
        self.warnings.append(text)

    def _end(self, outcome, result):
        self.outcome, self.failed, self.result = outcome, outcome == 'fail', result
        raise SystemExit((outcome, result))

    def fail_json(self, **kwargs):
        self._end('fail', kwargs)

    def exit_json(self, **kwargs):
        self._end('exit', kwargs)
