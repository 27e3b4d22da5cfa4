#!/usr/bin/env bash
# make e2e: PostgreSQL, Redis, Chromium and ChromeDriver from Debian's packages, installed only when missing.
# Nothing else is downloaded: no browser build of Selenium's own, no database binaries from elsewhere.
set -euo pipefail
missing=()
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)
if [ ${#missing[@]} -eq 0 ]; then
    echo "e2e: system packages present (postgresql, redis-server, chromium, chromium-driver)"
    exit 0
fi
if [ "$(id -u)" != 0 ]; then
    echo "e2e: missing Debian packages: ${missing[*]}; install them with: sudo apt-get install -y ${missing[*]}" >&2
    exit 1
fi
echo "e2e: installing Debian packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq "${missing[@]}" >/dev/null
