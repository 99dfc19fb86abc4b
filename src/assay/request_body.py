"""Reading an HTTP request body with a size limit, before anything parses it.

Every service refuses a body over its limit with 413 and reads no more than the limit: a
declared ``Content-Length`` over it is refused before reading, and a chunked or lying body is
cut off as soon as it passes it. Framework-free (it takes the body's chunks), so each service's
``app.py`` maps :class:`BodyTooLarge` to its own protocol's error shape.
"""

from __future__ import annotations

from collections.abc import AsyncIterable

from assay.errors import AssayError


class BodyTooLarge(AssayError):
    """The request body is over the limit (HTTP 413)."""


async def read_bounded(
    chunks: AsyncIterable[bytes], declared_length: str | None, limit: int
) -> bytes:
    """The whole body, or :class:`BodyTooLarge` once it is known to exceed ``limit`` bytes."""
    message = f"request body is larger than the limit of {limit} bytes"
    declared = declared_length
    if declared is not None and declared.isascii() and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge(message, limit=limit)
    body = bytearray()
    async for chunk in chunks:
        body += chunk
        if len(body) > limit:
            raise BodyTooLarge(message, limit=limit)
    return bytes(body)
