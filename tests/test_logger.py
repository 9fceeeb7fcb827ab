"""Twisted's Logger and old-style log API, as records of the standard ``logging`` module."""

from __future__ import annotations

import logging
import re
import subprocess
import sys
import textwrap

import pytest

from inspector import log as oldlog
from inspector.failure import Failure
from inspector.logger import InvalidLogLevelError, Logger, LoggingFile, LogLevel, formatEvent

LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d[+-]\d{4} \[(?P<system>[^\]]*)\] (?P<text>.*)$")


class Records:
    """A live view of the records caplog holds for the running test."""

    def __init__(self, caplog: pytest.LogCaptureFixture) -> None:
        self._caplog = caplog

    def __iter__(self):
        return iter(self._caplog.records)

    def __len__(self) -> int:
        return len(self._caplog.records)

    def __getitem__(self, index: int) -> logging.LogRecord:
        return self._caplog.records[index]


@pytest.fixture
def records(caplog):
    """Every record of every level, as caplog sees them."""
    caplog.set_level(logging.DEBUG)
    return Records(caplog)


def only(records) -> logging.LogRecord:
    assert len(records) == 1, [r.getMessage() for r in records]
    return records[0]


# ----------------------------------------------------------------- new style


def test_format_fields_and_levels(records):
    log = Logger(namespace="inspector.tests.users")
    log.info("{n} users on {where.host}, first {names[0]}", n=3, where=type("A", (), {"host": "irc"})(), names=["ann"])
    record = only(records)
    assert record.getMessage() == "3 users on irc, first ann"
    assert record.name == "inspector.tests.users"
    assert record.levelno == logging.INFO
    assert record.log_event["n"] == 3
    assert record.log_event["log_level"] is LogLevel.info
    assert record.log_event["log_namespace"] == "inspector.tests.users"


@pytest.mark.parametrize(
    "method, level",
    [
        ("debug", logging.DEBUG),
        ("info", logging.INFO),
        ("warn", logging.WARNING),
        ("error", logging.ERROR),
        ("critical", logging.CRITICAL),
    ],
)
def test_each_level_maps_to_logging(records, method, level):
    getattr(Logger(namespace="levels"), method)("at {m}", m=method)
    record = only(records)
    assert (record.levelno, record.getMessage()) == (level, f"at {method}")
    assert record.log_event["log_level"] is LogLevel.levelWithName(method)


def test_levels_are_ordered_and_named_as_twisted():
    assert list(LogLevel.iterconstants()) == sorted(LogLevel.iterconstants())
    assert [level.name for level in LogLevel.iterconstants()] == ["debug", "info", "warn", "error", "critical"]
    assert LogLevel.warn < LogLevel.error
    with pytest.raises(InvalidLogLevelError):
        LogLevel.levelWithName("loud")


def test_a_disabled_level_formats_nothing(caplog):
    caplog.set_level(logging.INFO)
    calls = []
    Logger(namespace="quiet").debug("{costly()}", costly=lambda: calls.append(1) or "x")
    Logger(namespace="quiet").info("{costly()}", costly=lambda: calls.append(1) or "x")
    assert calls == [1]
    assert [r.getMessage() for r in caplog.records] == ["x"]


def test_the_default_namespace_is_the_calling_module(records):
    log = Logger()
    assert log.namespace == __name__
    log.info("hello")
    assert only(records).name == __name__


class Thing:
    log = Logger()

    def __repr__(self) -> str:
        return "<a thing>"

    def hello(self) -> None:
        self.log.info("from {log_source!r} in {log_namespace}")


def test_a_class_attribute_logger_names_the_class_and_its_instance(records):
    Thing().hello()
    record = only(records)
    assert record.name == f"{__name__}.Thing"
    assert record.getMessage() == f"from <a thing> in {__name__}.Thing"
    assert Thing.log.source is Thing
    assert Thing.log.namespace == f"{__name__}.Thing"


def test_the_record_points_at_the_line_that_logged(records):
    Logger(namespace="where").warn("here")
    line = sys._getframe().f_lineno - 1
    record = only(records)
    where = (record.pathname, record.lineno, record.funcName)
    assert where == (__file__, line, "test_the_record_points_at_the_line_that_logged")


@pytest.mark.parametrize("fmt", ["broken {n", "missing {nobody}", "bad spec {n:q}"])
def test_a_broken_format_says_so_and_never_raises(records, fmt):
    Logger(namespace="broken").info(fmt, n=1)
    text = only(records).getMessage()
    assert text.startswith("Unable to format event ")
    assert repr(fmt) in text


@pytest.mark.parametrize(
    "fmt, fields",
    [
        ("{n} users", {"n": 3}),
        ("{a.real} {b[1]} {c[k]}", {"a": 2, "b": [0, 5], "c": {"k": "v"}}),
        ("{f()} {s.upper()}", {"f": lambda: 7, "s": "ab"}),
        ("{x!r:>8}", {"x": "pad"}),
        ("{log_namespace} {log_level.name}", {}),
        ("broken {n", {"n": 1}),
        ("missing {zzz}", {}),
    ],
)
def test_format_event_agrees_with_twisted(fmt, fields):
    twisted_logger = pytest.importorskip(
        "twisted.logger", reason="Twisted is not installed (the bench extra brings it)"
    )
    ours = {"log_format": fmt, "log_namespace": "ns", "log_level": LogLevel.info, **fields}
    theirs = {"log_format": fmt, "log_namespace": "ns", "log_level": twisted_logger.LogLevel.info, **fields}
    expected = twisted_logger.formatEvent(theirs)
    if expected.startswith("Unable to format event"):
        # Both describe the failure; the event reprs differ only in the level's class.
        assert formatEvent(ours).startswith("Unable to format event")
        assert expected.rsplit(": ", 1)[1] == formatEvent(ours).rsplit(": ", 1)[1]
    else:
        assert formatEvent(ours) == expected


def raise_value_error() -> None:
    raise ValueError("the knob came off")


def test_failure_logs_the_exception_being_handled(records):
    log = Logger(namespace="frob")
    try:
        raise_value_error()
    except ValueError:
        log.failure("While frobbing {knob}", knob="left")
    record = only(records)
    assert record.levelno == logging.CRITICAL
    assert record.getMessage() == "While frobbing left"
    assert record.exc_info[0] is ValueError
    assert isinstance(record.log_event["log_failure"], Failure)
    text = logging.Formatter().format(record)
    assert "raise_value_error" in text and "the knob came off" in text


def test_failure_with_a_cleaned_failure_keeps_its_frames(records):
    try:
        raise_value_error()
    except ValueError:
        failure = Failure()
    failure.cleanFailure()
    Logger(namespace="frob").failure("later", failure, level=LogLevel.error)
    record = only(records)
    assert record.levelno == logging.ERROR
    text = logging.Formatter().format(record)
    assert "raise_value_error" in text and "the knob came off" in text


def test_an_invalid_level_is_reported_not_raised(records):
    Logger(namespace="odd").emit("loud", "hello")
    record = only(records)
    assert record.levelno == logging.CRITICAL
    assert "Got invalid log level 'loud'" in record.getMessage()
    assert record.exc_info[0] is InvalidLogLevelError


def test_failures_handled_logs_and_carries_on(records):
    log = Logger(namespace="ops")
    with log.failuresHandled("While doing {what}", what="work") as op:
        raise_value_error()
    assert op.failed and not op.succeeded
    with log.failuresHandled("fine") as ok:
        pass
    assert ok.succeeded and not ok.failed
    handler = log.failureHandler("in the hot loop")
    for _ in range(2):
        with handler:
            raise KeyError("k")
    assert [(r.levelno, r.getMessage()) for r in records] == [
        (logging.CRITICAL, "While doing work"),
        (logging.CRITICAL, "in the hot loop"),
        (logging.CRITICAL, "in the hot loop"),
    ]


def test_logging_file_logs_complete_lines(records):
    out = LoggingFile(Logger(namespace="stdout"), LogLevel.info)
    out.write("one\ntw")
    out.write("o\n")
    out.writelines(["three\n"])
    assert [(r.name, r.getMessage()) for r in records] == [("stdout", "one"), ("stdout", "two"), ("stdout", "three")]
    assert records[0].log_event["log_io"] == "one"
    assert not out.isatty()
    out.close()
    with pytest.raises(ValueError):
        out.write("late\n")


# ----------------------------------------------------------------- old style


def test_msg_joins_its_parts(records):
    oldlog.msg("hello", "world", 3)
    oldlog.msg(format="%(a)s and %(b)d", a="x", b=2)
    assert [(r.name, r.levelno, r.getMessage()) for r in records] == [
        ("log_legacy", logging.INFO, "hello world 3"),
        ("log_legacy", logging.INFO, "x and 2"),
    ]
    assert records[0].log_event["message"] == ("hello", "world", 3)


def test_err_logs_the_current_exception_with_its_traceback(records):
    try:
        raise_value_error()
    except ValueError:
        oldlog.err(None, "while frobbing")
    record = only(records)
    assert (record.levelno, record.getMessage()) == (logging.CRITICAL, "while frobbing")
    assert record.exc_info[0] is ValueError
    assert "raise_value_error" in logging.Formatter().format(record)


def test_err_takes_failures_exceptions_and_anything_else(records):
    oldlog.err(Failure(KeyError("k")))
    oldlog.err(OSError("disk"), "saving")
    oldlog.err("not an exception")
    assert [(r.getMessage(), r.exc_info and r.exc_info[0]) for r in records] == [
        ("Unhandled Error", KeyError),
        ("saving", OSError),
        ("'not an exception'", None),
    ]
    assert all(r.levelno == logging.CRITICAL for r in records)


@pytest.fixture
def observers():
    added = []
    yield added
    for observer in added:
        oldlog.removeObserver(observer)


def test_observers_see_old_new_and_plain_records(observers):
    events: list[dict] = []
    observers.append(events.append)
    oldlog.addObserver(events.append)
    oldlog.msg("old", system="mine")
    Logger(namespace="new").debug("new {x}", x=1)
    logging.getLogger("plain.module").info("plain %s", "text")
    oldlog.removeObserver(events.append)
    oldlog.msg("unseen")
    assert [oldlog.textFromEventDict(e) for e in events] == ["old", "new 1", "plain text"]
    assert [e["system"] for e in events] == ["mine", "-", "plain.module"]
    assert [e["isError"] for e in events] == [0, 0, 0]


def test_adding_an_observer_lets_info_through_and_removing_restores(observers):
    root = logging.getLogger()
    before = root.level
    seen: list[dict] = []
    observers.append(seen.append)
    oldlog.addObserver(seen.append)
    oldlog.msg("visible")
    oldlog.removeObserver(seen.append)
    assert [oldlog.textFromEventDict(e) for e in seen] == ["visible"]
    assert root.level == before


@pytest.fixture
def standard_streams():
    saved = sys.stdout, sys.stderr
    yield
    sys.stdout, sys.stderr = saved


def test_start_logging_writes_twisted_lines_to_a_file(tmp_path, standard_streams):
    path = tmp_path / "app.log"
    with path.open("w") as file:
        observer = oldlog.startLogging(file)
        try:
            oldlog.msg("hello", "world")
            Logger(namespace="app").info("{n} users", n=3)
            logging.getLogger("plain").warning("from logging")
            print("printed")
            print("complained", file=sys.stderr)
            try:
                raise_value_error()
            except ValueError:
                oldlog.err(None, "while frobbing")
            again = oldlog.startLogging(sys.stdout)
        finally:
            observer.stop()
        sys.stdout, sys.stderr = sys.__stdout__, sys.__stderr__
        oldlog.msg("after stop")
    assert again is None  # stdout is already the log
    lines = path.read_text().splitlines()
    heads = [LINE.match(line) for line in lines if not line.startswith("\t")]
    assert all(heads), lines
    assert [(m["system"], m["text"]) for m in heads] == [
        ("-", "Log opened."),
        ("-", "hello world"),
        ("-", "3 users"),
        ("plain", "from logging"),
        ("-", "printed"),
        ("-", "complained"),
        ("-", "while frobbing"),
    ]
    tail = [line for line in lines if line.startswith("\t")]
    assert tail[0] == "\tTraceback (most recent call last):"
    assert any("raise_value_error" in line for line in tail)
    assert any("ValueError: the knob came off" in line for line in tail)


def test_start_logging_without_set_stdout_leaves_print_alone(tmp_path, standard_streams, capsys):
    path = tmp_path / "app.log"
    with path.open("w") as file:
        observer = oldlog.startLogging(file, setStdout=False)
        try:
            print("to the terminal")
        finally:
            observer.stop()
    assert "to the terminal" in capsys.readouterr().out
    assert "to the terminal" not in path.read_text()


PROGRAM = """
    import sys
    from {pkg} import log
    from {logger} import Logger
    log.startLogging(sys.stdout)
    log.msg("hello", "world", 3)
    log.msg(format="%(a)s and %(b)d", a="x", b=2)
    Logger(namespace="ns").info("{{n}} users", n=3)
    Logger(namespace="ns").warn("missing {{zzz}}")
    print("printed")
    try:
        1 / 0
    except ZeroDivisionError:
        log.err(None, "while dividing")
        Logger(namespace="ns").failure("failing {{x}}", x=1)
    log.err(ValueError("v"))
    log.err("notafailure")
"""


def first_lines(output: str) -> list[tuple[str, str]]:
    """(system, text) of each entry, without the timestamps and tracebacks."""
    heads = []
    for line in output.splitlines():
        match = LINE.match(line)
        if match:
            text = match["text"]
            if text.startswith("Unable to format event"):
                text = "Unable to format event ...: " + text.rsplit(": ", 1)[1]
            heads.append((match["system"], text))
    return heads


def test_old_style_output_agrees_with_twisted():
    pytest.importorskip("twisted.python.log", reason="Twisted is not installed (the bench extra brings it)")

    def run(pkg: str, logger: str) -> str:
        code = textwrap.dedent(PROGRAM.format(pkg=pkg, logger=logger))
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        return done.stdout

    ours = first_lines(run("inspector", "inspector.logger"))
    theirs = first_lines(run("twisted.python", "twisted.logger"))
    assert ours == theirs
    assert len(ours) == 10
