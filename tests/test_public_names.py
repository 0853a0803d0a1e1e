"""Every ``router`` name the README and docs/ mention can be imported.

A doc that names a type, error or module the package does not export fails
here: ``router.X`` and ``router.a.b.X`` mentions, ``from router[.a] import X``
lines, and the errors the README lists under ``router.RouterError``.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from pathlib import Path
from types import ModuleType

import pytest

import router

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

_DOTTED = re.compile(r"(?<![\w./-])router((?:\.[A-Za-z_]\w*)+)")
_FROM = re.compile(r"^\s*from\s+(router(?:\.\w+)*)\s+import\s+(\([^)]*\)|[^\n#]+)", re.M)
_SUBMODULES = frozenset(m.name for m in pkgutil.iter_modules(router.__path__))


def _text() -> dict[str, str]:
    return {p.relative_to(ROOT).as_posix(): p.read_text(encoding="utf-8") for p in DOCS}


def _dotted(text: str) -> set[str]:
    """``router.X…`` mentions that name something to import.

    Capitalised right after ``router.`` (``router.BudgetExceeded``): a public
    type or error. Starting with a submodule (``router.state.StateStore``):
    that module and what follows. Anything else (``router.yaml``, a span
    attribute such as ``router.route``, ``router.budget`` on an instance
    named ``router``) is not an import path.
    """
    found = set()
    for m in _DOTTED.finditer(text):
        parts = m.group(1)[1:].split(".")
        if parts[0][0].isupper() or parts[0] in _SUBMODULES:
            found.add("router." + ".".join(parts))
    return found


def _from_imports(text: str) -> set[str]:
    """``module:name`` of each name a ``from router… import …`` line imports."""
    found = set()
    for m in _FROM.finditer(text):
        names = m.group(2).strip().strip("()")
        for item in names.replace("\n", " ").split(","):
            name = item.split(" as ")[0].strip()
            if name:
                found.add(f"{m.group(1)}:{name}")
    return found


def _listed_errors(readme: str) -> set[str]:
    """The error classes of the README's paragraph on ``router.RouterError``."""
    start = readme.index("Errors derive from `router.RouterError`")
    paragraph = readme[start : readme.index("\n\n", start)]
    return set(re.findall(r"`([A-Z]\w+)`", paragraph))


def _mentions() -> list[tuple[str, str]]:
    out: set[tuple[str, str]] = set()
    for doc, text in _text().items():
        out |= {(doc, name) for name in _dotted(text)}
        out |= {(doc, name) for name in _from_imports(text)}
    out |= {("README.md", f"router:{name}") for name in _listed_errors(_text()["README.md"])}
    return sorted(out)


def _resolve(path: str) -> object:
    """Import ``router.a.b.X.y`` (or ``module:name``) the way a reader would."""
    if ":" in path:
        module, name = path.split(":")
        return getattr(importlib.import_module(module), name)
    parts = path.split(".")
    obj: object = importlib.import_module(parts[0])
    for i, part in enumerate(parts[1:], start=1):
        if isinstance(obj, ModuleType) and not hasattr(obj, part):
            obj = importlib.import_module(".".join(parts[: i + 1]))  # a submodule
        else:
            obj = getattr(obj, part)
    return obj


MENTIONS = _mentions()


@pytest.mark.parametrize(("doc", "name"), MENTIONS, ids=[f"{d}:{n}" for d, n in MENTIONS])
def test_every_documented_name_imports(doc: str, name: str) -> None:
    try:
        _resolve(name)
    except (ImportError, AttributeError) as e:
        pytest.fail(f"{doc} names {name}, which does not import: {e}")
    top = name.split(":")[-1] if name.startswith("router:") else name.split(".")[1]
    if top[0].isupper():
        assert top in router.__all__, f"{doc} names router.{top}: add it to router.__all__"


def test_the_scan_finds_what_the_docs_name() -> None:
    names = {n for _, n in MENTIONS}
    assert {"router.BudgetExceeded", "router.RouterError", "router.Message"} <= names
    assert {"router:Router", "router:AsyncRouter", "router:RequestContext"} <= names
    assert {"router.state.StateStore", "router.accounting:read_ledger"} <= names
    assert "router:StreamConsumed" in names  # from the README's list of errors
    assert not any(n.startswith(("router.yaml", "router.route", "router.budget")) for n in names)


def test_a_name_that_does_not_exist_fails() -> None:
    assert _dotted("Catch `router.NoSuchError`, not `router.yaml`.") == {"router.NoSuchError"}
    code = "from router.state import (\n    MemoryStore,\n    NoSuchStore as S,\n)\n"
    assert _from_imports(code) == {"router.state:MemoryStore", "router.state:NoSuchStore"}
    for name in ("router.NoSuchError", "router.state:NoSuchStore", "router.nosuchmodule.X"):
        with pytest.raises((ImportError, AttributeError)):
            _resolve(name)
