"""The ``pilothouse`` command (typer + rich).

* :mod:`~pilothouse.cli.main` -- the application and its top-level commands.
* :mod:`~pilothouse.cli.cluster` -- ``pilothouse cluster up``: the embedded API server in the
  foreground.
"""
