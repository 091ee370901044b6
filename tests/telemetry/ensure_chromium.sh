#!/bin/sh
# Debian's chromium and a font, for the dashboard test (tests/telemetry/test_dashboard.py).
# Run as root by the test target; does nothing when chromium is already there.
set -eu
if command -v chromium >/dev/null 2>&1; then
    exit 0
fi
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core
