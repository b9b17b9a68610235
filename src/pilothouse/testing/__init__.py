"""Test kit: the embedded API server for tests.

* :mod:`~pilothouse.testing.apiserver` -- :class:`ServerThread`, an :class:`APIServer` on its
  own event loop in a background thread, so that blocking clients (kubectl, the official
  ``kubernetes`` client) and async code under test can both talk to it.
* :mod:`~pilothouse.testing.eventually` -- polling helpers with deadlines, instead of sleeps.
"""
