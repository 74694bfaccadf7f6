"""The gateway benchmark: the latency the gateway adds (desensitization on) over calling the stand-in engine
directly, at fixed request rates, and the desensitization throughput in MB/s per core.

Three processes on loopback, in the same run: the stand-in engine (`podforge engine standin`), the gateway in
front of it (`podforge gateway serve`, a temporary project: the lab spec with its per-key and per-role rate
limits raised far above the load, its engine concurrency, queue and timeouts left at their defaults, and
desensitization as the spec's default — every category masked), and an open-loop load generator (asyncio, a
minimal HTTP/1.1 client on kept-alive connections; this module run as a program). The generator sends
non-streamed chat completions whose user message is a 2 KB prompt (2,048 UTF-8 bytes) built from the labelled
corpus (tests/support/pii_corpus.py: phone numbers, resident ids, bank cards, e-mail addresses, names, ...),
at a fixed rate — each request at its scheduled time, whether or not earlier ones have been answered — for a
short run of DURATION_S seconds after WARMUP_S seconds of warm-up at the same rate (not counted). A latency is
from the request's scheduled time to its whole answer, so a generator or a server that falls behind shows up
in the latency rather than being hidden by a slower send rate.

Each rate is run against the stand-in directly and then through the gateway, each run once both servers are
idle again (the backlog of an overloaded run does not spill into the next); the added latency is the
gateway's percentile minus the direct one (p50 − p50, p99 − p99). Every request of a row is counted: a status
other than 200, a transport error or a request unanswered after the drain is an error. A row whose generator
sent below 95 % of the rate, or whose answers came back below it, is marked: its latencies are those of an
overloaded run, not of the rate asked for.

Throughput: the corpus text, UTF-8 bytes per CPU second of this process (time.process_time, one thread), the
fastest of `repeat` runs, for detection alone (`scan`) and for the full desensitization the gateway applies
to a prompt (`redact`, every category masked); the goal is judged on `redact`.

Goals: p99 added latency ≤ 5 ms at 500 requests/s; ≥ 20 MB/s per core. The machine's cores are shared by the
three processes (and by anything else running): the latency rows measure the gateway on these cores, not on a
dedicated host. `sizes` is not used (the rates are those of the goals); `repeat` applies to the throughput
only — each latency row is one run.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import yaml

from tests.support.cli_process import start_cli, stop, wait_healthy
from tests.unit.plan_roots import CHECKOUT

RATES = (200, 500, 1000)
DURATION_S = 10.0
WARMUP_S = 1.0
DRAIN_S = 5.0
REQUEST_TIMEOUT_S = 5.0
SETTLE_S = 15.0
MAX_CONNECTIONS = 512
PROMPT_BYTES = 2048
PROMPTS = 32
CORPUS_SAMPLES = 3000
MODEL = "deepseek-ai/DeepSeek-R1"
LOOPBACK = "127.0.0.1"
SHORT = 0.95
GOAL_RATE = 500
GOAL_ADDED_P99_MS = 5.0
GOAL_MB_S = 20.0
OPEN = {"concurrency": 100_000, "rate_per_s": 1_000_000, "burst": 1_000_000}
"""Rate limits far above the load, for the key and for every role: the benchmark measures the path, not a 429."""


# --- the load generator (its own process) -----------------------------------------------------------------

class _Stale(Exception):
    """A kept-alive connection the server had closed before the request was written."""


class _Client:
    """A minimal HTTP/1.1 client on asyncio streams: kept-alive connections, one request at a time on each,
    answers with a Content-Length (the stand-in's and the gateway's JSON answers). It costs about a tenth of
    httpx's CPU per request, so that the generator takes as little as it can of the cores it shares with the
    servers it measures."""

    def __init__(self, url: str, key: str | None) -> None:
        parts = urlsplit(url)
        self.host, self.port = parts.hostname or LOOPBACK, parts.port or 80
        auth = f"authorization: Bearer {key}\r\n" if key else ""
        self.head = (f"POST /v1/chat/completions HTTP/1.1\r\nhost: {self.host}:{self.port}\r\n"
                     f"content-type: application/json\r\n{auth}").encode()
        self.idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
        self.open = 0
        self.freed = asyncio.Condition()

    async def _connection(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, bool]:
        async with self.freed:
            while not self.idle and self.open >= MAX_CONNECTIONS:
                await self.freed.wait()
            if self.idle:
                return (*self.idle.pop(), True)
            self.open += 1
        try:
            return (*await asyncio.open_connection(self.host, self.port), False)
        except BaseException:
            await self._closed()
            raise

    async def _closed(self) -> None:
        async with self.freed:
            self.open -= 1
            self.freed.notify()

    async def _release(self, conn: tuple[asyncio.StreamReader, asyncio.StreamWriter]) -> None:
        async with self.freed:
            self.idle.append(conn)
            self.freed.notify()

    async def _exchange(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, body: bytes,
                        reused: bool) -> tuple[int, bool]:
        writer.write(self.head + b"content-length: %d\r\n\r\n" % len(body) + body)
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError as exc:
            if reused and not exc.partial:
                raise _Stale from exc
            raise
        lines = head.split(b"\r\n")
        status = int(lines[0].split(b" ", 2)[1])
        fields = dict(line.split(b":", 1) for line in lines[1:] if b":" in line)
        fields = {k.strip().lower(): v.strip().lower() for k, v in fields.items()}
        if b"content-length" not in fields:
            raise ValueError("an answer without Content-Length")
        await reader.readexactly(int(fields[b"content-length"]))
        return status, fields.get(b"connection") != b"close"

    async def post(self, body: bytes) -> int:
        for _ in range(2):
            reader, writer, reused = await self._connection()
            try:
                status, keep = await self._exchange(reader, writer, body, reused)
            except _Stale:
                writer.close()
                await self._closed()
                continue
            except BaseException:
                writer.close()
                await self._closed()
                raise
            if keep:
                await self._release((reader, writer))
            else:
                writer.close()
                await self._closed()
            return status
        raise ConnectionError("the server closed two connections in a row")


async def _load(url: str, key: str | None, bodies: list[bytes], rate: float, warmup_s: float,
                duration_s: float) -> dict:
    client = _Client(url, key)
    loop = asyncio.get_running_loop()
    measured: list[tuple[float, float, float, str]] = []  # scheduled, answered, send lag, outcome
    pending: set[asyncio.Task] = set()

    async def one(i: int, due: float, counted: bool) -> None:
        lag = loop.time() - due
        try:
            outcome = str(await asyncio.wait_for(client.post(bodies[i % len(bodies)]), REQUEST_TIMEOUT_S))
        except (OSError, ValueError, asyncio.IncompleteReadError, TimeoutError) as exc:
            outcome = type(exc).__name__
        if counted:
            measured.append((due, loop.time(), lag, outcome))

    total = int((warmup_s + duration_s) * rate)
    start = loop.time() + 0.05
    counted_from = start + warmup_s
    for i in range(total):
        due = start + i / rate
        delay = due - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        task = asyncio.create_task(one(i, due, due >= counted_from))
        pending.add(task)
        task.add_done_callback(pending.discard)
    scheduled = total - int(warmup_s * rate)
    sent_last = loop.time()
    if pending:
        _, late = await asyncio.wait(set(pending), timeout=DRAIN_S)
        for task in late:
            task.cancel()
    return {"scheduled": scheduled, "first_due": counted_from, "sent_last": sent_last,
            "results": [[due - counted_from, done - counted_from, lag, outcome]
                        for due, done, lag, outcome in measured]}


def _generator_main(argv: list[str]) -> int:
    args = json.loads(argv[0])
    bodies = [b.encode() for b in json.loads(Path(args["bodies"]).read_text())]
    result = asyncio.run(_load(args["url"], args.get("key"), bodies, args["rate"], args["warmup_s"],
                               args["duration_s"]))
    sys.stdout.write(json.dumps(result))
    return 0


# --- the processes -----------------------------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]


def _write_project(root: Path) -> str:
    """A project whose `bench` stack is the lab spec with the gateway's rate limits opened up (its engine
    concurrency, queue and timeouts stay the defaults: an overloaded gateway refuses with 429 and recovers)."""
    spec = yaml.safe_load((CHECKOUT / "specs" / "lab.yaml").read_text())
    spec["gateway"] = {"limits": {"per_key": OPEN, "role_default": OPEN}}
    (root / "Pulumi.yaml").write_text((CHECKOUT / "Pulumi.yaml").read_text())
    (root / "specs").mkdir()
    (root / "specs" / "bench.yaml").write_text(yaml.safe_dump(spec, sort_keys=False, allow_unicode=True))
    (root / "Pulumi.bench.yaml").write_text(yaml.safe_dump({"config": {"podforge:spec": "specs/bench.yaml"}}))
    return "bench"


def prompts(n: int = PROMPTS, size: int = PROMPT_BYTES) -> list[str]:
    """`n` prompts of exactly `size` UTF-8 bytes: corpus sentences holding personal data, padded with filler."""
    from tests.support.pii_corpus import corpus

    samples = [s.text for s in corpus(n * 40, seed=10) if s.spans]
    out: list[str] = []
    pos = 0
    for _ in range(n):
        parts: list[str] = []
        used = 0
        while True:
            piece = samples[pos % len(samples)] + "\n"
            if used + len(piece.encode()) > size:
                break
            parts.append(piece)
            used += len(piece.encode())
            pos += 1
        out.append("".join(parts) + "." * (size - used))
    return out


# --- measuring ---------------------------------------------------------------------------------------------

def _percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    rank = max(1, min(len(sorted_values), round(q * len(sorted_values) + 0.5)))
    return sorted_values[rank - 1]


@dataclass
class Row:
    target: str
    rate: int
    scheduled: int
    ok: int
    errors: dict[str, int]
    sent_per_s: float
    ok_per_s: float
    p50_ms: float
    p99_ms: float
    lag_p99_ms: float

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())

    @property
    def short(self) -> bool:
        return self.sent_per_s < SHORT * self.rate or self.ok_per_s < SHORT * self.rate


def _cpu_s(pid: int) -> float | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def settle(procs: list[subprocess.Popen], timeout: float = SETTLE_S) -> float:
    """Wait until the servers are idle (under 10 % of a core each over half a second), so that the backlog of
    one run does not slow the next; return the seconds waited (Linux /proc; elsewhere a fixed pause)."""
    started = time.monotonic()
    if _cpu_s(procs[0].pid) is None:
        time.sleep(2.0)
        return time.monotonic() - started
    while time.monotonic() - started < timeout:
        before = [_cpu_s(p.pid) or 0.0 for p in procs]
        time.sleep(0.5)
        if all((_cpu_s(p.pid) or 0.0) - b < 0.05 for p, b in zip(procs, before, strict=True)):
            break
    return time.monotonic() - started


def measure(target: str, url: str, key: str | None, bodies_file: Path, rate: int) -> Row:
    args = {"url": url, "key": key, "bodies": str(bodies_file), "rate": rate, "warmup_s": WARMUP_S,
            "duration_s": DURATION_S}
    done = subprocess.run([sys.executable, "-m", "tests.benchmarks.gateway", json.dumps(args)], cwd=CHECKOUT,
                          capture_output=True, text=True, timeout=WARMUP_S + DURATION_S + DRAIN_S + 60)
    if done.returncode != 0:
        raise RuntimeError(f"load generator failed ({done.returncode}): {done.stderr[-2000:]}")
    result = json.loads(done.stdout)
    results = result["results"]
    latencies = sorted((answered - due) * 1000 for due, answered, _, outcome in results if outcome == "200")
    errors: dict[str, int] = {}
    for *_, outcome in results:
        if outcome != "200":
            errors[outcome] = errors.get(outcome, 0) + 1
    unanswered = result["scheduled"] - len(results)
    if unanswered:
        errors["unanswered"] = unanswered
    send_window = (result["sent_last"] - result["first_due"]) or 1e-9
    last_answer = max((answered for _, answered, _, o in results if o == "200"), default=1e-9)
    lags = sorted(lag * 1000 for _, _, lag, _ in results)
    return Row(target, rate, result["scheduled"], len(latencies), errors,
               result["scheduled"] / send_window, len(latencies) / last_answer,
               _percentile(latencies, 0.50), _percentile(latencies, 0.99), _percentile(lags, 0.99))


def _check_gateway(gateway: str, key: str, prompt: str) -> None:
    """One call before the runs: the answer comes from the stand-in and its prompt was desensitized."""
    reply = httpx.post(f"{gateway}/v1/chat/completions", headers={"Authorization": f"Bearer {key}"}, timeout=30.0,
                       json={"model": MODEL, "messages": [{"role": "user", "content": prompt}]})
    if reply.status_code != 200:
        raise RuntimeError(f"gateway answered {reply.status_code}: {reply.text[:500]}")
    content = reply.json()["choices"][0]["message"]["content"]
    if reply.json().get("system_fingerprint") != "podforge-standin" or content == prompt or "[" not in content:
        raise RuntimeError("the gateway's answer is not the stand-in's echo of a desensitized prompt")


def latency_rows(rates: tuple[int, ...] = RATES) -> list[tuple[Row, Row]]:
    with tempfile.TemporaryDirectory(prefix="podforge-bench-gateway-") as tmp:
        root = Path(tmp)
        stack = _write_project(root)
        env = {**os.environ, "PODFORGE_PROJECT_DIR": str(root)}
        texts = prompts()
        bodies = [json.dumps({"model": MODEL, "messages": [{"role": "user", "content": t}]}, ensure_ascii=False)
                  for t in texts]
        bodies_file = root / "bodies.json"
        bodies_file.write_text(json.dumps(bodies, ensure_ascii=False))
        procs: list[subprocess.Popen] = []
        try:
            engine = f"http://{LOOPBACK}:{_free_port()}"
            log = root / "engine.log"
            procs.append(start_cli(["engine", "standin", "--listen", engine.removeprefix("http://")], log, env))
            wait_healthy(engine, procs[-1], log, timeout=60.0)
            store, audit = root / "keys.json", root / "audit" / "gateway.jsonl"
            issued = subprocess.run([sys.executable, "-m", "components.cli", "gateway", "key", "--stack", stack,
                                     "--role", "api_user", "--name", "bench", "--key-store", str(store)],
                                    cwd=CHECKOUT, env=env, capture_output=True, text=True, timeout=60, check=True)
            key = issued.stdout.strip()
            gateway = f"http://{LOOPBACK}:{_free_port()}"
            log = root / "gateway.log"
            procs.append(start_cli(["gateway", "serve", "--stack", stack, "--listen", gateway.removeprefix("http://"),
                                 "--key-store", str(store), "--audit-log", str(audit), "--engine", engine], log, env))
            wait_healthy(gateway, procs[-1], log, timeout=60.0)
            _check_gateway(gateway, key, texts[0])
            rows = []
            for rate in rates:
                settle(procs)
                direct = measure("direct", engine, None, bodies_file, rate)
                print(f"  measured {rate}/s direct", flush=True)
                settle(procs)
                through = measure("gateway", gateway, key, bodies_file, rate)
                print(f"  measured {rate}/s gateway", flush=True)
                rows.append((direct, through))
            return rows
        finally:
            for proc in procs:
                stop(proc)


def throughput(repeat: int) -> tuple[float, float, float]:
    """(MB of corpus text, MB/s per core of scan, MB/s per core of redact)."""
    from components.gateway.desensitize import Policy, redact, scan
    from tests.support.pii_corpus import corpus

    text = "\n".join(s.text for s in corpus(CORPUS_SAMPLES))
    size = len(text.encode("utf-8")) / 1e6
    policy = Policy()

    def best(fn) -> float:
        times = []
        for _ in range(max(1, repeat)):
            start = time.process_time()
            fn(text)
            times.append(time.process_time() - start)
        return size / min(times)

    return size, best(scan), best(lambda t: redact(t, policy))


# --- the table ---------------------------------------------------------------------------------------------

def _ms(value: float, width: int) -> str:
    return f"{'—':>{width}}" if math.isnan(value) else f"{value:>{width}.2f}"


def _errors(row: Row) -> str:
    return ", ".join(f"{k}×{v}" for k, v in sorted(row.errors.items())) or "0"


def table(rows: list[tuple[Row, Row]]) -> str:
    head = (f"{'rate/s':>6} {'target':8} {'sent/s':>7} {'ok/s':>7} {'p50 ms':>8} {'p99 ms':>8} "
            f"{'lag p99':>8} {'errors':>8}  {'added p50':>9} {'added p99':>9}  note")
    lines = [head, "-" * len(head)]
    for direct, through in rows:
        for row in (direct, through):
            added = ""
            if row is through:
                added = f"{_ms(through.p50_ms - direct.p50_ms, 9)} {_ms(through.p99_ms - direct.p99_ms, 9)}"
            note = []
            if row.short:
                note.append(f"rate not reached ({row.ok_per_s:.0f}/s answered of {row.rate}/s)")
            lines.append(f"{row.rate:>6} {row.target:8} {row.sent_per_s:>7.0f} {row.ok_per_s:>7.0f} "
                         f"{_ms(row.p50_ms, 8)} {_ms(row.p99_ms, 8)} {_ms(row.lag_p99_ms, 8)} {_errors(row):>8}  "
                         f"{added:>19}  {'; '.join(note)}")
    return "\n".join(lines)


def verdicts(rows: list[tuple[Row, Row]], redact_mb_s: float) -> list[tuple[str, bool]]:
    out: list[tuple[str, bool]] = []
    at = {d.rate: (d, g) for d, g in rows}
    if GOAL_RATE in at:
        direct, through = at[GOAL_RATE]
        added = through.p99_ms - direct.p99_ms
        clean = not (direct.short or through.short or direct.error_count or through.error_count)
        why = "" if clean else " — the run did not hold the rate without errors, so it does not count"
        shown = "not measured (no answer)" if math.isnan(added) else f"{added:.2f} ms"
        out.append((f"p99 added latency at {GOAL_RATE} requests/s = {shown} (goal ≤ {GOAL_ADDED_P99_MS:.0f} "
                    f"ms on {os.cpu_count()} shared cores){why}", clean and added <= GOAL_ADDED_P99_MS))
    out.append((f"desensitization {redact_mb_s:.1f} MB/s per core, full redact (goal ≥ {GOAL_MB_S:.0f} MB/s)",
                redact_mb_s >= GOAL_MB_S))
    return out


def run(sizes: list[int] | None = None, repeat: int = 3) -> int:
    """Print the table and the goal verdicts; return how many goals were missed."""
    print(f"gateway benchmark: stand-in engine, gateway (desensitization on: every category masked) and an "
          f"open-loop load generator, three processes on loopback, {os.cpu_count()} CPUs shared with whatever else "
          f"runs; {PROMPT_BYTES}-byte prompts with personal data, non-streamed chat completions; each row one "
          f"{DURATION_S:.0f} s run after {WARMUP_S:.0f} s of warm-up; latency from the scheduled send to the whole "
          "answer")
    rows = latency_rows()
    print(table(rows))
    size, scan_mb_s, redact_mb_s = throughput(repeat)
    print(f"desensitization throughput on the corpus ({CORPUS_SAMPLES} samples, {size:.2f} MB), CPU time of one "
          f"process, best of {max(1, repeat)}: scan {scan_mb_s:.1f} MB/s per core, redact (mask) "
          f"{redact_mb_s:.1f} MB/s per core")
    missed = 0
    for text, met in verdicts(rows, redact_mb_s):
        print(f"{'met   ' if met else 'MISSED'}  {text}")
        missed += not met
    return missed


if __name__ == "__main__":
    sys.exit(_generator_main(sys.argv[1:]))
