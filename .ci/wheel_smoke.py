"""Smoke test of an installed Inspector, run from a directory outside the source tree.

CI (``.ci/run``) and ``tests/test_install.py`` install the wheel somewhere fresh and run
this script with that environment's Python, from a scratch directory, so it sees only
what the wheel holds: the version, a QOTD server answering over loopback with its
built-in quotes, and a demo screenshot with QOTD running in it. Exits 0 when all
pass; otherwise prints what failed and exits 1.

    python wheel_smoke.py [--inspector CMD] [--not-under DIR] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

#: Seconds any one step may take.
STEP_TIMEOUT = 60.0


class SmokeFailure(Exception):
    """One smoke check failed; the message says which and why."""


def inspector_command(given: str | None) -> list[str]:
    """The ``inspector`` console script: as given, else next to this Python, else on PATH."""
    if given:
        return shlex.split(given)
    beside = Path(sys.executable).parent / "inspector"
    if beside.exists():
        return [str(beside)]
    found = shutil.which("inspector")
    if found is None:
        raise SmokeFailure("no 'inspector' command next to this Python or on PATH")
    return [found]


def check_location(not_under: str | None) -> None:
    """The package imported is the installed one, not a source tree it must not use."""
    import inspector

    where = Path(inspector.__file__).resolve()
    print(f"smoke: inspector {inspector.__version__} imported from {where.parent}")
    if not_under and where.is_relative_to(Path(not_under).resolve()):
        raise SmokeFailure(f"inspector was imported from the source tree {not_under}: {where}")


def run(cmd: list[str], cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run ``cmd`` to completion within the step timeout; its output as text."""
    return subprocess.run(
        cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=STEP_TIMEOUT,
    )


def check_version(cmd: list[str], cwd: Path) -> None:
    """``inspector --version`` prints the package's version."""
    import inspector

    done = run([*cmd, "--version"], cwd)
    if done.returncode != 0 or inspector.__version__ not in done.stdout:
        raise SmokeFailure(f"--version: exit {done.returncode}: {done.stdout}{done.stderr}")
    print(f"smoke: {done.stdout.strip()}")


def check_qotd_help(cmd: list[str], cwd: Path) -> None:
    """``serve qotd --help`` names the built-in quotes, not a path into the install."""
    done = run([*cmd, "serve", "qotd", "--help"], cwd)
    flat = " ".join(done.stdout.split())
    if done.returncode != 0 or "built-in quotes" not in flat or "site-packages" in flat:
        raise SmokeFailure(f"serve qotd --help does not say 'built-in quotes':\n{done.stdout}{done.stderr}")


def _read_until_closed(port: int) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        chunks = []
        while chunk := sock.recv(4096):
            chunks.append(chunk)
    return b"".join(chunks)


def check_qotd(cmd: list[str], cwd: Path) -> None:
    """``inspector serve qotd --port 0`` answers a QOTD query over loopback with a built-in quote."""
    from inspector import data
    from inspector.protocols.qotd import parse_fortunes

    server = subprocess.Popen(
        [*cmd, "serve", "qotd", "--port", "0"], cwd=cwd,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    seen: list[str] = []
    try:
        deadline = time.monotonic() + STEP_TIMEOUT
        port = None
        assert server.stderr is not None
        while port is None and time.monotonic() < deadline:
            line = server.stderr.readline()
            if not line:
                break  # the server exited
            seen.append(line)
            match = re.search(r"listening on 127\.0\.0\.1:(\d+)", line)
            if match:
                port = int(match.group(1))
        if port is None:
            server.wait(timeout=STEP_TIMEOUT)
            rest = server.stderr.read()
            raise SmokeFailure(
                f"serve qotd did not start (exit {server.returncode}):\n{''.join(seen)}{rest}"
            )
        answer = _read_until_closed(port).decode("utf-8")
        quotes = {quote.replace("\n", "\r\n") + "\r\n" for quote in parse_fortunes(data.read_text(data.QUOTES))}
        if answer not in quotes:
            raise SmokeFailure(f"serve qotd answered {answer!r}, not one of the built-in quotes")
        print(f"smoke: serve qotd answered {answer.splitlines()[0]!r}")
    finally:
        if server.poll() is None:
            server.send_signal(signal.SIGTERM)
        try:
            server.communicate(timeout=STEP_TIMEOUT)
        except subprocess.TimeoutExpired:
            server.kill()
            server.communicate()
    if server.returncode != 0:
        raise SmokeFailure(f"serve qotd exited {server.returncode} on SIGTERM")


def check_screenshot(cmd: list[str], cwd: Path) -> None:
    """``inspector --screenshot out.png --scenario demo`` writes a PNG, with QOTD running in it."""
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    out = cwd / "out.png"
    done = run([*cmd, "--screenshot", str(out), "--scenario", "demo"], cwd, env)
    if done.returncode != 0:
        raise SmokeFailure(f"--screenshot exited {done.returncode}:\n{done.stderr[-4000:]}")
    if not out.is_file() or not out.read_bytes().startswith(b"\x89PNG\r\n\x1a\n"):
        raise SmokeFailure(f"--screenshot exited 0 but wrote no PNG at {out}")
    # The demo logs a failed start and goes on without it; a picture alone would hide that.
    problems = [line for line in done.stderr.splitlines() if "could not start" in line or " ERROR " in line]
    if problems:
        raise SmokeFailure("the demo ran with problems:\n" + "\n".join(problems))
    if "qotd server: connection from" not in done.stderr:
        raise SmokeFailure(f"the demo's QOTD server answered no query:\n{done.stderr[-4000:]}")
    print(f"smoke: --screenshot wrote {out.stat().st_size} bytes of PNG; the demo's QOTD answered")


def main(argv: list[str] | None = None) -> int:
    """Run every check; print each failure; 0 when all pass."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inspector", help="the inspector command (default: next to this Python)")
    parser.add_argument("--not-under", help="fail if the package is imported from under DIR")
    parser.add_argument("--workdir", help="where to run (default: a new temporary directory)")
    args = parser.parse_args(argv)
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="inspector-smoke-"))
    try:
        check_location(args.not_under)
        cmd = inspector_command(args.inspector)
        check_version(cmd, workdir)
        check_qotd_help(cmd, workdir)
        check_qotd(cmd, workdir)
        check_screenshot(cmd, workdir)
    except (SmokeFailure, subprocess.TimeoutExpired) as exc:
        print(f"smoke: FAILED: {exc}", file=sys.stderr)
        return 1
    print("smoke: all passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
