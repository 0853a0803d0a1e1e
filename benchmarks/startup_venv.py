"""Start-up where users run it: a fresh virtual environment holding only the package.

    python -m benchmarks.startup_venv               # 40 interleaved runs of each command
    python -m benchmarks.startup_venv --runs 15 --json

The start-up of a process depends on the interpreter it runs in as much as on
the code it imports: a crowded ``site-packages`` (many ``.pth`` files and
distributions on ``sys.path``) slows ``import httpx`` itself down, and the
ratio to it moves with it. This module measures where users run the router:

1. a new venv (``python -m venv`` in a temporary directory) into which pip
   installs this tree, non-editable, with its core dependencies only (no
   extras). Wheels are kept in a wheelhouse (``~/.cache/llm-policy-router-bench``
   or ``$ROUTER_BENCH_WHEELHOUSE``), so a repeated run installs offline in
   seconds; ``--refresh`` fetches the newest releases again, as a first
   install would;
2. in that venv, from an empty directory and without ``PYTHON*`` variables,
   the wall and CPU time of ``python -c pass``, ``python -c "import httpx"``
   and ``python -c "import router; router.Router(<one-model config>)"``, many
   runs interleaved, each figure the median of its runs; ``pass`` is
   subtracted from the other two, so the ratio compares what the imports cost
   and not the interpreter's own start;
3. ``python -X importtime`` of the router statement (each module's median
   over a few runs): the modules that cost most, and the modules loaded.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "llm-policy-router"
WHEELHOUSE = Path(
    os.environ.get("ROUTER_BENCH_WHEELHOUSE")
    or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    / "llm-policy-router-bench"
    / "wheels"
)
CONFIG = {
    "providers": {"p": {"kind": "vllm", "base_url": "http://127.0.0.1:9/v1"}},
    "models": {"m": {"provider": "p", "model": "x"}},
}
STATEMENTS = {
    "pass": "pass",
    "httpx": "import httpx",
    "router": f"import router; router.Router({CONFIG!r})",
    # For reference: what any config validated by a pydantic model costs before the
    # router's own code (pydantic, one model, its validator: pydantic then loads
    # importlib.metadata to look for plugins).
    "pydantic": "from pydantic import BaseModel\nclass M(BaseModel):\n    x: int\nM(x=1)",
}
PHASES = (
    "import time; t0 = time.perf_counter(); import router; t1 = time.perf_counter(); "
    f"router.Router({CONFIG!r}); t2 = time.perf_counter(); print(t1 - t0, t2 - t1)"
)
DISTRIBUTIONS = (
    "httpx",
    "pydantic",
    "pydantic-core",
    "PyYAML",
    "tenacity",
    "opentelemetry-api",
    "python-stdnum",
)


# -- the venv ------------------------------------------------------------------


def _pip(*args: str) -> list[str]:
    return [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q", *args]


def _run(cmd: list[str]) -> None:
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        tail = (out.stderr or out.stdout).strip().splitlines()[-3:]
        raise RuntimeError(f"{' '.join(cmd[:5])}… failed: {' / '.join(tail)}")


def _copy_tree(dest: Path, source: Path = ROOT) -> Path:
    """The files a build needs, copied: a build in the worktree would leave ``build/`` there."""
    src = dest / "src"
    src.mkdir(parents=True)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(source / name, src / name)
    shutil.copytree(
        source / "router", src / "router", ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
    )
    return src


def build_venv(
    where: Path, wheelhouse: Path = WHEELHOUSE, refresh: bool = False, source: Path = ROOT
) -> Path:
    """A new venv under ``where`` with ``source`` (this tree) and its core dependencies."""
    wheelhouse.mkdir(parents=True, exist_ok=True)
    for sub in ("src", "dist", "venv"):  # what an earlier build in ``where`` left
        shutil.rmtree(where / sub, ignore_errors=True)
    if refresh or not any(wheelhouse.glob("setuptools-*.whl")):
        _run(_pip("download", "-d", str(wheelhouse), "--only-binary=:all:", "setuptools>=68"))
    dist = where / "dist"
    _run(
        _pip(
            "wheel",
            "--no-deps",
            "--no-index",
            "--find-links",
            str(wheelhouse),
            "-w",
            str(dist),
            str(_copy_tree(where, source)),
        )
    )
    wheel = next(dist.glob("*.whl"))
    _run([sys.executable, "-m", "venv", "--without-pip", str(where / "venv")])
    python = where / "venv" / "bin" / "python"
    install = _pip(
        "--python",
        str(python),
        "install",
        "--no-index",
        "--find-links",
        str(wheelhouse),
        str(wheel),
    )
    if refresh or subprocess.run(install, capture_output=True).returncode != 0:
        # Not all of the dependencies are in the wheelhouse yet (or newer ones were asked
        # for): fetch them as a first install would, then install from the wheelhouse.
        _run(_pip("download", "-d", str(wheelhouse), str(wheel)))
        _run(install)
    return python


def _env() -> dict[str, str]:
    """The process environment without ``PYTHON*`` variables (no PYTHONPATH, no -X flags)."""
    return {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}


def versions(python: Path) -> dict[str, str]:
    """The installed versions of the router's core dependencies in the venv."""
    code = (
        "import json, importlib.metadata as m\n"
        f"print(json.dumps({{d: m.version(d) for d in {DISTRIBUTIONS!r}}}))"
    )
    out = subprocess.run(
        [str(python), "-c", code], env=_env(), capture_output=True, text=True, check=True
    )
    return dict(json.loads(out.stdout))


# -- measuring -----------------------------------------------------------------


def _timed(cmd: list[str], cwd: Path, env: dict[str, str], cpu: int | None) -> tuple[float, float]:
    pre = (lambda: os.sched_setaffinity(0, {cpu})) if cpu is not None else None
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, cwd=cwd, env=env, preexec_fn=pre)
    _, status, usage = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t0
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"start-up command failed: {cmd}")
    return wall, usage.ru_utime + usage.ru_stime


def measure(python: Path, runs: int, cwd: Path, cpu: int | None = None) -> dict[str, Any]:
    """Median wall and CPU seconds of each statement; the router's over httpx's, ``pass`` off.

    The statements run in turn, ``runs`` times each, the order rotating every round,
    so a machine that slows down for a while weighs on all three alike.
    """
    env = _env()
    names = list(STATEMENTS)
    for name in names * 2:  # untimed: warms the page cache (pip compiled the bytecode)
        subprocess.run([str(python), "-c", STATEMENTS[name]], cwd=cwd, env=env, check=True)
    walls: dict[str, list[float]] = {n: [] for n in names}
    cpus: dict[str, list[float]] = {n: [] for n in names}
    for i in range(runs):
        for name in names[i % 3 :] + names[: i % 3]:
            wall, cpu_s = _timed([str(python), "-c", STATEMENTS[name]], cwd, env, cpu)
            walls[name].append(wall)
            cpus[name].append(cpu_s)
    out: dict[str, Any] = {"runs": runs}
    for name in names:
        out[name] = {
            "wall_s": statistics.median(walls[name]),
            "wall_min_s": min(walls[name]),
            "cpu_s": statistics.median(cpus[name]),
        }
    out.update(ratios(out))
    return out


def ratios(m: dict[str, Any]) -> dict[str, float | None]:
    """Net (``pass`` subtracted) wall and CPU of each statement, and each one's ratio to httpx's.

    ``ratio_wall`` and ``ratio_cpu`` are the router's; ``ratio_pydantic_wall`` etc. the others'.
    """
    out: dict[str, float | None] = {}
    for key in ("wall_s", "cpu_s"):
        unit = key.removesuffix("_s")
        net = {n: m[n][key] - m["pass"][key] for n in STATEMENTS if n != "pass" and n in m}
        hx = net["httpx"]
        for name, v in net.items():
            out[f"{name}_net_{unit}_s"] = v
            if name != "httpx":
                label = f"ratio_{unit}" if name == "router" else f"ratio_{name}_{unit}"
                out[label] = v / hx if hx > 0 else None
    return out


def instructions(python: Path, cwd: Path) -> dict[str, Any]:
    """Instructions each statement executes under valgrind (``pass`` subtracted), and ratios.

    Unlike times, the counts do not move with the machine's load (PYTHONHASHSEED is
    fixed), so they show a change of a percent that timings on a busy machine cannot.
    """
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        raise RuntimeError("valgrind is not installed")
    env = {**_env(), "PYTHONHASHSEED": "0"}
    counts: dict[str, int] = {}
    grind = [valgrind, "--tool=callgrind", "--callgrind-out-file=/dev/null", str(python)]
    for name, stmt in STATEMENTS.items():
        p = subprocess.run(
            [*grind, "-c", stmt],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        found = re.search(r"Collected\s*:\s*(\d+)", p.stderr)
        if p.returncode != 0 or found is None:
            raise RuntimeError(f"valgrind failed on {name}: {p.stderr.strip()[-200:]}")
        counts[name] = int(found.group(1))
    net = {n: c - counts["pass"] for n, c in counts.items() if n != "pass"}
    return {
        "counts": counts,
        "net": net,
        "ratio": net["router"] / net["httpx"],
        "ratio_pydantic": net["pydantic"] / net["httpx"],
    }


def parse_importtime(stderr: str) -> dict[str, tuple[int, int]]:
    """``-X importtime`` lines as {module: (self µs, cumulative µs)} (the first import of each)."""
    out: dict[str, tuple[int, int]] = {}
    for line in stderr.splitlines():
        if not line.startswith("import time:"):
            continue
        parts = line[len("import time:") :].split("|")
        if len(parts) != 3 or not parts[0].strip().isdigit():
            continue  # the header line
        out.setdefault(parts[2].strip(), (int(parts[0]), int(parts[1])))
    return out


def importtime(python: Path, cwd: Path, runs: int = 5, top: int = 15) -> dict[str, Any]:
    """The router statement's costliest modules (median µs over ``runs``) and the modules loaded."""
    env = _env()
    samples: list[dict[str, tuple[int, int]]] = []
    for _ in range(runs):
        p = subprocess.run(
            [str(python), "-X", "importtime", "-c", STATEMENTS["router"]],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        samples.append(parse_importtime(p.stderr))
    mods = set().union(*samples)
    med = {
        m: (
            statistics.median(s[m][0] for s in samples if m in s),
            statistics.median(s[m][1] for s in samples if m in s),
        )
        for m in mods
    }
    by_self = sorted(med.items(), key=lambda kv: -kv[1][0])[:top]
    by_cum = sorted(med.items(), key=lambda kv: -kv[1][1])[:top]
    listed = subprocess.run(
        [
            str(python),
            "-c",
            f"import sys; before = set(sys.modules); {STATEMENTS['router']}; "
            "print('\\n'.join(sorted(set(sys.modules) - before)))",
        ],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    phases = []
    for _ in range(runs):
        p = subprocess.run(
            [str(python), "-c", PHASES], cwd=cwd, env=env, capture_output=True, text=True
        )
        phases.append([float(x) for x in p.stdout.split()])
    return {
        "top_self_us": [[m, round(s), round(c)] for m, (s, c) in by_self],
        "top_cumulative_us": [[m, round(s), round(c)] for m, (s, c) in by_cum],
        "modules_loaded": len(listed),
        "router_modules": [m for m in listed if m == "router" or m.startswith("router.")],
        "top_packages": _packages(listed),
        "import_s": statistics.median(p[0] for p in phases),
        "construct_s": statistics.median(p[1] for p in phases),
    }


def _packages(modules: list[str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for m in modules:
        top = m.split(".", 1)[0]
        counts[top] = counts.get(top, 0) + 1
    return dict(sorted(counts.items(), key=lambda kv: -kv[1])[:12])


def run(
    runs: int = 40,
    cpu: int | None = None,
    keep: Path | None = None,
    refresh: bool = False,
    wheelhouse: Path = WHEELHOUSE,
    importtime_runs: int = 5,
    source: Path = ROOT,
    count_instructions: bool = False,
) -> dict[str, Any]:
    """Build the venv, measure, and return everything as one JSON-able dict."""
    where = Path(tempfile.mkdtemp(prefix="router-startup-")) if keep is None else keep
    try:
        t0 = time.perf_counter()
        python = build_venv(where, wheelhouse, refresh, source)
        built = time.perf_counter() - t0
        cwd = where / "run"  # empty: nothing on sys.path[0] but the venv's site-packages
        cwd.mkdir(exist_ok=True)
        result = {
            "python": subprocess.run(
                [str(python), "-c", "import platform; print(platform.python_version())"],
                capture_output=True,
                text=True,
                check=True,
            ).stdout.strip(),
            "versions": versions(python),
            "config": CONFIG,
            "venv_build_s": built,
            **measure(python, runs, cwd, cpu),
            "importtime": importtime(python, cwd, importtime_runs),
        }
        if count_instructions:
            try:
                result["instructions"] = instructions(python, cwd)
            except Exception as e:  # reported, not fatal: the timings stand alone
                result["instructions"] = {"error": f"{type(e).__name__}: {e}"}
    finally:
        if keep is None:
            shutil.rmtree(where, ignore_errors=True)
    return result


def summary(r: dict[str, Any]) -> str:
    """The figures as a few lines of markdown (a terminal reads them as well as a report)."""
    ms = 1000.0
    it = r["importtime"]

    def t(name: str) -> str:
        return f"{r[name]['wall_s'] * ms:.1f} ({r[name]['cpu_s'] * ms:.1f})"

    lines = [
        f"Fresh venv: CPython {r['python']}, "
        + ", ".join(f"{k} {v}" for k, v in r["versions"].items())
        + ".",
        f"Median of {r['runs']} interleaved runs, wall (CPU) ms: `python -c pass` {t('pass')}, "
        f"`import httpx` {t('httpx')}, `import router; router.Router(<one-model dict>)` "
        f"{t('router')}; one pydantic model (for reference) {t('pydantic')}.",
        f"Net of `pass`: httpx {r['httpx_net_wall_s'] * ms:.1f} ms, router "
        f"{r['router_net_wall_s'] * ms:.1f} ms: **{_x(r['ratio_wall'])}** "
        f"(CPU {_x(r['ratio_cpu'])}); one pydantic model alone {_x(r.get('ratio_pydantic_wall'))} "
        f"(CPU {_x(r.get('ratio_pydantic_cpu'))}).",
    ]
    ins = r.get("instructions")
    if ins and "error" not in ins:
        n = ins["net"]
        lines.append(
            f"Instructions (valgrind, `pass` subtracted): httpx {n['httpx'] / 1e6:,.0f}M, router "
            f"{n['router'] / 1e6:,.0f}M (**{_x(ins['ratio'])}**), one pydantic model "
            f"{n['pydantic'] / 1e6:,.0f}M ({_x(ins['ratio_pydantic'])})."
        )
    elif ins:
        lines.append(f"Instructions: not counted ({ins['error']}).")
    lines += [
        f"In one process: `import router` {it['import_s'] * ms:.1f} ms, `Router(cfg)` "
        f"{it['construct_s'] * ms:.1f} ms; {it['modules_loaded']} modules loaded "
        f"({len(it['router_modules'])} of the router's).",
        "`-X importtime`, most self time (µs, self / cumulative): "
        + ", ".join(f"`{m}` {s:,}/{c:,}" for m, s, c in it["top_self_us"][:10])
        + ".",
    ]
    return "\n".join(lines)


def _x(v: float | None) -> str:
    return "—" if v is None else f"{v:.2f}\N{MULTIPLICATION SIGN}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--runs", type=int, default=40, help="timed runs of each statement")
    ap.add_argument("--cpu", type=int, default=None, help="pin the timed processes to this CPU")
    ap.add_argument("--keep", type=Path, default=None, help="build the venv here and keep it")
    ap.add_argument("--refresh", action="store_true", help="fetch the newest releases again")
    ap.add_argument("--wheelhouse", type=Path, default=WHEELHOUSE)
    ap.add_argument(
        "--source", type=Path, default=ROOT, help="the tree to install (default: this one)"
    )
    ap.add_argument(
        "--instructions", action="store_true", help="count instructions under valgrind too"
    )
    ap.add_argument("--json", action="store_true", help="print the raw numbers as JSON too")
    args = ap.parse_args(argv)
    r = run(
        args.runs,
        args.cpu,
        args.keep,
        args.refresh,
        args.wheelhouse,
        source=args.source,
        count_instructions=args.instructions,
    )
    print(summary(r))
    if args.json:
        print(json.dumps(r))
    return 0


if __name__ == "__main__":
    sys.exit(main())
