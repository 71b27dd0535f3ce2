#!/usr/bin/env bash
# The whole suite in two passes (`make test` runs this under scripts/with-postgres.sh): most
# tests on KSMC_TEST_WORKERS pytest-xdist workers (default 3: they mostly wait on servers), then
# the tests marked `serial` (tests/conftest.py says which and why) alone. Extra arguments go to
# both passes. Exit status: the first pass's failure, else the second's.
set -uo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-.venv/bin/python}
workers=${KSMC_TEST_WORKERS:-3}
"$python" -m pytest -q -p no:cacheprovider -n "$workers" -m "not serial" "$@"
parallel=$?
"$python" -m pytest -q -p no:cacheprovider -m serial "$@"
serial=$?
if [ "$parallel" -ne 0 ]; then exit "$parallel"; fi
exit "$serial"
