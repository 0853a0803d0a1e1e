"""``llm-router init``: write a commented config from what is running here."""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path
from typing import Any

__all__ = ["add_parser"]


def add_parser(sub: Any) -> None:
    """Register the ``init`` subcommand."""
    p = sub.add_parser(
        "init",
        help="write a config from the local servers running and the API keys set",
    )
    p.add_argument("--out", default="router.yaml", help="file to write (default: router.yaml)")
    p.add_argument(
        "--policy",
        default="no-data-leaves-infra",
        help="ready-made policy from policies/ (default: no-data-leaves-infra)",
    )
    p.add_argument("--force", action="store_true", help="overwrite --out if it exists")
    p.set_defaults(func=run, ports=None)


def run(args: argparse.Namespace) -> int:
    """Execute ``init``: 0 written, 2 (one stderr line) when it cannot be."""
    from ..config.loader import load_policy
    from ..errors import ConfigError
    from ..onboarding.discover import DEFAULT_PORTS, discover_local, keyed_providers, render

    out = Path(args.out)
    if out.exists() and not args.force:
        raise ConfigError(f"{out} exists; pass --force to overwrite it")
    local = discover_local(args.ports or DEFAULT_PORTS)
    keyed = keyed_providers(os.environ)
    text = render(local, keyed, args.policy)
    # Validate before anything replaces --out: written next to it, then renamed.
    parent = out.parent if str(out.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(prefix=".init-", suffix=".yaml", dir=parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        load_policy(tmp)
        os.replace(tmp, out)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    for f in local:
        print(f"found {f.label} on {f.base_url}: {len(f.models)} model(s)")
    for kind, var in keyed:
        print(f"found {var} set: provider {kind} (written as ${{{var}}})")
    if not local and not keyed:
        print("found nothing running and no API key set: wrote the embedded default")
    print(f"wrote {out}; next: llm-router doctor {out}")
    return 0
