"""Failure: capturing, inspecting, re-raising and printing exceptions."""

from __future__ import annotations

import gc
import io
import pickle
import sys
import traceback
import weakref

import pytest

from inspector.failure import Failure, NoCurrentExceptionError


class Payload:
    """Something big a frame may hold on to."""


def _raise_value_error(message: str = "bad value") -> None:
    raise ValueError(message)


def _failure_from_function() -> Failure:
    try:
        _raise_value_error()
    except ValueError:
        return Failure()
    raise AssertionError("unreachable")


def test_failure_in_except_block_captures_type_value_and_traceback() -> None:
    f = _failure_from_function()
    assert f.type is ValueError
    assert isinstance(f.value, ValueError)
    assert f.value.args == ("bad value",)
    assert f.tb is not None
    names = [frame[0] for frame in f.frames]
    assert names[-1] == "_raise_value_error"
    assert "_failure_from_function" in names


def test_failure_outside_except_block_without_exception_is_a_clear_error() -> None:
    with pytest.raises(NoCurrentExceptionError, match="none is being handled"):
        Failure()


@pytest.mark.parametrize("bad", ["x", 42, ValueError])
def test_failure_rejects_a_non_exception(bad: object) -> None:
    with pytest.raises(TypeError, match="exception instance"):
        Failure(bad)  # type: ignore[arg-type]


def test_failure_of_a_raised_exception_uses_its_traceback() -> None:
    try:
        _raise_value_error("later")
    except ValueError as e:
        caught = e
    f = Failure(caught)  # made after the except block
    assert f.frames[-1][0] == "_raise_value_error"
    assert f.getErrorMessage() == "later"


def test_failure_of_an_unraised_exception_has_no_frames() -> None:
    f = Failure(KeyError("k"))
    assert f.frames == []
    assert f.getTraceback().startswith("Traceback (failure with no frames):")
    assert "KeyError" in f.getTraceback()


def test_making_a_failure_formats_nothing() -> None:
    formatted = []

    class Loud(Exception):
        def __str__(self) -> str:
            formatted.append(1)
            return "loud"

    f = Failure(Loud())
    f2 = Failure(f)
    assert formatted == []
    assert f2.getErrorMessage() == "loud"
    assert formatted == [1]


def test_failure_of_a_failure_copies_it() -> None:
    original = _failure_from_function()
    copy = Failure(original)
    assert copy.value is original.value
    assert copy.type is original.type
    assert copy.frames == original.frames


def test_get_error_message_survives_a_broken_str() -> None:
    class Broken(Exception):
        def __str__(self) -> str:
            raise RuntimeError("nope")

    message = Failure(Broken()).getErrorMessage()
    assert "Broken" in message and "str() failed" in message


def test_check_matches_classes_bases_and_qualified_names() -> None:
    f = Failure(KeyError("k"))
    assert f.check(ValueError) is None
    assert f.check(ValueError, LookupError) is LookupError
    assert f.check(KeyError) is KeyError
    assert f.check("builtins.KeyError") == "builtins.KeyError"
    assert f.check("builtins.LookupError") == "builtins.LookupError"
    assert f.check("builtins.ValueError") is None


def test_trap_returns_the_matching_type() -> None:
    f = Failure(KeyError("k"))
    assert f.trap(ValueError, KeyError) is KeyError


def test_trap_without_a_match_reraises_the_same_failure() -> None:
    f = _failure_from_function()
    with pytest.raises(ValueError) as info:
        f.trap(KeyError)
    assert info.value is f.value
    try:
        f.trap(KeyError)
    except ValueError:
        again = Failure()
    # Caught again, it is still the failure from where the error first happened.
    assert again.value is f.value
    assert again.frames == f.frames


def test_failure_recaptured_after_raise_exception_is_the_same_object() -> None:
    f = _failure_from_function()
    try:
        f.raiseException()
    except ValueError:
        recaptured = Failure._fromCurrent()
        copied = Failure()
    assert recaptured is f
    assert copied.value is f.value and copied.frames == f.frames


def test_raise_exception_raises_the_original_with_its_traceback() -> None:
    f = _failure_from_function()
    with pytest.raises(ValueError) as info:
        f.raiseException()
    assert info.value is f.value
    names = [entry.name for entry in traceback.extract_tb(info.value.__traceback__)]
    assert "_raise_value_error" in names


def test_throw_exception_into_generator() -> None:
    seen = []

    def gen():  # type: ignore[no-untyped-def]
        try:
            yield 1
        except ValueError as e:
            seen.append(e)
            yield 2

    g = gen()
    next(g)
    f = Failure(ValueError("into"))
    assert f.throwExceptionIntoGenerator(g) == 2
    assert seen == [f.value]


def test_clean_failure_drops_frames_but_keeps_the_traceback_text() -> None:
    def hold_and_raise() -> None:
        big = Payload()
        holder.append(weakref.ref(big))
        raise ValueError("with locals")

    holder: list[weakref.ref] = []
    try:
        hold_and_raise()
    except ValueError:
        f = Failure()
    before = f.getTraceback()
    f.cleanFailure()
    gc.collect()
    assert holder[0]() is None, "a cleaned Failure must not keep frame locals alive"
    assert f.tb is None and f.value.__traceback__ is None
    assert f.getTraceback() == before
    assert "hold_and_raise" in f.getTraceback()


def test_clean_failure_also_drops_frames_of_the_exception_it_was_raised_during() -> None:
    holder: list[weakref.ref] = []

    def fail_first() -> None:
        big = Payload()
        holder.append(weakref.ref(big))
        raise KeyError("first")

    try:
        try:
            fail_first()
        except KeyError:
            raise ValueError("second")
    except ValueError:
        f = Failure()
    f.cleanFailure()
    gc.collect()
    assert holder[0]() is None
    assert f.getErrorMessage() == "second"


def test_get_traceback_reads_like_python() -> None:
    f = _failure_from_function()
    text = f.getTraceback()
    lines = text.splitlines()
    assert lines[0] == "Traceback (most recent call last):"
    assert f'File "{__file__}"' in text
    assert "in _raise_value_error" in text
    assert "raise ValueError(message)" in text  # the source line
    assert lines[-1] == "ValueError: bad value"
    python = "".join(traceback.format_exception(f.value))
    assert python.splitlines()[-1] == lines[-1]


def test_brief_traceback_and_printing() -> None:
    f = _failure_from_function()
    brief = f.getBriefTraceback()
    assert f"{__file__}:" in brief and ":_raise_value_error" in brief
    out = io.StringIO()
    f.printTraceback(out)
    assert out.getvalue() == f.getTraceback()
    out = io.StringIO()
    f.printBriefTraceback(file=out)
    assert out.getvalue() == brief
    assert str(f).startswith("[Failure instance: Traceback")
    assert "ValueError" in repr(f) and "bad value" in repr(f)


def test_failure_pickles_as_plain_data() -> None:
    f = _failure_from_function()
    text = f.getTraceback()
    back = pickle.loads(pickle.dumps(f))
    assert back.type is ValueError
    assert back.getErrorMessage() == "bad value"
    assert back.getTraceback() == text


def test_failure_parents_lists_qualified_base_names() -> None:
    f = Failure(KeyError("k"))
    assert "builtins.KeyError" in f.parents
    assert "builtins.Exception" in f.parents


def test_base_exceptions_are_wrapped_too() -> None:
    try:
        sys.exit(3)
    except SystemExit:
        f = Failure()
    assert f.check(SystemExit) is SystemExit
