"""Start-up to first answer: import, construct, one request.

``python -m benchmarks.first NAME URL``.

Lazy imports move cost from start-up to the first call; this figure shows
where it went, for every client alike.
"""

from __future__ import annotations

import sys

from .clients import CLIENTS

if __name__ == "__main__":
    call, _, close = CLIENTS[sys.argv[1]](sys.argv[2]).sync()
    if not call():
        raise SystemExit("empty completion")
    close()
