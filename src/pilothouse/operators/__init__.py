"""Operators built on the Pilothouse runtime, one package each.

- ``storm``: Apache Storm; its native Nimbus Thrift client and a Nimbus emulator
  live in ``storm.nimbus``.

Operators import the runtime's public modules, never each other.
"""
