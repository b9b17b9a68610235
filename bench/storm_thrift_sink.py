"""A Thrift upload sink for the upload benchmark: the emulator's framing, no storage.

Run as ``python -m bench.storm_thrift_sink``: it prints its port and answers
``beginFileUpload``, ``uploadChunk`` and ``finishFileUpload`` over the same framed
binary protocol and the same connection code as the emulator
(``emulator.framing.FramedConnection``, ``wire``), counting the chunks' bytes and
dropping them. Set against ``bench.storm_sink`` without a directory (raw bytes, dropped),
it measures what the Thrift path itself costs: framing, encoding, one reply per chunk.
"""

from __future__ import annotations

import asyncio
import sys

from pilothouse.operators.storm.nimbus import wire
from pilothouse.operators.storm.nimbus.emulator import framing


async def _answer(payload: memoryview) -> bytes | None:
    call = wire.decode_call(payload)
    result = wire.result_for(call)
    if call.method == "beginFileUpload":
        result.success = "sink"
    elif call.method not in ("uploadChunk", "finishFileUpload"):
        return wire.encode_application_error(call.method, call.seqid, "sink: upload calls only")
    return wire.encode_reply(call, result)


async def main() -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: framing.FramedConnection(_answer, wire.DEFAULT_MAX_FRAME), "127.0.0.1", 0
    )
    print(server.sockets[0].getsockname()[1], flush=True)
    await server.serve_forever()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(0)
