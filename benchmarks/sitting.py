"""The README's benchmark sitting in one command: every benchmark run the README quotes for its
tables, one after another, each bounded in time, its output kept in a file beside a note of the machine.

The README's figures all come from one sitting (one machine, one date, one run of everything, so
figures compare within it); this script is that sitting, so the next one runs the same commands
with the same arguments: ``python benchmarks/sitting.py`` (about 12 minutes; ``--list``,
``--dry-run``, ``--only NAME[,NAME]``, ``--out DIR``).
"""

from __future__ import annotations

import argparse
import datetime
import importlib.metadata
import importlib.util
import os
import platform
import shlex
import shutil
import signal
import ssl
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parent.parent
#: Where ui_scale_bench.py keeps its 1,000,000-event recording (written on its first run).
UI_SCALE_RECORDING = Path("/tmp/inspector-ui-scale/scale-1000000.jsonl")
#: Seconds to write that recording when it is not there yet (an estimate).
UI_SCALE_WRITE = 60.0
#: Seconds a timed-out command's processes get between SIGTERM and SIGKILL.
GRACE = 5.0


def _has_module(name: str) -> bool:
    return importlib.util.find_spec(name) is not None


#: Optional peers the benchmarks compare against or need, and how to tell one is here.
PEERS: dict[str, Callable[[], bool]] = {
    "Twisted": lambda: _has_module("twisted"),
    "uvloop": lambda: _has_module("uvloop"),
    "qasync": lambda: _has_module("qasync"),
    "PySide6": lambda: _has_module("PySide6"),
    "trustme": lambda: _has_module("trustme"),
    "socat": lambda: shutil.which("socat") is not None,
}

#: Adapts a command to the peers that are absent: (its arguments, what changed and why).
Adapt = Callable[[list[str], frozenset[str]], tuple[list[str], list[str]]]


@dataclass(frozen=True)
class Bench:
    """One command of the sitting, as the README quotes it."""

    name: str
    script: str
    args: tuple[str, ...]
    expected: float  # seconds it usually takes
    bound: float  # seconds after which it is ended and reported as timed out
    feeds: str  # the README's table or paragraph it gives the figures of
    needs: tuple[str, ...] = ()  # peers without which it cannot run at all
    adapt: Adapt | None = field(default=None, compare=False)

    def readme_command(self) -> str:
        return shlex.join(["python", f"benchmarks/{self.script}", *self.args])


def _drop_servers(needs: dict[str, tuple[str, ...]]) -> Adapt:
    """Leave out each ``--server NAME`` whose peer is absent (the script would stop at it)."""

    def adapt(args: list[str], absent: frozenset[str]) -> tuple[list[str], list[str]]:
        kept: list[str] = []
        notes: list[str] = []
        i = 0
        while i < len(args):
            if args[i] == "--server" and i + 1 < len(args):
                missing = [peer for peer in needs.get(args[i + 1], ()) if peer in absent]
                if missing:
                    notes.append(f"--server {args[i + 1]} left out: {', '.join(missing)} absent")
                else:
                    kept += args[i:i + 2]
                i += 2
            else:
                kept.append(args[i])
                i += 1
        return kept, notes

    return adapt


def _name_servers(script: str, needs: dict[str, tuple[str, ...]]) -> Adapt:
    """When a peer is absent, name the script's default servers but the ones needing it with
    ``--server`` (run without ``--server``, the script stops at the first it cannot start)."""

    def adapt(args: list[str], absent: frozenset[str]) -> tuple[list[str], list[str]]:
        missing = {name: [p for p in peers if p in absent] for name, peers in needs.items()}
        missing = {name: peers for name, peers in missing.items() if peers}
        if not missing:
            return args, []
        sys.path.insert(0, str(ROOT / "benchmarks"))
        sys.path.insert(0, str(ROOT))
        module = __import__(Path(script).stem)
        kept = [name for name in module.DEFAULT_SERVERS if name not in missing]
        notes = [f"server {name} left out: {', '.join(peers)} absent" for name, peers in missing.items()]
        return [*args, *(arg for name in kept for arg in ("--server", name))], notes

    return adapt


def _timer_reactors(args: list[str], absent: frozenset[str]) -> tuple[list[str], list[str]]:
    """Without PySide6 there is no Qt reactor to time (the script would stop at it)."""
    if "PySide6" not in absent:
        return args, []
    return [*args, "--reactor", "selectors", "--reactor", "asyncio"], ["the qt reactor left out: PySide6 absent"]


def _proxy_socat(args: list[str], absent: frozenset[str]) -> tuple[list[str], list[str]]:
    """proxy_bench.py leaves socat's row out by itself; say so here too."""
    return args, (["socat absent: the table has no socat row"] if "socat" in absent else [])


NET_SERVERS = ("inspector", "serve", "inspector-protocols", "inspector-safe-close", "twisted-epoll", "asyncio",
               "uvloop")

#: The sitting, in the README's order: the Benchmarks section, then the window, Tracing,
#: Proxy and Attach sections. Arguments are the README's own; ``expected`` from the README's
#: "about ..." and the scripts' rounds x durations.
SITTING: tuple[Bench, ...] = (
    Bench("net", "net_bench.py",
          ("--rounds", "5", "--duration", "1", *(a for s in NET_SERVERS for a in ("--server", s))),
          expected=190, bound=480, feeds="Benchmarks: Network",
          adapt=_drop_servers({"twisted-epoll": ("Twisted",), "uvloop": ("uvloop",)})),
    Bench("foreign", "foreign_bench.py", ("--rounds", "6", "--duration", "0.8"),
          expected=175, bound=480, feeds="Benchmarks: Reactors in a GUI loop",
          adapt=_name_servers("foreign_bench.py", {
              "qt": ("PySide6",), "qt+5000idle": ("PySide6",), "twisted-epoll": ("Twisted",),
              "asyncio-qasync": ("qasync", "PySide6"),
              "twisted-asyncio-qasync": ("Twisted", "qasync", "PySide6"),
          })),
    Bench("timer", "timer_bench.py", (), expected=15, bound=120, feeds="Benchmarks: Timers",
          adapt=_timer_reactors),
    Bench("defer", "defer_bench.py", (), expected=10, bound=120, feeds="Benchmarks: Deferreds", needs=("Twisted",)),
    Bench("tls", "tls_bench.py", (), expected=65, bound=240, feeds="Benchmarks: TLS", needs=("trustme",)),
    Bench("unix", "unix_bench.py", (), expected=25, bound=120, feeds="Benchmarks: Unix sockets"),
    Bench("ui-scale-open", "ui_scale_bench.py", ("open",), expected=30, bound=240,
          feeds="Benchmarks: The window at scale (open)", needs=("PySide6",)),
    Bench("ui-scale-churn", "ui_scale_bench.py", ("churn",), expected=25, bound=240,
          feeds="Benchmarks: The window at scale (churn)", needs=("PySide6",)),
    Bench("ui-scale-recording", "ui_scale_bench.py", ("recording",), expected=45, bound=600,
          feeds="Benchmarks: The window at scale (recording)", needs=("PySide6",)),
    Bench("ui", "ui_bench.py", (), expected=12, bound=120, feeds="The window: frame times", needs=("PySide6",)),
    Bench("trace", "trace_bench.py", ("--rounds", "5"), expected=70, bound=300, feeds="Tracing: what it costs"),
    Bench("proxy", "proxy_bench.py", ("--seconds", "4"), expected=20, bound=120, feeds="Proxy speed",
          adapt=_proxy_socat),
    Bench("attach", "attach_bench.py", ("--seconds", "30"), expected=35, bound=150, feeds="Attach speed"),
)


@dataclass
class Plan:
    """A command as it will run on this machine."""

    bench: Bench
    argv: list[str]
    notes: list[str]
    skip: str | None  # why it does not run at all, or None
    expected: float


def plan(bench: Bench, absent: frozenset[str]) -> Plan:
    """The command for ``bench`` with this machine's peers."""
    missing = [peer for peer in bench.needs if peer in absent]
    args = list(bench.args)
    notes: list[str] = []
    if bench.adapt is not None and not missing:
        args, notes = bench.adapt(args, absent)
    expected = bench.expected
    if bench.name == "ui-scale-recording" and not missing and not UI_SCALE_RECORDING.exists():
        expected += UI_SCALE_WRITE
        notes.append(f"{UI_SCALE_RECORDING} is written first (about {UI_SCALE_WRITE:.0f} s, kept for later runs)")
    skip = f"{', '.join(missing)} absent" if missing else None
    argv = [sys.executable, str(ROOT / "benchmarks" / bench.script), *args]
    return Plan(bench, argv, notes, skip, 0.0 if skip else expected)


def absent_peers() -> frozenset[str]:
    return frozenset(name for name, here in PEERS.items() if not here())


# ---------------------------------------------------------------------- the machine


def _utc_now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


def _first_line(argv: list[str], wanted: str = "") -> str:
    """The first line of ``argv``'s output (the first holding ``wanted``), or why there is none."""
    if shutil.which(argv[0]) is None:
        return "absent"
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=10, cwd=ROOT)
    except (OSError, subprocess.SubprocessError) as exc:
        return f"unknown ({exc})"
    lines = [line.strip() for line in (done.stdout + done.stderr).splitlines() if line.strip()]
    chosen = [line for line in lines if wanted in line] or lines
    return chosen[0] if chosen else f"unknown (exit {done.returncode}, no output)"


def _version(*distributions: str) -> str:
    """The installed version of the first of ``distributions`` found, or "absent"."""
    for name in distributions:
        try:
            found = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
        return found if name == distributions[0] else f"{found} ({name})"
    return "absent"


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory() -> str:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return f"{int(line.split()[1]) / 2**20:.1f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    return "unknown"


def _git() -> str:
    """The commit this tree is at, and whether it has changes the sitting also measures."""
    if shutil.which("git") is None:
        return "unknown (no git)"
    head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True)
    if head.returncode != 0:
        return "not a git tree"
    # --no-optional-locks: read only, no index refresh (others may be working in the tree).
    status = subprocess.run(["git", "--no-optional-locks", "-C", str(ROOT), "status", "--porcelain",
                             "--untracked-files=no"], capture_output=True, text=True)
    changed = len(status.stdout.splitlines())
    return f"{head.stdout.strip()} ({f'{changed} tracked files changed' if changed else 'no local changes'})"


def _load() -> str:
    return f"{os.getloadavg()[0]:.2f}" if hasattr(os, "getloadavg") else "unknown"


def machine(started: datetime.datetime) -> list[str]:
    """What the figures depend on, one ``key: value`` a line."""
    allowed = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return [
        f"date: {started:%Y-%m-%d %H:%M:%S} UTC",
        f"cpu: {_cpu_model()}",
        f"cpus: {os.cpu_count()} ({allowed} usable by this process)",
        f"memory: {_memory()}",
        f"system: {platform.platform()}",
        f"python: {platform.python_implementation()} {platform.python_version()} ({sys.executable})",
        f"python ssl: {ssl.OPENSSL_VERSION}",
        f"PySide6: {_version('PySide6', 'PySide6-Essentials')}",
        f"Twisted: {_version('Twisted')}",
        f"uvloop: {_version('uvloop')}",
        f"qasync: {_version('qasync')}",
        f"openssl: {_first_line(['openssl', 'version'])}",
        # socat -V's first line names the authors; its version is on the first line saying so.
        f"socat: {_first_line(['socat', '-V'], 'version')}",
        f"git: {_git()}",
        f"load average (1 min) at start: {_load()}",
    ]


# ---------------------------------------------------------------------- running


@dataclass
class Result:
    name: str
    status: str  # ok, timeout, failed (exit N), skipped (why)
    wall: float
    output: Path | None


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def end_group(proc: subprocess.Popen) -> bool:
    """End what is left of the process group started for one command (its servers and load
    generators included); True if anything was left."""
    proc.poll()  # reap the leader, or its zombie keeps the group alive
    if not _group_alive(proc.pid):
        return False
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return True
        deadline = time.monotonic() + GRACE
        while time.monotonic() < deadline:
            proc.poll()
            if not _group_alive(proc.pid):
                return True
            time.sleep(0.1)  # no event tells when another process's children have gone
    return True


def run(item: Plan, out: Path) -> Result:
    """Run one command into ``out/NAME.txt`` within its time bound."""
    bench = item.bench
    path = out / f"{bench.name}.txt"
    with open(path, "w") as f:
        f.write(f"$ {shlex.join(item.argv)}\n")
        f.write(f"# {bench.feeds}; started {_utc_now():%Y-%m-%d %H:%M:%S} UTC; bounded to {bench.bound:.0f} s\n")
        for note in item.notes:
            f.write(f"# {note}\n")
    started = time.monotonic()
    with open(path, "ab") as sink:
        # A session of its own: on a timeout the whole group (servers, load generators) is ended.
        proc = subprocess.Popen(item.argv, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=sink,
                                stderr=subprocess.STDOUT, start_new_session=True)
        try:
            code = proc.wait(timeout=bench.bound)
            status = "ok" if code == 0 else f"failed (exit {code})"
        except subprocess.TimeoutExpired:
            status = "timeout"
        except BaseException:
            end_group(proc)
            raise
        leftover = end_group(proc)
    wall = time.monotonic() - started
    with open(path, "a") as f:
        f.write(f"\n# {status} in {wall:.1f} s\n")
        if leftover and status != "timeout":
            f.write("# processes it left behind were ended\n")
    return Result(bench.name, status, wall, path)


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.0f} min" if seconds >= 90 else f"{seconds:.0f} s"


def print_list(plans: list[Plan]) -> None:
    print(f"{'name':<19} {'expected':>8} {'bound':>6}  command (from the repository's root)")
    for item in plans:
        b = item.bench
        print(f"{b.name:<19} {b.expected:>7.0f}s {b.bound:>5.0f}s  {b.readme_command()}")
    print(f"\n{len(plans)} commands, one after another: expected about "
          f"{_minutes(sum(p.bench.expected for p in plans))}, at most {_minutes(sum(p.bench.bound for p in plans))}.")


def print_dry_run(plans: list[Plan], out: Path, absent: frozenset[str]) -> None:
    print(f"peers absent: {', '.join(sorted(absent)) or 'none'}")
    print(f"would write {out / 'machine.txt'}, then one file a command:")
    for item in plans:
        b = item.bench
        if item.skip:
            print(f"  {b.name}: skipped ({item.skip})")
            continue
        print(f"  {b.name}: {shlex.join(item.argv)}  (cwd {ROOT}, bound {b.bound:.0f} s) > {out / (b.name + '.txt')}")
        for note in item.notes:
            print(f"      {note}")
    print(f"expected about {_minutes(sum(p.expected for p in plans))}")


def print_summary(results: list[Result], out: Path) -> None:
    print(f"\n{'name':<19} {'wall':>8}  status")
    for r in results:
        wall = f"{r.wall:.1f}s" if not r.status.startswith("skipped") else "-"
        print(f"{r.name:<19} {wall:>8}  {r.status}")
    print(f"outputs in {out}/")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, help="directory for the outputs (default: ./sitting-<UTC date-time>)")
    parser.add_argument("--only", metavar="NAME[,NAME]", help="run only these commands (see --list)")
    parser.add_argument("--list", action="store_true", help="print the commands with their time bounds and exit")
    parser.add_argument("--dry-run", action="store_true", help="print what would run on this machine and exit")
    args = parser.parse_args(argv)
    names = [b.name for b in SITTING]
    chosen = SITTING
    if args.only:
        wanted = [n.strip() for n in args.only.split(",") if n.strip()]
        unknown = [n for n in wanted if n not in names]
        if unknown:
            parser.error(f"unknown {', '.join(unknown)}; the commands are {', '.join(names)}")
        chosen = tuple(b for b in SITTING if b.name in wanted)
    absent = absent_peers()
    plans = [plan(b, absent) for b in chosen]
    if args.list:
        print_list(plans)
        return 0
    started = _utc_now()
    out = (args.out or Path(f"sitting-{started:%Y%m%dT%H%M%SZ}")).resolve()
    if args.dry_run:
        print_dry_run(plans, out, absent)
        return 0

    out.mkdir(parents=True, exist_ok=True)
    about = machine(started)
    (out / "machine.txt").write_text("\n".join(about) + "\n")
    print("\n".join(about))
    if hasattr(os, "getloadavg") and os.getloadavg()[0] > 1.0:
        print("the machine is busy (load average above 1): the figures will be noisier than the README's")
    running = [p for p in plans if not p.skip]
    print(f"\n{len(running)} commands one after another (of {len(plans)}), expected about "
          f"{_minutes(sum(p.expected for p in running))} (at most {_minutes(sum(p.bench.bound for p in running))}); "
          f"outputs in {out}/\n")
    results: list[Result] = []
    try:
        for number, item in enumerate(plans, 1):
            head = f"[{number}/{len(plans)}] {item.bench.name}"
            if item.skip:
                print(f"{head}: skipped ({item.skip})", flush=True)
                results.append(Result(item.bench.name, f"skipped ({item.skip})", 0.0, None))
                continue
            for note in item.notes:
                print(f"{head}: {note}")
            print(f"{head}: {item.bench.readme_command()}  (bound {item.bench.bound:.0f} s) ...", flush=True)
            result = run(item, out)
            results.append(result)
            print(f"{head}: {result.status} in {result.wall:.1f} s -> {result.output}", flush=True)
    except KeyboardInterrupt:
        print("\ninterrupted: the running command was ended")
    ended = _utc_now()
    with open(out / "machine.txt", "a") as f:
        f.write(f"load average (1 min) at end: {_load()}\n")
        f.write(f"sitting: {started:%H:%M:%S}-{ended:%H:%M:%S} UTC, {(ended - started).total_seconds():.0f} s, "
                f"{', '.join(f'{r.name} {r.status}' for r in results)}\n")
    print_summary(results, out)
    done = all(r.status == "ok" or r.status.startswith("skipped") for r in results)
    return 0 if done and len(results) == len(plans) else 1


if __name__ == "__main__":
    sys.exit(main())
