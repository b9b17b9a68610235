"""An async Kubernetes client: configuration, auth, and typed or raw access to objects.

* :mod:`~pilothouse.client.config` -- kubeconfig and in-cluster configuration.
* :mod:`~pilothouse.client.client` -- :class:`~pilothouse.client.client.Client`.
* :mod:`~pilothouse.client.errors` -- API errors as exceptions.
"""
