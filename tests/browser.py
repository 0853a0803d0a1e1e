"""Headless Chromium for the HTML report tests: screenshots, the DOM, and PNG pixels.

Chromium is Debian's ``chromium`` package (``scripts/test.sh`` installs it).
Without it the tests skip locally and fail under CI (``unavailable``).
"""

from __future__ import annotations

import os
import struct
import subprocess
import tempfile
import zlib
from html.parser import HTMLParser
from pathlib import Path

from tests.conftest import unavailable

CHROMIUM = Path(os.environ.get("LLM_ROUTER_CHROMIUM", "/usr/bin/chromium"))
# Tests run as root in containers: the sandbox needs user namespaces they lack.
_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--mute-audio")


def chromium() -> Path:
    """The browser binary, or skip (fail under CI) without it."""
    if not CHROMIUM.is_file() or not os.access(CHROMIUM, os.X_OK):
        unavailable(f"{CHROMIUM} not found (apt-get install -y chromium)")
    return CHROMIUM


def _run(*args: str) -> subprocess.CompletedProcess[bytes]:
    with tempfile.TemporaryDirectory() as profile:
        return subprocess.run(
            [str(chromium()), *_FLAGS, f"--user-data-dir={profile}", *args],
            capture_output=True,
            timeout=120,
            check=True,
        )


def screenshot(page: Path, width: int, height: int) -> bytes:
    """A PNG of ``page`` as a window of ``width`` by ``height`` shows it."""
    with tempfile.TemporaryDirectory() as d:
        out = Path(d) / "shot.png"
        _run(f"--screenshot={out}", f"--window-size={width},{height}", page.resolve().as_uri())
        return out.read_bytes()


def dump_dom(page: Path) -> str:
    """The DOM of ``page`` after the browser parsed (and ran) it, serialised."""
    return _run("--dump-dom", page.resolve().as_uri()).stdout.decode()


def png_pixels(data: bytes) -> tuple[int, int, list[tuple[int, ...]]]:
    """Width, height and every pixel (RGB or RGBA tuples) of an 8-bit PNG."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat = 8, b""
    width = height = channels = 0
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", body)
            assert depth == 8 and interlace == 0, "only 8-bit, non-interlaced PNGs"
            channels = {2: 3, 6: 4, 0: 1, 4: 2}[colour]
        elif kind == b"IDAT":
            idat += body
    raw = zlib.decompress(idat)
    stride = width * channels
    prev = bytearray(stride)
    pixels: list[tuple[int, ...]] = []
    for y in range(height):
        start = y * (stride + 1)
        ftype, row = raw[start], bytearray(raw[start + 1 : start + 1 + stride])
        for i in range(stride):
            a = row[i - channels] if i >= channels else 0
            b = prev[i]
            if ftype == 1:
                row[i] = (row[i] + a) & 0xFF
            elif ftype == 2:
                row[i] = (row[i] + b) & 0xFF
            elif ftype == 3:
                row[i] = (row[i] + ((a + b) >> 1)) & 0xFF
            elif ftype == 4:
                c = prev[i - channels] if i >= channels else 0
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                row[i] = (row[i] + pred) & 0xFF
        pixels.extend(tuple(row[i : i + channels]) for i in range(0, stride, channels))
        prev = row
    return width, height, pixels


class Tables(HTMLParser):
    """Every table of a page, each with the text of the heading before it."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.tables: list[tuple[str, list[list[str]]]] = []
        self.elements: list[tuple[str, list[tuple[str, str | None]]]] = []
        self._heading = ""
        self._in_heading = False
        self._cell: list[str] | None = None
        self._row: list[str] | None = None
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, attrs))
        if tag in ("h2", "h3"):
            self._heading, self._in_heading = "", True
        elif tag == "table":
            self.tables.append((self._heading, []))
        elif tag == "tr":
            self._row = []
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("h2", "h3"):
            self._in_heading = False
        elif tag in ("td", "th") and self._cell is not None and self._row is not None:
            self._row.append("".join(self._cell))
            self._cell = None
        elif tag == "tr" and self._row is not None:
            self.tables[-1][1].append(self._row)
            self._row = None

    def handle_data(self, data: str) -> None:
        if self._in_heading:
            self._heading += data
        if self._cell is not None:
            self._cell.append(data)

    def under(self, heading: str) -> list[list[list[str]]]:
        """Every table under ``heading``, in page order."""
        return [rows for h, rows in self.tables if h == heading]

    def table(self, heading: str) -> list[list[str]]:
        """The one table under ``heading``."""
        found = [rows for h, rows in self.tables if h == heading]
        headings = [h for h, _ in self.tables]
        assert len(found) == 1, f"{len(found)} tables under {heading!r}: {headings}"
        return found[0]
