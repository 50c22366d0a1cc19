#!/usr/bin/env bash
# Static typing, as CI runs it: the library under `mypy --strict` (pyproject's [tool.mypy]),
# a user's script that must pass, and misspelled options that must be reported.
set -euo pipefail
cd "$(dirname "$0")/.."
MYPY=".venv/bin/mypy"
"$MYPY"
"$MYPY" --strict tests/typing/user_script.py
expected=3
if out=$("$MYPY" --strict tests/typing/bad_options.py 2>&1); then
    echo "typecheck: tests/typing/bad_options.py passed mypy, expected $expected errors" >&2
    exit 1
fi
found=$(grep -c 'error: Argument .* has incompatible type' <<<"$out" || true)
if [ "$found" -ne "$expected" ]; then
    echo "$out" >&2
    echo "typecheck: expected $expected option errors in bad_options.py, found $found" >&2
    exit 1
fi
echo "typecheck: library and user script clean; $found misspelled options reported"
