"""The token envelope: what it stores comes back as it was, whatever the hrefs hold, and older versions still read."""

from __future__ import annotations

from calsync.sync.tokens import TokenEnvelope


def test_the_token_envelope_keeps_hrefs_with_any_character() -> None:
    hrefs = {"plain.ics", "two\nlines.ics", "100%25.ics", "sep\x1farated.ics", "cr\r.ics", "a%0A.ics"}
    envelope = TokenEnvelope("server-token\nwith lines", hrefs)
    assert TokenEnvelope.decode(envelope.encode()) == envelope


def test_a_version_1_envelope_is_still_read() -> None:
    assert TokenEnvelope.decode("calsync-token/1\na%25.ics\x1fb.ics\n=tok") == TokenEnvelope(
        "tok", {"a%25.ics", "b.ics"}
    )


def test_the_token_envelope_keeps_its_window_edge() -> None:
    envelope = TokenEnvelope("tok", {"a.ics"}, edge=1_795_000_000)
    assert TokenEnvelope.decode(envelope.encode()) == envelope
    assert TokenEnvelope.decode(TokenEnvelope("tok").encode()).edge is None
