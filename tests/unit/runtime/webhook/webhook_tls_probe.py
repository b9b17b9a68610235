"""TLS probes for the certificate tests: a server on a given context, and what a new
handshake with it is shown."""

from __future__ import annotations

import asyncio
import ssl

from cryptography import x509

from pilothouse import pki


async def serve(ctx: ssl.SSLContext) -> asyncio.Server:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()
        writer.close()

    return await asyncio.start_server(handle, "127.0.0.1", 0, ssl=ctx)


async def peer_certificate(server: asyncio.Server, ca_pem: bytes) -> x509.Certificate:
    """The certificate a new TLS connection to ``server`` is shown (verified by ``ca_pem``)."""
    port = server.sockets[0].getsockname()[1]
    client = pki.ssl_client_context(ca_pem)
    _reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=client)
    der = writer.get_extra_info("ssl_object").getpeercert(binary_form=True)
    writer.close()
    await writer.wait_closed()
    return x509.load_der_x509_certificate(der)
