"""Apache Storm on Kubernetes.

``nimbus`` is the native Thrift client for Nimbus (pool, retries, circuit
breaking, JAR upload and cache, topology builder) and the Nimbus emulator used
by tests and by the local ``pilothouse up``. Start with ``nimbus/__init__.py``.
"""
