#!/usr/bin/env bash
# Install everything the test suite needs on a fresh Debian machine, then run the whole suite.
# Used by the README's quick start and by .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."

SYSTEM_PACKAGES=(chromium dcmtk dicom3tools poppler-utils postgresql
                 libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz0b fonts-dejavu-core)
missing=()
for pkg in "${SYSTEM_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
    echo "installing system packages: ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "warning: missing system packages (${missing[*]}); tests that need them will skip" >&2
  fi
fi

python3 -m pip install -q -e ".[test,gdcm,train]"

echo "== ruff"; python3 -m ruff check src tests benchmarks
echo "== mypy"; python3 -m mypy
echo "== pytest"
python3 -m pytest -q -p no:cacheprovider "$@"
