#!/usr/bin/env bash
# The whole test job, from scratch: installs everything, lints, type-checks, runs every test.
# Exits non-zero on any failure (pytest's "no tests collected" included).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}

bash scripts/install.sh dev

# Prism validates requests against OpenAI's schema in the contract tests.
if [ ! -x .prism/node_modules/.bin/prism ]; then
  npm install --prefix .prism --no-audit --no-fund @stoplight/prism-cli@5
fi

# The state-store tests start their own redis-server when none answers on 6379.
if ! command -v redis-server >/dev/null 2>&1; then
  if command -v apt-get >/dev/null 2>&1; then
    (apt-get update -qq && apt-get install -y -qq redis-server) >/dev/null
  fi
fi

# The HTML report tests render pages in headless Chromium (Debian's package).
if [ ! -x /usr/bin/chromium ]; then
  if command -v apt-get >/dev/null 2>&1; then
    (apt-get update -qq && apt-get install -y -qq chromium) >/dev/null
  fi
fi

echo "== ruff" >&2
"$PY" -m ruff check .
"$PY" -m ruff format --check .
echo "== mypy" >&2
"$PY" -m mypy
echo "== pytest" >&2
set +e
"$PY" -m pytest -q "$@"
status=$?
set -e
if [ "$status" -eq 5 ]; then
  echo "pytest collected no tests: failing" >&2
  exit 1
fi
exit "$status"
