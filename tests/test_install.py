"""Inspector works wherever it is installed, and the README's examples work as written.

The wheel is built from a copy of the tree, installed with ``pip --target`` into a
scratch directory, and smoke-tested (``.ci/wheel_smoke.py``) from another directory, so
nothing can come from the source tree: QOTD's built-in quotes, ``--help``'s default and
the demo's QOTD all have to be in the wheel. The README's finger example is run as
written, in a scratch directory.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from reactor_support import free_port

ROOT = Path(__file__).resolve().parent.parent
SMOKE = ROOT / ".ci" / "wheel_smoke.py"


def _copy_sources(dest: Path) -> None:
    """Copy what a wheel is built from (not build/, not egg-info) to ``dest``."""
    dest.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, dest / name)
    shutil.copytree(
        ROOT / "inspector", dest / "inspector",
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
    )


def _can_build_here() -> bool:
    """True if this Python's setuptools meets pyproject's >=68 and can make wheels itself."""
    try:
        import setuptools
    except ImportError:
        return False
    version = tuple(int(part) for part in re.findall(r"\d+", setuptools.__version__)[:2])
    return version >= (70, 1) or (version >= (68, 0) and importlib.util.find_spec("wheel") is not None)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A wheel built from a copy of the tree (so concurrent builds never share build/)."""
    base = tmp_path_factory.mktemp("wheel")
    _copy_sources(base / "src")
    cmd = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(base / "dist")]
    if _can_build_here():
        cmd.append("--no-build-isolation")  # no download when the tools are at hand
    subprocess.run([*cmd, str(base / "src")], check=True, timeout=180)
    (built,) = (base / "dist").glob("*.whl")
    return built


def test_the_wheel_holds_the_package_data(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    for name in ("quotes.txt", "users.txt", "icon.png", "icon.svg"):
        assert f"inspector/data/{name}" in names
    assert not any(name.startswith("resources/") for name in names)


def test_an_installed_wheel_passes_the_smoke_test_from_outside_the_tree(
    wheel: Path, tmp_path: Path
) -> None:
    site = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--quiet", "--target", str(site), str(wheel)],
        check=True, timeout=120,
    )
    work = tmp_path / "work"
    work.mkdir()
    env = dict(os.environ, PYTHONPATH=str(site))
    env.pop("PYTHONSAFEPATH", None)
    done = subprocess.run(
        [sys.executable, str(SMOKE), "--inspector", str(site / "bin" / "inspector"),
         "--not-under", str(ROOT), "--workdir", str(work)],
        cwd=work, env=env, capture_output=True, text=True, timeout=150,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "smoke: all passed" in done.stdout


# ----------------------------------------------------------------------------- README


def _readme_commands() -> list[str]:
    """The command lines of the README's "Servers and clients" code block."""
    text = (ROOT / "README.md").read_text("utf-8")
    section = text.split("## Servers and clients from the command line", 1)[1]
    block = section.split("```", 2)[1]
    return [line for line in block.splitlines()[1:] if line.strip()]


def _finger(port: int, query: str) -> str:
    deadline = time.monotonic() + 30
    while True:
        try:
            sock = socket.create_connection(("127.0.0.1", port), timeout=10)
            break
        except ConnectionRefusedError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)  # the server process is still starting
    with sock:
        sock.sendall(query.encode() + b"\r\n")
        chunks = []
        while chunk := sock.recv(4096):
            chunks.append(chunk)
    return b"".join(chunks).decode("utf-8")


def _serve_finger(args: list[str], cwd: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "inspector", *args], cwd=cwd,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def _stop(server: subprocess.Popen) -> str:
    if server.poll() is None:
        server.terminate()
    _, err = server.communicate(timeout=30)
    return err


def test_the_readme_finger_example_works_as_written(tmp_path: Path) -> None:
    commands = _readme_commands()
    serve = next(line for line in commands if "serve finger" in line and "--users-file" in line)
    users_file = shlex.split(serve)[shlex.split(serve).index("--users-file") + 1]
    writers = [line for line in commands[: commands.index(serve)] if f"> {users_file}" in line]
    assert writers, f"the README serves finger from {users_file} but never shows how to write it"
    for line in writers:
        subprocess.run(["bash", "-c", line], cwd=tmp_path, check=True, timeout=30)
    port = free_port()
    args = shlex.split(re.sub(r"tcp:8079:", f"tcp:{port}:", serve))
    assert args[0] == "inspector"
    server = _serve_finger(args[1:], tmp_path)
    try:
        answer = _finger(port, "alice")
    finally:
        err = _stop(server)
    assert "Alice Liddell" in answer, err


def test_the_shipped_sample_users_file_serves_finger(tmp_path: Path) -> None:
    from inspector import data

    port = free_port()
    with data.path_of(data.USERS) as users:
        server = _serve_finger(
            ["serve", "finger", "--port", str(port), "--users-file", str(users)], tmp_path
        )
        try:
            listing = _finger(port, "")
            alice = _finger(port, "alice")
        finally:
            err = _stop(server)
    assert {"alice", "bob", "carol", "root"} <= set(listing.split()), err
    assert "follow the white rabbit" in alice
