"""ServiceAccount token minting and authentication."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from pilothouse.apiserver import tokens


def test_admin_and_service_account_tokens() -> None:
    assert tokens.authenticate("admin", "admin") == tokens.ADMIN
    t = tokens.mint("admin", "ns", "robot", "uid-1", ["api"], expires_at=2_000)
    user = tokens.authenticate("admin", t, now=1_000)
    assert user is not None and user.username == "system:serviceaccount:ns:robot"
    assert "system:serviceaccounts:ns" in user.groups and user.uid == "uid-1"
    assert tokens.authenticate("admin", t, now=3_000) is None  # expired
    assert tokens.authenticate("other-admin", t, now=1_000) is None  # another server's key
    forged = t[:-2] + ("AA" if not t.endswith("AA") else "BB")
    assert tokens.authenticate("admin", forged, now=1_000) is None


@given(st.text(max_size=200))
def test_garbage_never_authenticates(text: str) -> None:
    assert text == "admin-token" or tokens.authenticate("admin-token", text) is None
