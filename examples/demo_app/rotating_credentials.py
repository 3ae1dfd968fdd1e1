# Copyright (c) 2026 secops.rotation contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Dual credentials for applications whose secrets are rotated blue-green (standard library only).

During a rotation an application is first given two credentials: the one it uses (A) and the next one (B).
Then the order is swapped (B first, A second), and only when no instance uses A any more is A revoked.
:class:`RotatingCredentialProvider` implements the application side: use the primary credential; when the
server rejects it as an authentication failure, try the other one and remember the one that works.

Credentials are opaque to the provider (here: dicts such as ``{'username': ..., 'password': ...}`` or
``{'access_key_id': ..., 'secret_access_key': ...}``); only the ``is_auth_error`` callable knows what an
authentication failure looks like for a given client library::

    provider = RotatingCredentialProvider(primary, secondary, is_auth_error=lambda exc: exc.code == 'auth')
    rows = provider.call(lambda cred: query_with(cred))   # primary, on an auth failure secondary
    provider.reset(new_primary, new_secondary)            # on a config reload: primary is active again
"""

import threading

__all__ = ['RotatingCredentialProvider']


class RotatingCredentialProvider:
    """An ordered pair of credentials (primary, secondary or ``None``) and the one currently in use.

    * :meth:`call` runs ``fn(credential)`` with the active credential (initially the primary one). If ``fn``
      raises an exception for which ``is_auth_error(exc)`` is true and there is another credential, ``fn`` is run
      again with that one; when it succeeds, it becomes the active credential. Any other exception propagates
      unchanged and switches nothing; so does the second failure.
    * :meth:`reset` installs a new pair (on a config reload) and makes its primary active.
    * ``on_switch(old, new)`` is called whenever the active credential changes (fallback or reset), so that
      a connection pool can close the connections of ``old``. It runs while the provider's (reentrant) lock is
      held, so switches are reported in the order they happen: keep it short, and do not wait in it for another
      thread that uses this provider.

    Thread-safe: a lock protects the state, never ``fn`` (calls run concurrently).
    """

    def __init__(self, primary, secondary=None, is_auth_error=None, on_switch=None):
        if primary is None:
            raise ValueError('a primary credential is required')
        if is_auth_error is None or not callable(is_auth_error):
            raise ValueError('is_auth_error must be a callable taking an exception')
        self._lock = threading.RLock()
        self._is_auth_error = is_auth_error
        self.on_switch = on_switch
        self._primary = primary
        self._secondary = secondary
        self._active = primary
        self._generation = 0  # +1 per reset(): a fallback decided on an older pair is not applied

    @property
    def active(self):
        """The credential in use now."""
        with self._lock:
            return self._active

    @property
    def primary(self):
        """The primary credential of the current pair."""
        with self._lock:
            return self._primary

    @property
    def secondary(self):
        """The secondary credential of the current pair, or ``None``."""
        with self._lock:
            return self._secondary

    def credentials(self):
        """The current pair as a tuple ``(primary, secondary)``."""
        with self._lock:
            return self._primary, self._secondary

    def _other(self, credential):
        if credential is self._primary or credential == self._primary:
            return self._secondary
        return self._primary

    def _switch(self, old, new):
        """Make ``new`` active (lock held) and report the change."""
        self._active = new
        if self.on_switch is not None and new != old:
            self.on_switch(old, new)

    def call(self, fn):
        """Return ``fn(credential)``: with the active credential, on an authentication failure with the other one."""
        with self._lock:
            first, generation = self._active, self._generation
            other = self._other(first)
        try:
            return fn(first)
        except Exception as exc:  # pylint: disable=broad-except
            if other is None or not self._is_auth_error(exc):
                raise
        result = fn(other)  # its own failure propagates (the first credential was rejected too)
        with self._lock:
            # Remember what works, unless the pair was reset or another caller switched already meanwhile.
            if self._generation == generation and self._active is first:
                self._switch(first, other)
        return result

    def reset(self, primary, secondary=None):
        """Install a new pair (config reload) and make its primary the active credential."""
        if primary is None:
            raise ValueError('a primary credential is required')
        with self._lock:
            old = self._active
            self._primary, self._secondary = primary, secondary
            self._generation += 1
            self._switch(old, primary)
