"""Shared fixtures: embedded API servers on a background thread (see pilothouse.testing)."""

from __future__ import annotations

import pathlib
from collections.abc import Iterator

import pytest

from pilothouse.apiserver import server as server_mod
from pilothouse.testing import apiserver as testing_apiserver


@pytest.fixture
def cluster(tmp_path: pathlib.Path) -> Iterator[testing_apiserver.ServerThread]:
    """A fresh in-memory API server with a kubeconfig, per test."""
    srv = testing_apiserver.ServerThread(server_mod.ServerConfig(simulation=False))
    srv.start(kubeconfig=tmp_path / "kubeconfig")
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture(scope="module")
def shared_cluster(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[testing_apiserver.ServerThread]:
    """One server for a whole test module; tests keep to their own namespaces."""
    path = tmp_path_factory.mktemp("shared") / "kubeconfig"
    srv = testing_apiserver.ServerThread(server_mod.ServerConfig(simulation=False))
    srv.start(kubeconfig=path)
    try:
        yield srv
    finally:
        srv.stop()
