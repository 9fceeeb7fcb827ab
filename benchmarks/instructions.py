"""Instructions an operation, counted with callgrind: the figures the README's Benchmarks
section quotes for QOTD (instructions a connection) and echo (a 64-byte round trip).

Run ``python benchmarks/instructions.py qotd|echo [--connections N] [--at-once K]``.

Why callgrind: on a shared 2-CPU machine rates and CPU times move by up to 30% between
runs; the instructions a process executes move far less, so small differences between
servers (``inspector serve qotd`` against the bare server closing the same way) show.
Every variant runs twice under ``valgrind --tool=callgrind``, with N operations and with
fewer (the baseline); the figure is (instructions of the first - of the second) divided
by the difference, so start-up, imports and shutdown cancel out. Runs go one after
another, each with a time bound; callgrind makes Python about 50x slower. Defaults, and
their time on this project's 2-CPU machine: ``qotd`` 6,000 connections minus 2,000 (about
3.5 minutes), ``qotd --process`` 4,000 minus none (1.5), ``echo`` 60,000 round trips minus
20,000 (1). The script prints its expected duration first.

``qotd`` (default: deterministic): the client lives in the server's process. Its
non-blocking sockets are readers of the server's own reactor: a call at start connects K
sockets, each reads its quote to EOF and closes, and a finished one starts the next until
N have run. Loopback connects and sends complete inside the system call, so every run
has the same turn structure, and the client's own instructions are in every figure.
``--at-once`` is repeatable (default: 1 and 16). ``qotd --process`` counts the server
process as users start it instead: N connections, 16 in flight, from a plain Python
client in this process, against the server under callgrind, minus a run with none. That
figure depends on how many connections a loop turn takes (a server that falls behind
its client accepts many in one turn and pays a turn's cost once for all of them), so the
loop turns of each run are printed beside it.

The QOTD servers are ``net_bench.py``'s (imported, not rewritten): ``serve`` is what
``inspector serve qotd --quote ...`` runs (``inspector.cli.main``: the catalogue entry's
handle, its connection log on standard error, the service and signal handling), and
``inspector-protocols``, ``inspector-safe-close`` and ``inspector`` are net_bench's
``SERVERS`` entries: the command's protocols on a bare reactor, the bare server closing
the same reset-safe way (FIN after the quote, then the client's close), and the bare
server closing at once. The worker counts loop turns by wrapping the selectors
reactor's ``doIteration`` (the same wrapper in every variant).

``echo``: 64-byte ping-pong over 32 connections, both ends in one process, N round trips
minus N/3: ours is ``trace_bench.py --worker --trips N`` (the selectors reactor), "bare
epoll" is a minimal loop below (``select.epoll``, non-blocking sockets, no framework),
"uvloop" asyncio Protocols on uvloop's loop (left out with a note when uvloop is missing).
"""

from __future__ import annotations

import argparse
import errno
import json
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from typing import Any, Callable

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
#: The real interpreter: valgrind must run the binary, not a pyenv shim (a shell script).
PYTHON = os.path.realpath(sys.executable)
QOTD_VARIANTS = ["serve", "inspector-protocols", "inspector-safe-close", "inspector"]
QOTD_LABELS = {
    "serve": "inspector serve qotd (its handle and logging)",
    "inspector-protocols": "its protocols on a bare reactor",
    "inspector-safe-close": "bare server, same safe close",
    "inspector": "bare server, closing at once",
}
ECHO_VARIANTS = ["uvloop", "bare epoll", "inspector"]
ECHO_LABELS = {
    "uvloop": "uvloop (asyncio Protocols)",
    "bare epoll": "bare Python epoll loop, no framework",
    "inspector": "ours (selectors reactor, trace_bench.py)",
}
ECHO_CONNECTIONS = 32
PROCESS_IN_FLIGHT = 16
RUN_TIMEOUT = 600.0
RESULT = "RESULT "


# ----------------------------------------------------------------- QOTD worker


class QuoteReader:
    """One client connection as a reader of the server's reactor: connect, read the quote
    to EOF, close, and tell ``done``."""

    def __init__(self, reactor: Any, port: int, want: int, done: Callable[[bool], None]) -> None:
        self.reactor = reactor
        self.want = want
        self.done = done
        self.got = 0
        self.sock = socket.socket()
        self.sock.setblocking(False)
        code = self.sock.connect_ex(("127.0.0.1", port))
        if code not in (0, errno.EINPROGRESS):
            raise OSError(code, os.strerror(code))
        reactor.addReader(self)

    def fileno(self) -> int:
        return self.sock.fileno()

    def doRead(self) -> None:
        try:
            data = self.sock.recv(4096)
        except BlockingIOError:
            return
        except OSError:
            data = b""
            self.got = -1
        if data:
            self.got += len(data)
            return
        self.reactor.removeReader(self)
        self.sock.close()
        self.done(self.got == self.want)

    def doWrite(self) -> None:
        pass

    def connectionLost(self, reason: Any) -> None:
        self.sock.close()

    def logPrefix(self) -> str:
        return "QuoteReader"


class InProcessClient:
    """``total`` connections, ``at_once`` in flight, on the server's reactor; the reactor
    stops when the last has read its quote."""

    def __init__(self, reactor: Any, port: int, total: int, at_once: int, quote: bytes) -> None:
        self.reactor = reactor
        self.port = port
        self.total = total
        self.at_once = at_once
        self.want = len(quote)
        self.started = self.finished = self.errors = 0

    def begin(self) -> None:
        if self.total == 0:
            self.reactor.stop()
            return
        for _ in range(min(self.at_once, self.total)):
            self.start_one()

    def start_one(self) -> None:
        self.started += 1
        QuoteReader(self.reactor, self.port, self.want, self.one_done)

    def one_done(self, ok: bool) -> None:
        self.finished += 1
        if not ok:
            self.errors += 1
        if self.started < self.total:
            self.start_one()
        elif self.finished == self.total:
            self.reactor.stop()


def qotd_worker(variant: str, total: int, at_once: int, in_process: bool, port: int) -> None:
    """Run one QOTD server (with the in-process client, or for an outside one) and print
    its loop turns; runs under callgrind."""
    sys.path.insert(0, HERE)
    import net_bench

    from inspector.reactors.selectors import SelectorsReactor

    counts = {"turns": 0}
    reactors: list[Any] = []
    clients: list[InProcessClient] = []
    do_iteration = SelectorsReactor.doIteration
    init = SelectorsReactor.__init__

    def counted(self: Any, timeout: float | None) -> None:
        counts["turns"] += 1
        do_iteration(self, timeout)

    def remembered(self: Any) -> None:
        init(self)
        reactors.append(self)

    SelectorsReactor.doIteration = counted  # type: ignore[method-assign]
    SelectorsReactor.__init__ = remembered  # type: ignore[method-assign]

    def client_on(qotd_port: int) -> None:
        client = InProcessClient(reactors[-1], qotd_port, total, at_once, net_bench.QUOTE)
        clients.append(client)
        reactors[-1].callLater(0, client.begin)

    if variant == "serve":
        from inspector import cli

        # ``inspector serve`` makes its reactor with ``inspector.reactors.install``: the
        # client is set to start once that reactor runs (the service listens by then).
        undo = _patch_install(lambda: reactors[-1].callWhenRunning(client_on, port)) if in_process else None
        status = cli.main(["serve", "qotd", "--port", str(port), "--quote", net_bench.QUOTE.decode().rstrip()])
        if undo is not None:
            undo()
        if status != 0:
            raise SystemExit(f"inspector serve qotd exited with status {status}")
    else:
        if in_process:
            net_bench._announce = lambda echo_port, qotd_port: client_on(qotd_port)  # type: ignore[assignment]
        net_bench.SERVERS[variant]()
    result = {"turns": counts["turns"]}
    if clients:
        result.update(connections=clients[0].finished, errors=clients[0].errors)
    print(RESULT + json.dumps(result), flush=True)


def _patch_install(after: Callable[[], None]) -> Callable[[], None]:
    """Have ``inspector.reactors.install`` (which ``inspector serve`` calls) call ``after``
    once the reactor exists; return the function that undoes it."""
    from inspector import reactors

    install = reactors.install

    def patched(*args: Any, **kw: Any) -> Any:
        reactor = install(*args, **kw)
        after()
        return reactor

    reactors.install = patched  # type: ignore[assignment]

    def undo() -> None:
        reactors.install = install  # type: ignore[assignment]

    return undo


# ----------------------------------------------------------------- echo workers

MESSAGE = b"x" * 64


def bare_epoll_worker(trips: int) -> None:
    """Echo server and ping-pong clients on one ``select.epoll``, no framework."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(ECHO_CONNECTIONS)
    address = listener.getsockname()
    ep = select.epoll()
    socks: dict[int, socket.socket] = {}
    is_client: dict[int, bool] = {}
    pending: dict[int, int] = {}
    for _ in range(ECHO_CONNECTIONS):
        client = socket.create_connection(address)
        server, _ = listener.accept()
        for sock, client_side in ((client, True), (server, False)):
            sock.setblocking(False)
            fd = sock.fileno()
            socks[fd] = sock
            is_client[fd] = client_side
            pending[fd] = 0
            ep.register(fd, select.EPOLLIN)
    size = len(MESSAGE)
    for fd, sock in socks.items():
        if is_client[fd]:
            sock.send(MESSAGE)
    count = 0
    poll = ep.poll
    while count < trips:
        for fd, _ in poll():
            sock = socks[fd]
            data = sock.recv(65536)
            if not is_client[fd]:
                sock.send(data)
                continue
            got = pending[fd] + len(data)
            while got >= size:
                got -= size
                count += 1
                sock.send(MESSAGE)
            pending[fd] = got
    for sock in socks.values():
        sock.close()
    listener.close()
    ep.close()
    print(RESULT + json.dumps({"trips": count}), flush=True)


def uvloop_worker(trips: int) -> None:
    """Echo server and ping-pong clients as asyncio Protocols on uvloop's loop."""
    import asyncio

    import uvloop

    state = {"trips": 0}

    class Echo(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            self.transport = transport

        def data_received(self, data: bytes) -> None:
            self.transport.write(data)  # type: ignore[attr-defined]

    class Pinger(asyncio.Protocol):
        def __init__(self, finished: asyncio.Future) -> None:
            self.finished = finished

        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            self.transport = transport
            self.pending = len(MESSAGE)
            transport.write(MESSAGE)  # type: ignore[attr-defined]

        def data_received(self, data: bytes) -> None:
            self.pending -= len(data)
            if self.pending > 0:
                return
            state["trips"] += 1
            if state["trips"] >= trips:
                if not self.finished.done():
                    self.finished.set_result(None)
                return
            self.pending = len(MESSAGE)
            self.transport.write(MESSAGE)  # type: ignore[attr-defined]

    async def main() -> None:
        loop = asyncio.get_running_loop()
        finished = loop.create_future()
        server = await loop.create_server(Echo, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        transports = []
        for _ in range(ECHO_CONNECTIONS):
            transport, _ = await loop.create_connection(lambda: Pinger(finished), "127.0.0.1", port)
            transports.append(transport)
        await finished
        for transport in transports:
            transport.close()
        server.close()

    loop = uvloop.new_event_loop()
    try:
        loop.run_until_complete(main())
    finally:
        loop.close()
    print(RESULT + json.dumps({"trips": state["trips"]}), flush=True)


# ----------------------------------------------------------------- harness


def _callgrind_command(out_file: str, args: list[str]) -> list[str]:
    return ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out_file}", PYTHON, *args]


def _total(out_file: str) -> int:
    """The instructions callgrind counted (its ``totals:`` or ``summary:`` line)."""
    with open(out_file) as f:
        text = f.read()
    found = re.search(r"^(?:totals|summary):\s*(\d+)", text, re.MULTILINE)
    if found is None:
        raise RuntimeError(f"no totals in {out_file}")
    return int(found.group(1))


def _env() -> dict[str, str]:
    path = os.environ.get("PYTHONPATH")
    return dict(os.environ, PYTHONPATH=ROOT + (os.pathsep + path if path else ""))


def _result(stdout: str) -> dict:
    lines = [line for line in stdout.splitlines() if line.startswith(RESULT)]
    return json.loads(lines[-1][len(RESULT):]) if lines else {}


def callgrind_run(args: list[str], work: str, name: str) -> tuple[int, str, str]:
    """Run ``PYTHON args`` under callgrind (time-bounded); return instructions, stdout, stderr."""
    out_file = os.path.join(work, f"{name}.out")
    done = subprocess.run(_callgrind_command(out_file, args), capture_output=True, text=True,
                          cwd=ROOT, env=_env(), timeout=RUN_TIMEOUT)
    if done.returncode != 0:
        raise RuntimeError(f"{name} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return _total(out_file), done.stdout, done.stderr


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def qotd_in_process(variant: str, total: int, at_once: int, work: str) -> tuple[int, dict]:
    """One callgrind run of ``variant`` with the client in its process."""
    args = [os.path.abspath(__file__), "_qotd", variant, str(total), str(at_once), "in-process",
            str(_free_port())]
    count, stdout, stderr = callgrind_run(args, work, f"qotd-{variant}-{at_once}-{total}")
    result = _result(stdout)
    if result.get("connections") != total or result.get("errors"):
        raise RuntimeError(f"{variant}: {result} for {total} connections\n{stderr[-2000:]}")
    result["log_lines"] = _log_lines(stderr)
    return count, result


def _log_lines(stderr: str) -> int:
    """Lines of the server's own log (valgrind's lines start with ``==PID==``)."""
    return sum(1 for line in stderr.splitlines() if line and not line.startswith("=="))


def qotd_process(variant: str, total: int, work: str) -> tuple[int, dict]:
    """One callgrind run of ``variant`` as its own process, ``total`` connections from here."""
    port = _free_port()
    name = f"qotd-process-{variant}-{total}"
    out_file = os.path.join(work, name + ".out")
    err_path = os.path.join(work, name + ".err")
    args = [os.path.abspath(__file__), "_qotd", variant, "0", "0", "process", str(port)]
    with open(err_path, "w") as err:
        proc = subprocess.Popen(_callgrind_command(out_file, args), stdout=subprocess.PIPE, stderr=err,
                                text=True, cwd=ROOT, env=_env())
    try:
        deadline = time.monotonic() + RUN_TIMEOUT
        if variant == "serve":
            _wait_listening(proc, port, deadline)
        else:
            line = proc.stdout.readline()  # type: ignore[union-attr]  # net_bench's "echo qotd" ports
            if not line:
                raise RuntimeError(f"{variant} did not start")
            port = int(line.split()[1])
        errors = _load_qotd(port, total, PROCESS_IN_FLIGHT, deadline)
        stdout = _terminate(proc, deadline)
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    if proc.returncode != 0:
        with open(err_path) as f:
            raise RuntimeError(f"{name} failed ({proc.returncode}):\n{f.read()[-2000:]}")
    result = _result(stdout)
    result["errors"] = errors
    with open(err_path) as f:
        result["log_lines"] = _log_lines(f.read())
    return _total(out_file), result


def _terminate(proc: subprocess.Popen, deadline: float) -> str:
    """Stop the server with SIGTERM (a clean stop: its shutdown triggers run) and return its
    output. The signal goes 2 s after the load (idle, in every run alike): one sent the
    moment a server under callgrind has announced its ports was seen to be lost."""
    time.sleep(2)
    while True:
        proc.send_signal(signal.SIGTERM)
        try:
            stdout, _ = proc.communicate(timeout=max(1.0, min(60.0, deadline - time.monotonic())))
            return stdout
        except subprocess.TimeoutExpired:
            if time.monotonic() >= deadline:
                raise
            print("  (no exit 60 s after SIGTERM: sent again)", flush=True)


def _wait_listening(proc: subprocess.Popen, port: int, deadline: float) -> None:
    """Wait until the server listens on ``port`` (one connection, in every run alike)."""
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("inspector serve qotd exited before listening")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=5).close()
            return
        except OSError:
            time.sleep(0.1)  # another process opens the port: there is no event to wait for
    raise RuntimeError("inspector serve qotd did not listen in time")


def _load_qotd(port: int, total: int, in_flight: int, deadline: float) -> int:
    """``total`` QOTD connections, ``in_flight`` at a time, each read to EOF; return errors."""
    ep = select.epoll()
    conns: dict[int, list] = {}
    started = finished = errors = 0

    def start_one() -> None:
        nonlocal started
        s = socket.socket()
        s.setblocking(False)
        code = s.connect_ex(("127.0.0.1", port))
        if code not in (0, errno.EINPROGRESS):
            raise OSError(code, os.strerror(code))
        ep.register(s.fileno(), select.EPOLLIN)
        conns[s.fileno()] = [s, 0]
        started += 1

    for _ in range(min(in_flight, total)):
        start_one()
    while finished < total:
        if time.monotonic() > deadline:
            raise TimeoutError("QOTD client ran past its time bound")
        for fd, _ in ep.poll(1.0):
            entry = conns[fd]
            try:
                data = entry[0].recv(4096)
            except BlockingIOError:
                continue
            except OSError:
                data, entry[1] = b"", -1
            if data:
                entry[1] += len(data)
                continue
            ep.unregister(fd)
            del conns[fd]
            entry[0].close()
            finished += 1
            if entry[1] != 38:  # len(net_bench.QUOTE)
                errors += 1
            if started < total:
                start_one()
    ep.close()
    return errors


def _minutes(runs: int, ops: int, seconds_per_op: float) -> str:
    """The expected duration: each callgrind run starts Python and imports for about 15 s
    (1.8 billion instructions), then ``ops`` operations on average (measured on a 2-CPU
    AMD EPYC; a slower machine takes longer)."""
    return f"{runs * (15 + ops * seconds_per_op) / 60:.1f} minutes"


def _per_op(big: int, small: int, ops: int) -> float:
    return (big - small) / ops


def run_qotd(args: argparse.Namespace, work: str) -> None:
    total = args.connections or (4000 if args.process else 6000)
    small = 0 if args.process else total // 3
    variants = args.variant or QOTD_VARIANTS
    if args.process:
        runs = 2 * len(variants)
        print(f"QOTD, the server process under callgrind: {total} connections, {PROCESS_IN_FLIGHT} in flight, "
              f"from a Python client in this process, minus a run with {small}; {runs} runs, "
              f"about {_minutes(runs, total, 0.0015)}.", flush=True)
        rows = []
        for variant in variants:
            big_count, big = qotd_process(variant, total, work)
            small_count, base = qotd_process(variant, small, work)
            rows.append((variant, _per_op(big_count, small_count, total - small), big, base))
            print(f"  {variant}: done", flush=True)
        print(f"\n{'server':<48} {'instructions/connection':>24} {'loop turns':>12} {'log lines':>10} "
              f"{'errors':>6}")
        for variant, per, big, base in rows:
            print(f"{QOTD_LABELS[variant]:<48} {per / 1000:>23.1f}k {big['turns']:>5} / {base['turns']:<5}"
                  f" {big['log_lines']:>4} / {base['log_lines']:<3} {big['errors']:>6}")
        print(f"(loop turns and log lines: the run with {total} connections / the one with {small})")
        return
    at_once = args.at_once or [1, 16]
    runs = 2 * len(variants) * len(at_once)
    print(f"QOTD, client in the server's process (deterministic): {total} connections minus {small}, "
          f"{' and '.join(map(str, at_once))} at a time; {runs} callgrind runs, "
          f"about {_minutes(runs, total * 2 // 3, 0.001)}.", flush=True)
    table: dict[tuple[str, int], tuple[float, dict, dict]] = {}
    for k in at_once:
        for variant in variants:
            big_count, big = qotd_in_process(variant, total, k, work)
            small_count, base = qotd_in_process(variant, small, k, work)
            table[(variant, k)] = (_per_op(big_count, small_count, total - small), big, base)
            print(f"  {variant}, {k} at a time: done", flush=True)
    header = f"{'server':<48}" + "".join(f" {f'{k} at a time':>14} {'loop turns':>13}" for k in at_once)
    print("\n" + header)
    for variant in variants:
        line = f"{QOTD_LABELS[variant]:<48}"
        for k in at_once:
            per, big, base = table[(variant, k)]
            line += f" {per / 1000:>13.1f}k {big['turns']:>6}/{base['turns']:<6}"
        print(line)
    print(f"instructions a connection; loop turns: the run with {total} connections / the one with {small}")
    serve = [table[("serve", k)] for k in at_once if ("serve", k) in table]
    if serve:
        print("inspector serve's log lines (standard error): "
              + ", ".join(f"{big['log_lines']} / {base['log_lines']}" for _, big, base in serve))


def run_echo(args: argparse.Namespace, work: str) -> None:
    total = args.connections or 60000  # round trips here
    small = total // 3
    variants = list(args.variant or ECHO_VARIANTS)
    notes = []
    if "uvloop" in variants and subprocess.run([PYTHON, "-c", "import uvloop"], capture_output=True).returncode:
        variants.remove("uvloop")
        notes.append("uvloop is not installed: left out (pip install uvloop)")
    print(f"echo, 64-byte ping-pong over {ECHO_CONNECTIONS} connections, both ends in one process: "
          f"{total} round trips minus {small}; {2 * len(variants)} callgrind runs, "
          f"about {_minutes(2 * len(variants), total * 2 // 3, 0.0001)}.", flush=True)
    rows = []
    for variant in variants:
        counts, ran = [], []
        for trips in (total, small):
            if variant == "inspector":
                worker = [os.path.join(HERE, "trace_bench.py"), "--worker", "--trips", str(trips)]
            else:
                worker = [os.path.abspath(__file__), "_echo", variant, str(trips)]
            count, stdout, _ = callgrind_run(worker, work, f"echo-{variant.replace(' ', '-')}-{trips}")
            # How many round trips ran: up to one a connection more than asked, those whose
            # replies arrived in the loop turn that reached the count.
            done = _result(stdout).get("trips") if variant != "inspector" else int(stdout.split()[-1])
            if done is None or done < trips:
                raise RuntimeError(f"{variant}: {done} round trips, wanted {trips}")
            counts.append(count)
            ran.append(done)
        rows.append((variant, _per_op(counts[0], counts[1], ran[0] - ran[1])))
        print(f"  {variant}: done", flush=True)
    print(f"\n{'loop':<44} {'instructions/round trip':>24}")
    for variant, per in rows:
        print(f"{ECHO_LABELS[variant]:<44} {per / 1000:>23.2f}k")
    for note in notes:
        print(note)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=["qotd", "echo"])
    parser.add_argument("--connections", type=int, default=0,
                        help="operations in the measured run: QOTD connections (default 6,000 in-process, "
                             "4,000 with --process) or echo round trips (default 60,000); the baseline runs a third "
                             "(none with --process)")
    parser.add_argument("--at-once", type=int, action="append",
                        help="QOTD connections in flight, in-process client (repeatable; default 1 and 16)")
    parser.add_argument("--process", action="store_true",
                        help="QOTD: the server as its own process, loaded from outside (not deterministic)")
    parser.add_argument("--variant", action="append", help="run only these variants (repeatable)")
    args = parser.parse_args()
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed (apt-get install valgrind)")
    known = QOTD_VARIANTS if args.mode == "qotd" else ECHO_VARIANTS
    for name in args.variant or []:
        if name not in known:
            raise SystemExit(f"unknown variant {name!r}; {args.mode} has {', '.join(known)}")
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="inspector-callgrind-") as work:
        if args.mode == "qotd":
            run_qotd(args, work)
        else:
            run_echo(args, work)
    print(f"callgrind ({subprocess.run(['valgrind', '--version'], capture_output=True, text=True).stdout.strip()}), "
          f"Python {sys.version.split()[0]}; {time.monotonic() - started:.0f} s")
    return 0


def _entry() -> int:
    if len(sys.argv) >= 7 and sys.argv[1] == "_qotd":
        qotd_worker(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5] == "in-process", int(sys.argv[6]))
        return 0
    if len(sys.argv) >= 4 and sys.argv[1] == "_echo":
        {"bare epoll": bare_epoll_worker, "uvloop": uvloop_worker}[sys.argv[2]](int(sys.argv[3]))
        return 0
    return main()


if __name__ == "__main__":
    sys.exit(_entry())
