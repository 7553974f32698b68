"""The worker's side of scanning: what a worker says first, how it answers, and what messages may hold."""

from __future__ import annotations

import io
import json
import pickle
from pathlib import Path
from typing import Any

import pytest

from calsync.errors import InvalidItem
from calsync.model.canonical import scan
from calsync.sync import scanworker
from tests.sync.test_prescan import texts


def read_message(stream: io.BytesIO) -> object:
    (size,) = scanworker.HEADER.unpack(stream.read(scanworker.HEADER.size))
    return pickle.loads(stream.read(size))


def test_a_worker_answers_a_chunk_with_the_scans_made_here() -> None:
    sent = texts()
    source, sink = io.BytesIO(), io.BytesIO()
    data = pickle.dumps(sent)
    source.write(scanworker.HEADER.pack(len(data)) + data)
    source.seek(0)
    scanworker.serve(source, sink)  # says which code it runs, answers, then ends at the end of its input
    sink.seek(0)
    hello = sink.readline()
    assert hello.startswith(scanworker.MAGIC)
    scanworker.check_same_code(json.loads(hello[len(scanworker.MAGIC) :]))  # the same code as this process
    packed: Any = read_message(sink)
    assert sink.read() == b""
    assert len(packed) == len(sent)
    for (text, media_type), result in zip(sent, packed, strict=True):
        try:
            expected = scan(text, media_type)
        except InvalidItem:
            assert result is None
        else:
            assert scanworker.unpack(result) == expected


def test_messages_naming_a_class_are_refused_never_imported() -> None:
    assert scanworker.plain_loads(pickle.dumps([("text", "text/calendar"), (1.5, None, True)])) == [
        ("text", "text/calendar"),
        (1.5, None, True),
    ]
    with pytest.raises(pickle.UnpicklingError, match="may not name"):
        scanworker.plain_loads(pickle.dumps([Path("/etc/passwd")]))
