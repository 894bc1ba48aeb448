"""Intake benchmark: concurrent case creation through the API on the production server set-up.

Run with ``GRIDGOV_TESTING=1 .venv/bin/python bench/bench_cases_intake.py [--seconds N] [--clients N]``. It needs
PostgreSQL (a server on 127.0.0.1:5432 with trust authentication, or GRIDGOV_BENCH_INTAKE_DATABASE_URL); without one
it says so and stops. The script drops and re-creates the database ``gridgov_bench_intake``, migrates it and loads
the demo county's areas, staff and logins with its demo cases (in a child process), then starts gunicorn with sync
workers (``gunicorn bench.refsite_wsgi:application --workers 2``, production settings: DEBUG off, a secret key, a
field key, CONN_MAX_AGE 60) with ``DJANGO_SETTINGS_MODULE=bench.refsite_settings``: the product's URLs plus reference
endpoints that are not part of the product (``bench/refsite.py``): a trivial JSON view and a view that inserts one
row through the ORM, each through the product's middleware and again under ``/bench/bare/`` with none. The load
comes from wrk when it is installed, else from this script's own generator (forked processes of threads); either
way one HTTP/1.1 request per connection as sync workers serve them, ``X-Forwarded-Proto: https`` as nginx sends it,
``--clients`` requests in flight for each endpoint in turn, on the same machine. It prints req/s, p50/p99 latency
and the processor time per request of the web workers, PostgreSQL, the consumer and the load generator:

- ``GET /bench/bare/trivial`` and ``POST /bench/bare/insert`` (the floor: no middleware);
- ``GET /bench/trivial`` and ``POST /bench/insert`` (the references);
- ``POST /api/v1/cases`` as the demo's grid worker (a point in his grid, a category) and as the county's hotline
  operator (a grid's area code, a category, the caller's phone), each request with its own client_key: filed
  within the request (201), then accepted for filing in the background (``Prefer: respond-async``, 202);
- the hotline's asynchronous requests once more with the background consumer stopped (SIGSTOP) for the phase: not
  a target line, it shows what the filing running beside the web workers costs them.

The background filing runs as in production: ``gridgov run_huey --workers 2 --worker-type thread`` at nice 10
beside gunicorn (without its periodic tasks, which would sweep the demo cases' deadlines in the middle of a
measurement), with Redis as the queue when a server answers on 127.0.0.1:6379 (database 13, emptied first), else
huey's SQLite file. After the load the script waits until every submission is filed and prints how long that took
and the delay from acceptance to filing.

The target line is the issue's: the case endpoint at 50% or more of the one-row insert's rate, p99 ≤ 100 ms. A
benchmark: it prints PASS or FAIL, it never asserts.
"""

from __future__ import annotations

import argparse
import base64
import json
import multiprocessing
import os
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from common import PROJECT_DIR, recreate_postgres_database  # noqa: E402  (bench/ is on the path when run)

DEFAULT_PG_URL = "postgres://postgres@127.0.0.1:5432/gridgov_bench_intake"
WORKERS, CLIENTS, PROCESSES = 2, 50, 2
WARMUP_S, SECONDS = 3.0, 15.0
REDIS_URL = "redis://127.0.0.1:6379/13"
DRAIN_LIMIT_S = 900.0
TARGET_SHARE, TARGET_P99_MS = 0.5, 100.0
DESCRIPTIONS = ["路灯损坏两盏，夜间出行不便", "村道护栏被撞坏，存在安全隐患", "垃圾收集点长期未清运，异味严重",
                "自来水管破裂，路面积水", "两户村民因院墙滴水问题产生纠纷"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--setup", help="(child) database URL to prepare")
    parser.add_argument("--info", help="(child) where to write what the load generator needs")
    parser.add_argument("--seconds", type=float, default=SECONDS, help="measured seconds per endpoint")
    parser.add_argument("--clients", type=int, default=CLIENTS, help="concurrent clients")
    parser.add_argument("--workers", type=int, default=WORKERS, help="gunicorn sync workers")
    parser.add_argument("--cases", type=int, default=4000, help="demo cases loaded before the run")
    parser.add_argument("--python-load", action="store_true", help="this script's load generator even if wrk is there")
    args = parser.parse_args()
    if args.setup:
        setup(args.info, args.cases)
        return 0
    url = os.environ.get("GRIDGOV_BENCH_INTAKE_DATABASE_URL") or DEFAULT_PG_URL
    problem = recreate_postgres_database(url)
    if problem:
        print(f"PostgreSQL skipped: {problem}\nThe intake benchmark runs on PostgreSQL only; nothing measured.")
        return 0
    with tempfile.TemporaryDirectory(prefix="gridgov-bench-intake-") as data_dir:
        return run(url, Path(data_dir), args)


# --- child: the database ----------------------------------------------------------------------------


def setup(info_path: str, cases: int) -> None:
    sys.path.insert(0, str(PROJECT_DIR))
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection

    from gridgov.areas import demo
    from gridgov.areas.models import Area, Post
    from gridgov.cases.demo import load_cases

    started = time.perf_counter()
    call_command("migrate", verbosity=0, interactive=False)
    migrated = time.perf_counter()
    demo.load(scale="county")
    loaded = load_cases(scale="county", count=cases)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
        cursor.execute("SHOW server_version")
        version = cursor.fetchone()[0]
    print(f"PostgreSQL {version}: migrate {migrated - started:.1f} s, demo county areas, staff and "
          f"{loaded.counts['cases']:,} cases {time.perf_counter() - migrated:.1f} s", flush=True)
    worker = get_user_model().objects.get(username="grid_worker")
    grid = Post.objects.filter(staff__user=worker).select_related("area").get().area
    codes = list(Area.objects.filter(kind__in=["grid", "dedicated_grid"]).order_by("path")
                 .values_list("code", flat=True))
    Path(info_path).write_text(json.dumps({
        "grid_bbox": [grid.min_lng, grid.min_lat, grid.max_lng, grid.max_lat],
        "grid_codes": codes[:: max(1, len(codes) // 500)],
        "password": demo.DEMO_PASSWORD,
    }))


# --- parent: the server and the load ------------------------------------------------------------------


def run(url: str, data_dir: Path, args) -> int:
    info_path = data_dir / "info.json"
    base_env = {**os.environ, "GRIDGOV_DATA_DIR": str(data_dir), "GRIDGOV_DATABASE_URL": url, "GRIDGOV_DEBUG": "0",
                "GRIDGOV_FIELD_KEY": base64.b64encode(secrets.token_bytes(32)).decode()}
    setup_env = {**base_env, "GRIDGOV_TESTING": "1", "DJANGO_SETTINGS_MODULE": "gridgov.settings"}
    command = [sys.executable, __file__, "--setup", url, "--info", str(info_path), "--cases", str(args.cases)]
    if subprocess.run(command, env=setup_env, cwd=PROJECT_DIR, check=False).returncode:  # noqa: S603
        print("setup failed")
        return 1
    info = json.loads(info_path.read_text())
    server_env = {k: v for k, v in base_env.items() if k != "GRIDGOV_TESTING"}
    server_env.update({"GRIDGOV_SECRET_KEY": secrets.token_urlsafe(40), "GRIDGOV_CONN_MAX_AGE": "60",
                       "DJANGO_SETTINGS_MODULE": "bench.refsite_settings",
                       "PYTHONPATH": str(PROJECT_DIR) + os.pathsep + server_env.get("PYTHONPATH", "")})
    queue = "Redis (" + REDIS_URL + ")" if empty_redis(REDIS_URL) else "huey's SQLite file"
    if queue.startswith("Redis"):
        server_env["GRIDGOV_REDIS_URL"] = REDIS_URL
    port = free_port()
    log = (data_dir / "gunicorn.log").open("wb")
    server = subprocess.Popen(  # noqa: S603  (our own interpreter and the installed gunicorn)
        [sys.executable, "-m", "gunicorn", "bench.refsite_wsgi:application", "--workers", str(args.workers),
         "--bind", f"127.0.0.1:{port}", "--timeout", "120"],
        env=server_env, cwd=PROJECT_DIR, stdout=log, stderr=subprocess.STDOUT,
    )
    consumer = subprocess.Popen(  # noqa: S603  (the project's own command, as docs/deploy.md runs it)
        [sys.executable, "-m", "gridgov", "run_huey", "--workers", "2", "--worker-type", "thread",
         "--no-periodic", "--logfile", str(data_dir / "huey.log")],
        env=server_env, cwd=PROJECT_DIR, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        preexec_fn=lambda: os.nice(10),  # noqa: PLW1509  (as the systemd unit of docs/deploy.md: Nice=10)
    )
    try:
        if not wait_ready(port, server):
            print("gunicorn did not start:\n" + (data_dir / "gunicorn.log").read_text()[-3000:])
            return 1
        print(f"background filing: gridgov run_huey, 2 thread workers at nice 10, queue in {queue}")
        return measure(port, info, args, url, server, consumer)
    finally:
        for process in (server, consumer):
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
        log.close()


@dataclass
class Phase:
    label: str
    method: str
    path: str
    expect: int
    body: Callable | None = None  # (key, i, rng) -> the JSON body
    token: str | None = None
    respond_async: bool = False

    def payload(self, port: int, key: str, i: int, rng) -> bytes:
        body = json.dumps(self.body(key, i, rng), ensure_ascii=False).encode() if self.body else b""
        return request_bytes(self.method, self.path, port, body, self.token, self.respond_async)


def measure(port: int, info: dict, args, url: str, server: subprocess.Popen, consumer: subprocess.Popen) -> int:
    grid_token = login(port, "grid_worker", info["password"])
    hotline_token = login(port, "county_operator", info["password"])
    x0, y0, x1, y1 = info["grid_bbox"]
    codes = info["grid_codes"]

    def grid_worker_case(key: str, i: int, rng) -> dict:
        return {"channel": "grid_worker", "description": DESCRIPTIONS[i % len(DESCRIPTIONS)],
                "category": "risk_road", "lng": round(x0 + (x1 - x0) * rng.uniform(0.1, 0.9), 6),
                "lat": round(y0 + (y1 - y0) * rng.uniform(0.1, 0.9), 6), "client_key": f"gw-{key}"}

    def hotline_case(key: str, i: int, rng) -> dict:
        return {"channel": "hotline", "description": DESCRIPTIONS[i % len(DESCRIPTIONS)], "category": "risk_safety",
                "area": rng.choice(codes), "reporter_name": "王先生", "reporter_phone": "13800001234",
                "client_key": f"hl-{key}"}

    def one_row(key: str, i: int, rng) -> dict:
        return {"n": i}

    cases = "/api/v1/cases"
    paused = "  the same, hotline, background filing paused"
    phases = [
        Phase("GET /bench/bare/trivial, no middleware", "GET", "/bench/bare/trivial", 200),
        Phase("POST /bench/bare/insert, no middleware", "POST", "/bench/bare/insert", 201, one_row),
        Phase("GET /bench/trivial (reference)", "GET", "/bench/trivial", 200),
        Phase("POST /bench/insert, one ORM row (reference)", "POST", "/bench/insert", 201, one_row),
        Phase("POST /api/v1/cases, grid worker (point)", "POST", cases, 201, grid_worker_case, grid_token),
        Phase("POST /api/v1/cases, hotline (area code)", "POST", cases, 201, hotline_case, hotline_token),
        Phase("  the same, Prefer: respond-async, grid worker", "POST", cases, 202, grid_worker_case, grid_token, True),
        Phase("  the same, Prefer: respond-async, hotline", "POST", cases, 202, hotline_case, hotline_token, True),
        # What the filing running beside the web workers costs them: the consumer stopped (SIGSTOP) for one phase.
        Phase(paused, "POST", cases, 202, hotline_case, hotline_token, True),
    ]
    wrk = shutil.which("wrk") if not args.python_load else None
    generator = (f"wrk ({wrk}), {min(2, args.clients)} threads" if wrk else
                 f"this script's own, {PROCESSES} processes of threads")
    load_before = os.getloadavg()
    print(f"\ngunicorn sync workers: {args.workers}; {args.clients} concurrent clients; load generator: {generator}; "
          f"{WARMUP_S:.0f} s warm-up, then {args.seconds:.0f} s measured per endpoint; load average before "
          f"{load_before[0]:.2f} (1 min), {load_before[1]:.2f} (5 min) on {os.cpu_count()} cores", flush=True)
    print(f"{'endpoint':<46} {'requests':>9} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}   "
          "processor ms per request: web, database, consumer, load")
    results = {}
    meter = CpuMeter(url, server, consumer)
    for phase in phases:
        if phase.label == paused:
            consumer.send_signal(signal.SIGSTOP)
        try:
            run_load = load_wrk if wrk else load
            done, seconds, latencies, errors, sample, cpu = run_load(port, phase, args.clients, args.seconds, meter)
        finally:
            consumer.send_signal(signal.SIGCONT)
        rate = done / seconds
        p50, p99 = latencies
        results[phase.label] = (rate, p50, p99, errors)
        per_request = ", ".join(f"{ms:.2f}" for ms in cpu) if done else "-"
        print(f"{phase.label:<46} {done:>9,} {rate:>8,.0f} {p50:>8.1f} {p99:>8.1f} {errors:>7,}   {per_request}",
              flush=True)
        if sample:
            print(f"  first unexpected answer: {sample[:300]!r}")
    load_after = os.getloadavg()
    print(f"load average after: {load_after[0]:.2f} (1 min), {load_after[1]:.2f} (5 min)")
    drain(url)
    print("latency: from sending the request (wrk) or connecting (this script's generator) to the last byte of the "
          "answer, as the client sees it; errors: answers other than the expected status (they count in neither req/s "
          "nor latency) and failed connections; processor time: user and system time of the gunicorn workers, of "
          "the PostgreSQL backends of the benchmark's database, of the background consumer and of the load "
          "generator, over the measured window, per measured request")
    created = count_cases(url)
    print(f"cases in the database after the run: {created:,}")

    insert_rate = results[phases[3].label][0]
    print()
    for phase in phases[4:-1]:
        rate, _p50, p99, errors = results[phase.label]
        share = rate / insert_rate if insert_rate else 0.0
        verdict = "PASS" if share >= TARGET_SHARE and p99 <= TARGET_P99_MS and not errors else "FAIL"
        print(f"{phase.label}: ≥ {TARGET_SHARE:.0%} of the one-row insert's rate and p99 ≤ {TARGET_P99_MS:.0f} ms: "
              f"{verdict} ({share:.0%} of {insert_rate:,.0f} req/s, p99 {p99:.1f} ms"
              f"{f', {errors:,} errors' if errors else ''})")
    rate, _p50, p99, _errors = results[paused]
    print(f"(not the target, the filing's cost to the web workers: with it paused, the hotline's asynchronous "
          f"requests ran at {rate / insert_rate if insert_rate else 0:.0%} of the insert's rate, p99 {p99:.1f} ms)")
    bare_rate, _p50, bare_p99, _errors = results[phases[1].label]
    print(f"(the floor: Django with no middleware inserting one row ran at {bare_rate:,.0f} req/s, "
          f"p99 {bare_p99:.1f} ms; "
          f"an endpoint that writes a row through Django reaches p99 ≤ {TARGET_P99_MS:.0f} ms at {args.clients} "
          f"clients on this machine only if that line does)")
    return 0


# --- HTTP, by hand: one request per connection, as gunicorn's sync workers serve them ----------------------


def request_bytes(method: str, path: str, port: int, body: bytes = b"", token: str | None = None,
                  respond_async: bool = False) -> bytes:
    head = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Connection: close",
            "X-Forwarded-Proto: https", "Accept: application/json"]
    if token:
        head.append(f"Authorization: Bearer {token}")
    if respond_async:
        head.append("Prefer: respond-async")
    if body or method == "POST":
        head += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


def post(path: str, port: int, data: dict, token: str | None) -> bytes:
    return request_bytes("POST", path, port, json.dumps(data, ensure_ascii=False).encode(), token)


def exchange(port: int, payload: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        sock.sendall(payload)
        chunks = []
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
    return b"".join(chunks)


def status_of(answer: bytes) -> int:
    try:
        return int(answer[9:12])
    except ValueError:
        return 0


def wait_ready(port: int, server: subprocess.Popen) -> bool:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            return False
        try:
            if status_of(exchange(port, request_bytes("GET", "/bench/trivial", port))) == 200:
                return True
        except OSError:
            pass
        time.sleep(0.3)
    return False


def login(port: int, username: str, password: str) -> str:
    answer = exchange(port, post("/api/v1/auth/token", port, {"username": username, "password": password}, None))
    if status_of(answer) != 200:
        raise SystemExit(f"login as {username} failed: {answer[:500]!r}")
    return json.loads(answer.split(b"\r\n\r\n", 1)[1])["token"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- the load generators -----------------------------------------------------------------------------------------


class CpuMeter:
    """Processor time (user + system, ms) of the gunicorn workers, the PostgreSQL backends of the benchmark's
    database, the background consumer and this script's children (the load generator), read from /proc."""

    def __init__(self, url: str, server: subprocess.Popen, consumer: subprocess.Popen) -> None:
        self.url, self.server, self.consumer = url, server, consumer
        self.tick_ms = 1000 / os.sysconf("SC_CLK_TCK")

    def _ms(self, pid: int) -> float:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return 0.0
        return (int(fields[11]) + int(fields[12])) * self.tick_ms

    def _children(self, pid: int) -> list[int]:
        found = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                        found.append(int(entry.name))
                except (OSError, ValueError):
                    pass
        return found

    def _backends(self) -> list[int]:
        import psycopg

        with psycopg.connect(self.url.replace("postgres://", "postgresql://", 1), autocommit=True) as conn:
            return [row[0] for row in conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()")]

    def read(self) -> tuple:
        import resource

        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        return ({pid: self._ms(pid) for pid in self._children(self.server.pid)},
                {pid: self._ms(pid) for pid in self._backends()}, self._ms(self.consumer.pid),
                (children.ru_utime + children.ru_stime) * 1000)

    @staticmethod
    def per_request(before: tuple, after: tuple, requests: int) -> tuple[float, ...]:
        """ms per request of each group between two readings (a process started in between counts whole: with
        CONN_MAX_AGE a worker opens a new connection, a new backend, every minute)."""
        if not requests:
            return (0.0, 0.0, 0.0, 0.0)
        groups = [sum(after[g][p] - before[g].get(p, 0.0) for p in after[g]) for g in (0, 1)]
        return tuple(ms / requests for ms in (*groups, after[2] - before[2], after[3] - before[3]))


def load_wrk(port: int, phase: Phase, clients: int, seconds: float, meter: CpuMeter):
    """The phase's load from wrk: a warm-up run, then the measured one; each request gets its own client key."""
    import random

    with tempfile.TemporaryDirectory(prefix="gridgov-bench-wrk-") as folder:
        folder = Path(folder)
        rng = random.Random(7)
        if phase.body:  # 500 bodies in turn, the key put in by the script
            (folder / "bodies").write_text("".join(
                json.dumps(phase.body(KEY_MARK, i, rng), ensure_ascii=False) + "\n" for i in range(500)))
        headers = {"X-Forwarded-Proto": "https", "Accept": "application/json"}
        if phase.body:
            headers["Content-Type"] = "application/json"
        if phase.token:
            headers["Authorization"] = f"Bearer {phase.token}"
        if phase.respond_async:
            headers["Prefer"] = "respond-async"
        script = folder / "phase.lua"
        script.write_text(WRK_SCRIPT % {
            "method": json.dumps(phase.method), "bodies": json.dumps(str(folder / "bodies")),
            "headers": "".join(f"wrk.headers[{json.dumps(k)}] = {json.dumps(v)}\n" for k, v in headers.items()),
            "mark": json.dumps(KEY_MARK), "out": json.dumps(str(folder / "out.json")),
        })
        threads = min(2, clients)

        def run(duration: float, tag: str) -> dict:
            subprocess.run(  # noqa: S603  (wrk, found on the PATH)
                [shutil.which("wrk") or "wrk", f"-t{threads}", f"-c{clients}", f"-d{max(1, round(duration))}s",
                 "--timeout", "60s", "-s", str(script), f"http://127.0.0.1:{port}{phase.path}", "--", tag],
                check=True, stdout=subprocess.DEVNULL)
            return json.loads((folder / "out.json").read_text())

        token = secrets.token_hex(4)
        run(WARMUP_S, f"{token}w")
        before = meter.read()
        got = run(seconds, f"{token}m")
        after = meter.read()
    errors = got["status_errors"] + got["socket_errors"]
    done = got["requests"] - got["status_errors"]
    return (done, got["duration_us"] / 1e6, (got["p50_us"] / 1000, got["p99_us"] / 1000), errors, b"",
            CpuMeter.per_request(before, after, got["requests"]))


KEY_MARK = "@@KEY@@"
WRK_SCRIPT = """-- one phase of bench/bench_cases_intake.py
wrk.method = %(method)s
%(headers)s
local bodies = {}
local f = io.open(%(bodies)s)
if f then
  for line in f:lines() do bodies[#bodies + 1] = line end
  f:close()
end
local n = 0
local threads = {}
function setup(thread)
  thread:set("id", #threads + 1)
  threads[#threads + 1] = thread
end
function init(args)
  prefix = args[1] .. "-" .. tostring(id) .. "-"
end
function request()
  n = n + 1
  if #bodies == 0 then return wrk.format() end
  local body = string.gsub(bodies[(n %% #bodies) + 1], %(mark)s, prefix .. n)
  return wrk.format(nil, nil, nil, body)
end
function done(summary, latency, requests)
  local e = summary.errors
  local out = io.open(%(out)s, "w")
  out:write(string.format(
    '{"requests": %%d, "duration_us": %%d, "status_errors": %%d, "socket_errors": %%d, "p50_us": %%d, "p99_us": %%d}',
    summary.requests, summary.duration, e.status, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(99)))
  out:close()
end
"""


def load(port: int, phase: Phase, clients: int, seconds: float, meter: CpuMeter):
    """This script's load: ``clients`` requests kept in flight for WARMUP_S + ``seconds``; the requests started
    in the measured window count."""
    start = time.monotonic() + 0.5  # every process starts together
    window = (start + WARMUP_S, start + WARMUP_S + seconds)
    per_process = [clients // PROCESSES + (1 if i < clients % PROCESSES else 0) for i in range(PROCESSES)]
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    procs = [context.Process(target=_generator, args=(port, phase, n, window, start, i, queue))
             for i, n in enumerate(per_process) if n]
    for proc in procs:
        proc.start()
    time.sleep(max(0.0, window[0] - time.monotonic()))
    before = meter.read()
    latencies: list[float] = []
    errors, sample, sent = 0, b"", 0
    for _proc in procs:
        got, failed, first, all_sent = queue.get()
        latencies += got
        errors += failed
        sample = sample or first
        sent += all_sent
    for proc in procs:
        proc.join()
    after = meter.read()
    # The generator's processes are counted once they have ended: their whole life, warm-up included, per request.
    cpu = (*CpuMeter.per_request(before, after, len(latencies) + errors)[:3], (after[3] - before[3]) / max(1, sent))
    p50 = statistics.median(latencies) if latencies else float("nan")
    p99 = statistics.quantiles(latencies, n=100)[98] if len(latencies) > 1 else float("nan")
    return len(latencies), seconds, (p50, p99), errors, sample, cpu


def _generator(port, phase, threads, window, start, index, queue) -> None:
    import random

    results: list[list[float]] = [[] for _i in range(threads)]
    failures = [0] * threads
    sent = [0] * threads
    first: list[bytes] = []

    def client(k: int) -> None:
        rng = random.Random(index * 1000 + k)
        tag = f"{os.getpid()}-{k}-{secrets.token_hex(3)}"
        out = results[k]
        i = 0
        while time.monotonic() < start:
            time.sleep(0.001)
        while True:
            began = time.monotonic()
            if began >= window[1]:
                return
            payload = phase.payload(port, f"{tag}-{i}", i, rng)
            i += 1
            sent[k] += 1
            try:
                answer = exchange(port, payload)
            except OSError as exc:
                answer = repr(exc).encode()
            took = time.monotonic() - began
            if began < window[0]:
                continue
            if status_of(answer) == phase.expect:
                out.append(took * 1000)
            else:
                failures[k] += 1
                if not first:
                    first.append(answer)

    pool = [threading.Thread(target=client, args=(k,)) for k in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    queue.put(([ms for out in results for ms in out], sum(failures), first[0] if first else b"", sum(sent)))


def drain(url: str) -> None:
    """Wait until the background workers have filed every submission; print how long it took and the delays."""
    import psycopg

    stopped = time.monotonic()
    with psycopg.connect(url.replace("postgres://", "postgresql://", 1), autocommit=True) as conn:
        while (left := conn.execute("SELECT count(*) FROM cases_casesubmission WHERE status = 'queued'")
               .fetchone()[0]) and time.monotonic() - stopped < DRAIN_LIMIT_S:
            time.sleep(0.5)
        waited = time.monotonic() - stopped
        rows = conn.execute("SELECT status, count(*), min(received_at), max(filed_at) FROM cases_casesubmission "
                            "GROUP BY status ORDER BY status").fetchall()
        delays = [r[0] for r in conn.execute(
            "SELECT extract(epoch FROM filed_at - received_at) FROM cases_casesubmission WHERE filed_at IS NOT NULL")]
    counts = {status: n for status, n, _first, _last in rows}
    filed = counts.get("filed", 0)
    first = min((r[2] for r in rows), default=None)
    last = max((r[3] for r in rows if r[3] is not None), default=None)
    span = (last - first).total_seconds() if first and last else float("nan")
    print(f"\nbackground filing: {filed:,} filed, {counts.get('refused', 0):,} refused, {left:,} still queued; "
          f"the queue was empty {waited:.1f} s after the load stopped; {filed / span if span else 0:,.0f} cases/s "
          f"from the first acceptance to the last filing ({span:.1f} s)")
    if len(delays) > 1:
        q = statistics.quantiles(delays, n=100)
        print(f"delay from acceptance to filing: p50 {q[49]:.1f} s, p99 {q[98]:.1f} s, max {max(delays):.1f} s")


def empty_redis(url: str) -> bool:
    """Whether Redis answers at ``url``; if so its database is emptied for the run's queue."""
    try:
        import redis

        client = redis.Redis.from_url(url, socket_connect_timeout=1)
        client.flushdb()
        return True
    except Exception:  # noqa: BLE001  (no Redis: huey's SQLite queue)
        return False


def count_cases(url: str) -> int:
    import psycopg

    with psycopg.connect(url.replace("postgres://", "postgresql://", 1)) as conn:
        return conn.execute("SELECT count(*) FROM cases_case").fetchone()[0]


if __name__ == "__main__":
    sys.exit(main())
