"""``python -m pilothouse.cli``: the same as the ``pilothouse`` command."""

from pilothouse.cli import main

main.main()
