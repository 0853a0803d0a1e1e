"""Run the whole side-by-side benchmark and write a markdown report.

    python benchmarks/run.py            # the full run (a few minutes)
    python benchmarks/run.py --quick    # fewer requests: a rough picture in ~1 minute
    python benchmarks/run.py --smoke --clients httpx,router   # seconds: checks the harness

One fake OpenAI-compatible server runs in its own process, pinned to one CPU;
each client runs in its own process, pinned to another, against that server.
Start-up time and RSS after import come from fresh processes (median of 5) in
this interpreter; the start-up figure the target is judged on comes from a fresh
venv holding only the package and its dependencies (benchmarks/startup_venv.py).
The report (ratios to raw httpx) goes to ``benchmarks/results/<UTC time>.md``
and ``benchmarks/results/latest.md``, the raw numbers to ``latest.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks import instructions, startup_venv  # noqa: E402
from benchmarks.clients import ASYNC_ONLY, CLIENTS, ENV, REQUIRES, config_path  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
X = "\N{MULTIPLICATION SIGN}"  # the sign of every ratio in the report

# name: (requests, streams, async requests, concurrency, import runs, policy n, warmup)
MODES: dict[str, tuple[int, int, int, int, int, int, int]] = {
    "full": (2000, 1000, 5000, 64, 5, 5000, 50),
    "quick": (300, 100, 1000, 64, 3, 2000, 20),
    "smoke": (5, 3, 20, 4, 1, 50, 2),
}
INSTRUCTION_CALLS = {"full": 200, "quick": 50, "smoke": 3}
VENV_RUNS = {"full": 40, "quick": 20, "smoke": 3}
"""Timed runs of each statement in the fresh venv (interleaved; each figure their median)."""
"""Calls counted per client and mode under valgrind (which runs code about 50 times slower)."""
ROUNDS = {"full": 5, "quick": 3, "smoke": 1}
"""Each client's request, stream and async figures are measured in this many rounds,
interleaved with the other clients' (the requests split between them), and each figure
is the median of its rounds: a machine that slows down for a while then weighs on
every client alike instead of on whichever one was running."""

TARGETS = {
    "startup": 2.0,
    "cpu": 1.25,
    "async": 0.9,
    "rss": 1.5,
    "decide_p50_us": 30.0,
}


# -- processes -----------------------------------------------------------------


def _cpus() -> tuple[int | None, int | None]:
    """(server CPU, client CPU): two different CPUs where there are two, else no pinning."""
    try:
        cpus = sorted(os.sched_getaffinity(0))
    except AttributeError:
        return None, None
    if len(cpus) < 2:
        return None, None
    return cpus[0], cpus[1]


def _env(client: str | None = None, base_url: str = "") -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env["BENCH_BASE_URL"] = base_url or env.get("BENCH_BASE_URL", "http://127.0.0.1:9/v1")
    env.setdefault("PYTHONHASHSEED", "0")
    # Installed packages start from cached bytecode; give the worktree's modules the same.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    if client:
        env.update(ENV.get(client, {}))
    return env


def _pinned(cpu: int | None) -> Any:
    if cpu is None:
        return None
    return lambda: os.sched_setaffinity(0, {cpu})


def start_server(cpu: int | None) -> tuple[subprocess.Popen[str], str]:
    """Start the fake server; return it and its base URL."""
    cmd = [sys.executable, "-m", "benchmarks.fake_server", "--port", "0"]
    if cpu is not None:
        cmd += ["--cpu", str(cpu)]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=_env(), stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith("PORT "):
        proc.kill()
        raise RuntimeError(f"fake server did not start: {line!r}")
    return proc, f"http://127.0.0.1:{int(line.split()[1])}/v1"


def startup(
    stmt: str, runs: int, env: dict[str, str], cpu: int | None, argv: list[str] | None = None
) -> dict[str, float]:
    """Median wall seconds and RSS (MB) of ``python -c stmt`` over ``runs`` fresh processes.

    ``argv`` replaces ``-c stmt`` when given (e.g. ``-m benchmarks.first ...``).
    """
    walls, cpus, rss = [], [], []
    cmd = [sys.executable, *(argv or ["-c", stmt])]
    # One untimed run first: it writes bytecode caches and warms the page cache.
    subprocess.run(cmd, cwd=ROOT, env=env, check=True)
    for _ in range(runs):
        t0 = time.perf_counter()
        p = subprocess.Popen(cmd, cwd=ROOT, env=env, preexec_fn=_pinned(cpu))
        _, status, usage = os.wait4(p.pid, 0)
        walls.append(time.perf_counter() - t0)
        p.returncode = os.waitstatus_to_exitcode(status)
        if p.returncode != 0:
            raise RuntimeError(f"start-up command failed ({p.returncode}): {cmd}")
        rss.append(usage.ru_maxrss / 1024)
        cpus.append(usage.ru_utime + usage.ru_stime)
    return {
        "wall_s": statistics.median(walls),
        "wall_min_s": min(walls),
        "cpu_s": statistics.median(cpus),
        "rss_mb": statistics.median(rss),
        "runs": runs,
    }


def run_worker(
    name: str,
    base_url: str,
    mode: tuple[int, ...],
    cpu: int | None,
    timeout: float,
    rounds: int = 1,
) -> dict[str, Any]:
    """One client's measurements in a fresh process (``1/rounds`` of the mode's work)."""
    requests, streams, areqs, conc, _, _, warmup = mode
    requests, streams = max(1, requests // rounds), max(1, streams // rounds)
    areqs = max(conc, areqs // rounds)
    cmd = [
        sys.executable, "-m", "benchmarks.worker",
        "--client", name, "--base-url", base_url,
        "--requests", str(requests), "--streams", str(streams),
        "--async-requests", str(areqs), "--concurrency", str(conc), "--warmup", str(warmup),
    ]  # fmt: skip
    if cpu is not None:
        cmd += ["--cpu", str(cpu)]
    out = subprocess.run(
        cmd, cwd=ROOT, env=_env(name, base_url), capture_output=True, text=True, timeout=timeout
    )
    if out.returncode != 0:
        tail = (out.stderr or out.stdout).strip().splitlines()[-3:]
        raise RuntimeError(" / ".join(tail) or f"exit {out.returncode}")
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


_SUMMED = frozenset({"n", "errors"})


def merge_rounds(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """One client's rounds as one result: the median of each figure (counts summed)."""
    out = _merge(rounds)
    if len(rounds) > 1:
        out["rounds"] = len(rounds)
    return out


def _merge(parts: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, first in parts[0].items():
        values = [p[key] for p in parts if key in p]
        if isinstance(first, dict):
            out[key] = _merge(values)
        elif isinstance(first, int | float) and not isinstance(first, bool):
            out[key] = sum(values) if key in _SUMMED else statistics.median(values)
        else:
            out[key] = first
    return out


def run_paired(base_url: str, n: int, cpu: int | None, timeout: float) -> dict[str, Any]:
    """Router vs raw httpx, alternating calls in one process (see benchmarks/paired.py)."""
    cmd = [sys.executable, "-m", "benchmarks.paired", "--base-url", base_url, "--n", str(n)]
    if cpu is not None:
        cmd += ["--cpu", str(cpu)]
    out = subprocess.run(
        cmd, cwd=ROOT, env=_env("router", base_url), capture_output=True, text=True, timeout=timeout
    )
    if out.returncode != 0:
        raise RuntimeError((out.stderr or out.stdout).strip().splitlines()[-1])
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def run_policy(n: int, cpu: int | None) -> dict[str, Any]:
    """The policy-alone measurement in a fresh process."""
    cmd = [sys.executable, "-m", "benchmarks.policy_bench", "--n", str(n)]
    if cpu is not None:
        cmd += ["--cpu", str(cpu)]
    out = subprocess.run(cmd, cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=600)
    if out.returncode != 0:
        raise RuntimeError((out.stderr or out.stdout).strip().splitlines()[-1])
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


# -- the machine ---------------------------------------------------------------


def machine() -> dict[str, Any]:
    """CPU model, core counts, Python and library versions."""
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    versions = {}
    for pkg in ("httpx", "pydantic", "openai", "litellm", "aiohttp", "httpx-aiohttp"):
        try:
            versions[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            versions[pkg] = None
    try:
        load = os.getloadavg()[0]
    except OSError:
        load = None
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "versions": versions,
        "loadavg_1m": load,
    }


# -- the report ----------------------------------------------------------------


def _f(v: float | None, fmt: str = "{:,.0f}") -> str:
    return "—" if v is None else fmt.format(v)


def _ratio(v: float | None, base: float | None) -> str:
    if v is None or not base:
        return "—"
    return f"{v / base:.2f}{X}"


def _get(d: dict[str, Any] | None, *path: str) -> Any:
    for p in path:
        if not isinstance(d, dict):
            return None
        d = d.get(p)
    return d


COLUMNS = [
    "client",
    "start-up here wall (CPU) s",
    f"{X} httpx",
    "to first answer s",
    f"{X} httpx",
    "RSS after import MB",
    f"{X} httpx",
    "request wall p50 / p99 µs",
    "request CPU p50 / p99 µs",
    f"CPU {X} httpx",
    "stream wall p50 / p99 µs",
    "stream CPU p50 / p99 µs",
    f"CPU {X} httpx",
    "async req/s @{conc}",
    f"{X} httpx",
    "peak RSS MB",
]


def render(results: dict[str, Any]) -> str:
    """The markdown report."""
    m, rows, mode = results["machine"], results["clients"], results["mode"]
    base = rows.get("httpx") or {}
    conc = results["settings"]["concurrency"]
    b_start = _get(base, "startup", "wall_s")
    b_rss = _get(base, "startup", "rss_mb")
    b_first = _get(base, "first", "wall_s")
    b_cpu = _get(base, "seq", "cpu_p50_us")
    b_scpu = _get(base, "stream", "cpu_p50_us")
    b_async = _get(base, "async", "req_per_s")
    s = results["settings"]
    lines = [
        "# Benchmark: llm-policy-router vs raw httpx, the openai SDK and LiteLLM",
        "",
        f"Run {results['started']} ({mode} mode) on **{m['cpu']}**, {m['cores']} cores, "
        f"{m['implementation']} {m['python']}, {m['platform']}.",
        "Versions: " + ", ".join(f"{k} {v}" for k, v in m["versions"].items() if v) + ".",
        f"Server and client each pinned to one CPU: {results['pinning']}. "
        f"1-minute load average at start: {_f(m['loadavg_1m'], '{:.2f}')}.",
        f"Sequential: {s['requests']} requests, {s['streams']} streams "
        f"({results.get('stream_events', '?')} SSE data events and `[DONE]` each) per client; "
        f"async: {s['async_requests']} requests at concurrency {conc}; "
        f"each in {s.get('rounds', 1)} round(s) interleaved with the other clients "
        f"(every figure is the median of its rounds); "
        f"start-up here: median of {s['import_runs']} fresh processes of this interpreter, "
        "whose crowded site-packages slows every import (for comparison between clients only; "
        "the router's start-up target is judged on the fresh venv's figure below).",
        "",
        "| " + " | ".join(c.format(conc=conc) for c in COLUMNS) + " |",
        "|" + "|".join("---" if i == 0 else "---:" for i in range(len(COLUMNS))) + "|",
    ]
    for name, r in rows.items():
        if "error" in r:
            continue
        start, rss = _get(r, "startup", "wall_s"), _get(r, "startup", "rss_mb")
        seq, st, asy = r.get("seq"), r.get("stream"), r.get("async")
        lines.append(
            "| "
            + " | ".join(
                [
                    f"`{name}`",
                    f"{_f(start, '{:.3f}')} ({_f(_get(r, 'startup', 'cpu_s'), '{:.3f}')})",
                    _ratio(start, b_start),
                    _f(_get(r, "first", "wall_s"), "{:.3f}"),
                    _ratio(_get(r, "first", "wall_s"), b_first),
                    _f(rss, "{:.1f}"),
                    _ratio(rss, b_rss),
                    f"{_f(_get(seq, 'wall_p50_us'))} / {_f(_get(seq, 'wall_p99_us'))}"
                    if seq
                    else "—",
                    f"{_f(_get(seq, 'cpu_p50_us'))} / {_f(_get(seq, 'cpu_p99_us'))}"
                    if seq
                    else "—",
                    _ratio(_get(seq, "cpu_p50_us"), b_cpu),
                    f"{_f(_get(st, 'wall_p50_us'))} / {_f(_get(st, 'wall_p99_us'))}" if st else "—",
                    f"{_f(_get(st, 'cpu_p50_us'))} / {_f(_get(st, 'cpu_p99_us'))}" if st else "—",
                    _ratio(_get(st, "cpu_p50_us"), b_scpu),
                    _f(_get(asy, "req_per_s")),
                    _ratio(_get(asy, "req_per_s"), b_async),
                    _f(r.get("peak_rss_mb"), "{:.1f}"),
                ]
            )
            + " |"
        )
    lines.append("")
    pol = results.get("policy")
    if pol and "error" not in pol:
        lines += [
            f"Policy decision alone (`Policy.decide`, {pol['targets']} targets, {pol['rules']} "
            f"rules, {pol['message_bytes']}-byte message, {pol['decide']['n']} calls): "
            f"p50 **{pol['decide']['p50_us']:.1f} µs**, p99 {pol['decide']['p99_us']:.1f} µs "
            f"on a message seen before (the detectors' memo answers, as for a conversation's "
            f"history); on a message never seen before p50 "
            f"**{_get(pol, 'decide_unseen', 'p50_us') or 0:.1f} µs**, p99 "
            f"{_get(pol, 'decide_unseen', 'p99_us') or 0:.1f} µs. "
            f"Whole facade without I/O (validate, decide, budget hold, plan walk, parse a "
            f"reply, settle, ledger record): "
            f"p50 {pol['facade']['p50_us']:.1f} µs, p99 {pol['facade']['p99_us']:.1f} µs.",
            "",
        ]
    rounds = _round_ratios(rows.get("httpx") or {}, rows.get("router") or {})
    if rounds:
        lines += [
            "Router ÷ raw httpx CPU p50 in each round (their processes ran back to back): "
            + "; ".join(f"{k} " + ", ".join(f"{r:.2f}" for r in v) for k, v in rounds.items())
            + ". Two processes in one round see nearly the same machine; the machine "
            "itself may move between rounds.",
            "",
        ]
    pr = results.get("paired")
    if pr and "error" not in pr:
        rq, st = pr["request"], pr["stream"]
        lines += [
            f"Paired (router and raw httpx calls alternating in one process, CPU p50): "
            f"request {rq['router_cpu_p50_us']:,.0f} vs {rq['httpx_cpu_p50_us']:,.0f} µs "
            f"(**{rq['ratio']:.2f}{X}**), stream {st['router_cpu_p50_us']:,.0f} vs "
            f"{st['httpx_cpu_p50_us']:,.0f} µs (**{st['ratio']:.2f}{X}**).",
            "",
        ]
    fv = results.get("startup_venv")
    if fv and "error" not in fv:
        lines += [
            "## Start-up in a fresh venv",
            "",
            "A new venv (`python -m venv`) holding only this package (built from this tree, "
            "non-editable) and its core dependencies, as a user's first install gets them; "
            "each statement run from an empty directory without `PYTHON*` variables, "
            "`python -c pass` subtracted (benchmarks/startup_venv.py).",
            "",
            startup_venv.summary(fv),
            "",
        ]
    ins = results.get("instructions")
    if ins and "error" not in ins:
        c, s, u = ins["call"], ins["stream"], ins["startup"]
        lines += [
            f"Instructions (valgrind; the machine's load cannot move them; {ins['n']} calls, "
            f"a process's start and warm-up subtracted): request {c['router']:,.0f} vs "
            f"{c['httpx']:,.0f} (**{c['ratio']:.2f}{X}**), stream {s['router']:,.0f} vs "
            f"{s['httpx']:,.0f} (**{s['ratio']:.2f}{X}**), start-up {u['router'] / 1e6:,.0f}M "
            f"vs {u['httpx'] / 1e6:,.0f}M (**{u['ratio']:.2f}{X}**). An instruction is not a "
            "unit of time (a cache miss costs far more than an add): these say how much work "
            "each client does, the timed figures what it costs here.",
            "",
        ]
    notes = [f"- `{n}` skipped: {r['error']}" for n, r in rows.items() if "error" in r]
    if ins and "error" in ins:
        notes.append(f"- instruction count failed: {ins['error']}")
    if pr and "error" in pr:
        notes.append(f"- paired measurement failed: {pr['error']}")
    if pol and "error" in pol:
        notes.append(f"- policy measurement failed: {pol['error']}")
    if fv and "error" in fv:
        notes.append(f"- fresh-venv start-up failed: {fv['error']}")
    for n, r in rows.items():
        errs = _get(r, "async", "errors")
        if errs:
            notes.append(f"- `{n}`: {errs} async requests failed")
    if notes:
        lines += ["Notes:", *notes, ""]
    lines += targets_section(results)
    return "\n".join(lines) + "\n"


def _round_ratios(hx: dict[str, Any], rt: dict[str, Any]) -> dict[str, list[float]]:
    """Router ÷ httpx per round, for requests and streams (empty without round data)."""
    a, b = hx.get("round_p50s") or {}, rt.get("round_p50s") or {}
    names = {"seq": "request", "stream": "stream"}
    return {
        names[k]: [r / h for h, r in zip(a[k], b[k], strict=False) if h]
        for k in names
        if a.get(k) and b.get(k)
    }


def _verdict(ok: bool | None) -> str:
    return "—" if ok is None else ("met" if ok else "**not met**")


def targets_section(results: dict[str, Any]) -> list[str]:
    """The issue's targets, each with its measured ratio and a verdict."""
    rows = results["clients"]
    hx, rt = rows.get("httpx") or {}, rows.get("router") or {}
    hxa, rta = rows.get("httpx-aiohttp") or {}, rows.get("router-aiohttp") or {}

    def ratio(a: Any, b: Any) -> float | None:
        return a / b if a is not None and b else None

    out = ["## Targets", "", "| target | measured | verdict |", "|---|---:|---|"]

    def add(
        label: str,
        value: float | None,
        limit: float,
        higher_is_better: bool = False,
        judged: bool = True,
    ) -> None:
        ok = None if value is None else (value >= limit if higher_is_better else value <= limit)
        ok = ok if judged else None
        shown = "—" if value is None else f"{value:.2f}{X}"
        out.append(f"| {label} | {shown} | {_verdict(ok)} |")

    fv = results.get("startup_venv") or {}
    add(
        f"start-up in a fresh venv (`import router` + `Router(<one-model dict>)`, "
        f"`python -c pass` subtracted) ≤ {TARGETS['startup']} {X} `import httpx`",
        fv.get("ratio_wall"),
        TARGETS["startup"],
    )
    add(
        "start-up in a fresh venv, CPU time (same statements; less sensitive to a busy machine)",
        fv.get("ratio_cpu"),
        TARGETS["startup"],
    )
    add(
        "start-up in a fresh venv, instructions (valgrind; the load cannot move them)",
        _get(fv, "instructions", "ratio"),
        TARGETS["startup"],
    )
    add(
        "start-up in this interpreter (import + `Router.from_file` of the benchmark config; "
        "crowded site-packages, `pass` not subtracted; for reference, not judged)",
        ratio(_get(rt, "startup", "wall_s"), _get(hx, "startup", "wall_s")),
        TARGETS["startup"],
        judged=False,
    )
    add(
        f"sequential request CPU p50 ≤ {TARGETS['cpu']} {X} raw httpx",
        ratio(_get(rt, "seq", "cpu_p50_us"), _get(hx, "seq", "cpu_p50_us")),
        TARGETS["cpu"],
    )
    add(
        f"sequential stream CPU p50 ≤ {TARGETS['cpu']} {X} raw httpx",
        ratio(_get(rt, "stream", "cpu_p50_us"), _get(hx, "stream", "cpu_p50_us")),
        TARGETS["cpu"],
    )
    pr = results.get("paired") or {}
    add(
        f"paired request CPU p50 ≤ {TARGETS['cpu']} {X} raw httpx (same process, alternating)",
        _get(pr, "request", "ratio"),
        TARGETS["cpu"],
    )
    add(
        f"paired stream CPU p50 ≤ {TARGETS['cpu']} {X} raw httpx (same process, alternating)",
        _get(pr, "stream", "ratio"),
        TARGETS["cpu"],
    )
    add(
        f"async req/s (httpx transport) ≥ {TARGETS['async']} {X} raw httpx",
        ratio(_get(rt, "async", "req_per_s"), _get(hx, "async", "req_per_s")),
        TARGETS["async"],
        higher_is_better=True,
    )
    add(
        f"async req/s (aiohttp transport) ≥ {TARGETS['async']} {X} raw httpx-aiohttp",
        ratio(_get(rta, "async", "req_per_s"), _get(hxa, "async", "req_per_s")),
        TARGETS["async"],
        higher_is_better=True,
    )
    add(
        f"RSS after import ≤ {TARGETS['rss']} {X} httpx alone",
        ratio(_get(rt, "startup", "rss_mb"), _get(hx, "startup", "rss_mb")),
        TARGETS["rss"],
    )
    pol = results.get("policy") or {}
    p50 = _get(pol, "decide", "p50_us")
    ok = None if p50 is None else p50 <= TARGETS["decide_p50_us"]
    out.append(
        f"| policy decision p50 ≤ {TARGETS['decide_p50_us']:.0f} µs (message seen before) "
        f"| {_f(p50, '{:.1f}')} µs | {_verdict(ok)} |"
    )
    cold = _get(pol, "decide_unseen", "p50_us")
    ok = None if cold is None else cold <= TARGETS["decide_p50_us"]
    out.append(
        f"| policy decision p50 ≤ {TARGETS['decide_p50_us']:.0f} µs (message never seen) "
        f"| {_f(cold, '{:.1f}')} µs | {_verdict(ok)} |"
    )
    base = _get(hx, "seq", "cpu_p50_us")
    mine = _get(rt, "seq", "cpu_p50_us")
    for other in ("litellm", "litellm-router"):
        o = rows.get(other) or {}
        theirs = _get(o, "seq", "cpu_p50_us")
        r = ratio(theirs, mine)
        if r is None or base is None or theirs is None or mine is None:
            continue
        out.append(
            f"| `{other}` request CPU ÷ router request CPU (whole call; ≥ 10{X}) "
            f"| {r:.1f}{X} | {_verdict(r >= 10)} |"
        )
        # What each adds on top of the same HTTP call: the cost of routing itself.
        added = mine - base
        over = (theirs - base) / added if added > 0 else float("inf")
        shown = f"{over:.0f}{X}" if added > 0 else "router adds nothing"
        out.append(
            f"| `{other}` CPU over raw httpx ÷ router CPU over raw httpx (≥ 10{X}) "
            f"| {shown} | {_verdict(over >= 10)} |"
        )
    out.append("")
    return out


def _validate_table(md: str) -> None:
    """Every row of every table has as many cells as its header (a cheap self-check)."""
    tables: list[list[int]] = []
    prev = False
    for line in md.splitlines():
        is_row = line.startswith("|")
        if is_row:
            if not prev:
                tables.append([])
            tables[-1].append(line.count("|"))
        prev = is_row
    if not tables:
        raise RuntimeError("the report has no table")
    for widths in tables:
        if len(set(widths)) != 1:
            raise RuntimeError(f"malformed table: rows of {sorted(set(widths))} separators")


# -- main ----------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    """Run everything the arguments ask for; write the report; print where it went."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    g = ap.add_mutually_exclusive_group()
    g.add_argument("--quick", action="store_true", help="fewer requests (about a minute)")
    g.add_argument("--smoke", action="store_true", help="a handful of requests: checks the harness")
    ap.add_argument("--clients", default=",".join(CLIENTS), help="comma-separated subset")
    ap.add_argument("--out-dir", type=Path, default=RESULTS)
    ap.add_argument("--no-policy", action="store_true", help="skip the policy-alone measurement")
    ap.add_argument(
        "--fresh-venv",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="measure start-up in a new venv holding only the package (default: on, except "
        "with --smoke; pip fetches the dependencies once, then installs from a wheelhouse)",
    )
    ap.add_argument("--timeout", type=float, default=900, help="seconds per client process")
    ap.add_argument(
        "--instructions",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="count instructions per request under valgrind (default: in the full run, "
        "when valgrind is installed; adds about four minutes)",
    )
    args = ap.parse_args(argv)

    mode_name = "smoke" if args.smoke else "quick" if args.quick else "full"
    mode = MODES[mode_name]
    requests, streams, areqs, conc, import_runs, policy_n, _ = mode
    names = [n.strip() for n in args.clients.split(",") if n.strip()]
    unknown = [n for n in names if n not in CLIENTS]
    if unknown:
        ap.error(f"unknown client(s) {unknown}; known: {', '.join(CLIENTS)}")
    if "httpx" not in names:
        names.insert(0, "httpx")  # the baseline of every ratio
    names = [n for n in CLIENTS if n in names]

    server_cpu, client_cpu = _cpus()
    started = dt.datetime.now(dt.UTC)
    results: dict[str, Any] = {
        "started": started.strftime("%Y-%m-%d %H:%M UTC"),
        "mode": mode_name,
        "machine": machine(),
        "pinning": f"server CPU {server_cpu}, clients CPU {client_cpu}"
        if server_cpu is not None
        else "not available (one CPU or no sched_setaffinity)",
        "settings": {
            "requests": requests,
            "streams": streams,
            "async_requests": areqs,
            "concurrency": conc,
            "import_runs": import_runs,
        },
        "clients": {},
    }
    server, base_url = start_server(server_cpu)
    # The baseline and the router back to back, so they see the most similar conditions.
    first = [n for n in ("httpx", "router") if n in names]
    order = first + [n for n in names if n not in first]
    rounds = ROUNDS[mode_name]
    results["settings"]["rounds"] = rounds
    try:
        measured: dict[str, list[dict[str, Any]]] = {}
        for name in order:
            missing = [m for m in REQUIRES[name] if importlib.util.find_spec(m) is None]
            if missing:
                results["clients"][name] = {
                    "error": f"not installed ({', '.join(missing)}); "
                    "pip install -r benchmarks/requirements.txt"
                }
                print(f"{name}: skipped (missing {', '.join(missing)})", file=sys.stderr)
                continue
            print(f"{name}: start-up…", file=sys.stderr, flush=True)
            try:
                stmt = CLIENTS[name].IMPORT.replace("{cfg!r}", repr(config_path()))
                env = _env(name, base_url)
                row: dict[str, Any] = {"startup": startup(stmt, import_runs, env, client_cpu)}
                if name not in ASYNC_ONLY:
                    argv = ["-m", "benchmarks.first", name, base_url]
                    row["first"] = startup("", import_runs, env, client_cpu, argv)
                measured[name] = []
            except Exception as e:  # a comparator that breaks is reported, not fatal
                row = {"error": f"{type(e).__name__}: {e}"}
                print(f"{name}: failed: {row['error']}", file=sys.stderr)
            results["clients"][name] = row
        for i in range(rounds):
            for name in [n for n in order if n in measured]:
                print(f"{name}: round {i + 1} of {rounds}…", file=sys.stderr, flush=True)
                try:
                    measured[name].append(
                        run_worker(name, base_url, mode, client_cpu, args.timeout, rounds)
                    )
                except Exception as e:
                    results["clients"][name] = {"error": f"{type(e).__name__}: {e}"}
                    print(f"{name}: failed: {e}", file=sys.stderr)
                    del measured[name]
        for name, parts in measured.items():
            row = results["clients"][name]
            row.update(merge_rounds(parts))
            # Each round's p50s too (in the JSON): they show how much the machine moved.
            row["round_p50s"] = {
                k: [p[k]["cpu_p50_us"] for p in parts if k in p] for k in ("seq", "stream")
            }
            if name in ASYNC_ONLY:
                row.pop("seq", None)
            if name == "httpx" and "stream_events" in row:
                results["stream_events"] = row["stream_events"]  # data events before [DONE]
        results["clients"] = {n: results["clients"][n] for n in names}
        if "router" in names and "error" not in results["clients"]["router"]:
            print("paired: measuring…", file=sys.stderr, flush=True)
            try:
                results["paired"] = run_paired(base_url, requests, client_cpu, args.timeout)
            except Exception as e:
                results["paired"] = {"error": f"{type(e).__name__}: {e}"}
        count = args.instructions
        if count is None:
            count = mode_name == "full" and shutil.which("valgrind") is not None
        if count and "router" in names:
            print("instructions: counting under valgrind…", file=sys.stderr, flush=True)
            try:
                results["instructions"] = instructions.measure(
                    base_url, INSTRUCTION_CALLS[mode_name], _env("router", base_url)
                )
            except Exception as e:
                results["instructions"] = {"error": f"{type(e).__name__}: {e}"}
    finally:
        server.terminate()
        server.wait(timeout=10)
    fresh = args.fresh_venv if args.fresh_venv is not None else mode_name != "smoke"
    if fresh and "router" in names:
        print("start-up: in a fresh venv…", file=sys.stderr, flush=True)
        try:
            results["startup_venv"] = startup_venv.run(
                VENV_RUNS[mode_name],
                cpu=client_cpu,
                count_instructions=bool(count),
            )
        except Exception as e:
            results["startup_venv"] = {"error": f"{type(e).__name__}: {e}"}
    if not args.no_policy:
        print("policy: measuring…", file=sys.stderr, flush=True)
        try:
            results["policy"] = run_policy(policy_n, client_cpu)
        except Exception as e:
            results["policy"] = {"error": f"{type(e).__name__}: {e}"}

    md = render(results)
    _validate_table(md)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    stamp = started.strftime("%Y%m%dT%H%M%SZ")
    (args.out_dir / f"{stamp}-{mode_name}.md").write_text(md, encoding="utf-8")
    (args.out_dir / "latest.md").write_text(md, encoding="utf-8")
    (args.out_dir / "latest.json").write_text(json.dumps(results, indent=2), encoding="utf-8")
    print(md)
    print(f"written: {args.out_dir / 'latest.md'}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
