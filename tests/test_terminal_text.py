"""Text from peers written to a terminal (log lines, transcripts) shows every control,
format and undecodable character as an escape, and leaves all other text as it is."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from inspector.helpers import _MULTI_LINE, _ONE_LINE, terminal_text


@given(st.text(), st.booleans())
def test_only_the_unsafe_characters_change(text: str, one_line: bool) -> None:
    table = _ONE_LINE if one_line else _MULTI_LINE
    assert terminal_text(text, one_line) == "".join(table.get(ord(char), char) for char in text)


def test_escape_sequences_newlines_and_bidi_controls_are_shown_not_obeyed() -> None:
    assert terminal_text("hi\x1b]0;owned\x07 there\n") == "hi\\x1b]0;owned\\x07 there\n"
    assert terminal_text("a\nb\tc", one_line=True) == "a\\x0ab\\x09c"
    assert terminal_text("abc\u202edef") == "abc\\u202edef"
    assert terminal_text("caf\u00e9 \u00a0 \U0001f600") == "caf\u00e9 \u00a0 \U0001f600"
    assert terminal_text("bad \udcff byte") == "bad \\udcff byte"
