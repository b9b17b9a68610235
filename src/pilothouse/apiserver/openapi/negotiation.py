"""Media types of the OpenAPI endpoints and the ``Accept`` negotiation that picks one.

``/openapi/v2`` answers JSON or gnostic protobuf, ``/openapi/v3/*`` JSON only. Design
choice: both protobuf spellings are accepted in requests (client-go sends the ``@`` one) but
only the ``.v1.0`` one is ever declared, because Go's mime parser rejects ``@`` in a
response Content-Type.
"""

from __future__ import annotations

from pilothouse.apiserver import discovery

JSON = "application/json"
#: The protobuf media type answered with. client-go asks for the older ``...spec.v2@v1.0+
#: protobuf`` spelling, but Go's mime parser rejects ``@`` in a response Content-Type, so
#: kube-openapi accepts both and always declares this one.
V2_PROTOBUF = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"
V2_PROTOBUF_REQUESTED = (V2_PROTOBUF, "application/com.github.proto-openapi.spec.v2@v1.0+protobuf")


def negotiate_openapi(accept: str | None, version: int) -> str | None:
    """The content type to answer ``/openapi/v2`` (JSON or :data:`V2_PROTOBUF`) or
    ``/openapi/v3/*`` (JSON only) with, or None when nothing acceptable is offered (406)."""
    for q, media, _ in discovery.parse_accept(accept or "*/*"):
        if q > 0 and media in (JSON, "application/*", "*/*"):
            return JSON
        if q > 0 and version == 2 and media in V2_PROTOBUF_REQUESTED:
            return V2_PROTOBUF
    return None
