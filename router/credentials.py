"""The configured secrets of a provider, and scrubbing them from what gets rendered.

One list per provider (:func:`provider_secrets`, kept on each target as
``Target.secrets``) names every string the config or environment gives it
that may be a credential: the API key, every ``headers:`` value (a custom auth
header's name is not knowable, so all are secret), the user and password of
``base_url``'s userinfo and the values of its query string. Errors are
scrubbed of that list (:func:`scrub_error`); config and endpoint reprs show
URLs through :func:`mask_url`. Nothing here does I/O or imports anything heavy.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from urllib.parse import unquote, unquote_plus, urlsplit

__all__ = [
    "CUT",
    "MASK",
    "MIN_SECRET_LEN",
    "mask_url",
    "provider_secrets",
    "scrub_error",
    "scrub_text",
]

MASK = "***"

CUT = "…"
"""Ends a text cut short (a provider's error message): the piece of a secret the cut
left just before it is scrubbed too."""

MIN_SECRET_LEN = 4
"""Shorter values (``x-debug: 1``) are no credential, and scrubbing them would
mangle ordinary text; they are left out of the list."""


def _query_items(query: str) -> list[tuple[str, str | None]]:
    """``(name, value)`` for each ``&``-separated item; ``value`` ``None`` without ``=``."""
    out: list[tuple[str, str | None]] = []
    for item in query.split("&"):
        if item:
            name, sep, value = item.partition("=")
            out.append((name, value if sep else None))
    return out


def _url_secrets(url: str) -> list[str]:
    try:
        parts = urlsplit(url)
    except ValueError:
        return [url]  # unparseable: the whole string is the only safe unit
    found: list[str] = []
    netloc = parts.netloc
    if "@" in netloc:
        userinfo = netloc.rsplit("@", 1)[0]
        user, _, password = userinfo.partition(":")
        found += [user, unquote(user), password, unquote(password)]
    for name, value in _query_items(parts.query):
        raw = name if value is None else value  # a bare item (``?TOKEN``) is its own value
        found += [raw, unquote_plus(raw)]
    return found


def provider_secrets(
    api_key: str | None = None,
    headers: Mapping[str, str] | None = None,
    base_url: str | None = None,
) -> tuple[str, ...]:
    """Every configured secret of one provider, longest first (so a secret that
    contains another is scrubbed whole)."""
    found: list[str] = [api_key or ""]
    for value in (headers or {}).values():
        found.append(value)
        scheme_and_credentials = value.split(None, 1)
        if len(scheme_and_credentials) == 2:  # "Bearer tok": a server may echo "tok" alone
            found.append(scheme_and_credentials[1])
    if base_url:
        found += _url_secrets(base_url)
    keep = {s.strip() for s in found if len(s.strip()) >= MIN_SECRET_LEN}
    return tuple(sorted(keep, key=lambda s: (-len(s), s)))


def mask_url(url: str | None) -> str | None:
    """``url`` with the userinfo and every query value replaced by ``***``."""
    if not url:
        return url
    try:
        parts = urlsplit(url)
    except ValueError:
        return MASK
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, host = netloc.rsplit("@", 1)
        netloc = (f"{MASK}:{MASK}" if ":" in userinfo else MASK) + "@" + host
    query = "&".join(
        MASK if value is None else f"{name}={MASK}" for name, value in _query_items(parts.query)
    )
    if netloc == parts.netloc and query == parts.query:
        return url
    out = f"{parts.scheme}://" if parts.scheme else ("//" if netloc else "")
    out += netloc + parts.path
    if parts.query:
        out += "?" + query
    if parts.fragment:
        out += "#" + parts.fragment
    return out


def scrub_text(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every secret replaced by ``***``; in a text cut short (ending
    with :data:`CUT`), a secret's first characters just before the cut too."""
    cut = text.endswith(CUT)
    for s in secrets:
        if s in text:
            text = text.replace(s, MASK)
        if cut:
            head = text[: -len(CUT)]
            for n in range(len(s) - 1, MIN_SECRET_LEN - 1, -1):
                if head.endswith(s[:n]):
                    text = head[:-n] + MASK + CUT
                    break
    return text


def scrub_error(err: BaseException, secrets: Iterable[str]) -> BaseException:
    """Scrub ``err`` in place: every string attribute (message, code, type, ...),
    its ``args`` (which a default repr and pickling use) and its notes."""
    secrets = tuple(secrets)
    if not secrets:
        return err
    for name, value in list(vars(err).items()):
        if isinstance(value, str):
            clean = scrub_text(value, secrets)
            if clean != value:
                setattr(err, name, clean)
    err.args = tuple(scrub_text(a, secrets) if isinstance(a, str) else a for a in err.args)
    notes = getattr(err, "__notes__", None)
    if isinstance(notes, list):
        notes[:] = [scrub_text(n, secrets) if isinstance(n, str) else n for n in notes]
    return err
