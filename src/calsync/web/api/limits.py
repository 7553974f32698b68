"""Reading a request body as JSON with a size limit: an oversized body is refused before it is all read.

Why by hand: the batch routes validate each item on its own (a bad item must not fail the batch), so they read
the body themselves instead of letting FastAPI validate the whole request as one model.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import HTTPException, Request

MAX_BODY = 8 * 1024 * 1024
"""The largest request body taken (8 MiB: a full batch of 500 items with long descriptions fits easily)."""


async def read_json(request: Request, limit: int = MAX_BODY) -> Any:
    """The body parsed as JSON; 413 when it is larger than ``limit``, 400 when it is not JSON (or nested too deeply
    to parse), 415 when it is declared as something else."""
    kind = request.headers.get("content-type", "application/json").split(";")[0].strip().lower()
    if kind not in ("application/json", "") and not kind.endswith("+json"):
        raise HTTPException(415, detail=f"send JSON (Content-Type: application/json), not {kind}")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise HTTPException(413, detail=f"the body is larger than {limit} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise HTTPException(413, detail=f"the body is larger than {limit} bytes")
        chunks.append(chunk)
    try:
        return json.loads(b"".join(chunks))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise HTTPException(400, detail=f"the body is not valid JSON: {exc}") from None
    except RecursionError:  # nesting deeper than the parser's stack: no request of ours nests more than a few
        raise HTTPException(400, detail="the body's JSON is nested too deeply") from None
