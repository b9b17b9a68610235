"""A cache read of a kind the server does not serve fails with the reason, instead of
waiting forever for an informer that can never list."""

from __future__ import annotations

import pytest

from pilothouse.api import kinds
from pilothouse.client import client as client_mod
from pilothouse.runtime import cache as cache_mod

MISSING = kinds.Kind("nothing.example.com", "v1", "Nothing", "nothings", True)


async def test_read_of_an_unserved_kind_times_out_with_the_reason(
    kube_client: client_mod.Client,
) -> None:
    cache = cache_mod.Cache(kube_client, read_timeout=1.0)
    cache.start()
    try:
        with pytest.raises(cache_mod.CacheNotSynced, match="404") as exc_info:
            await cache.get(MISSING, "x", "default")
        assert "nothings.nothing.example.com" in str(exc_info.value)
    finally:
        await cache.stop()
