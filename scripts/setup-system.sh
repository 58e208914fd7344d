#!/usr/bin/env bash
# System packages the tests need: Debian's chromium (browser tests) and python3 (the classroom programs
# run unchanged against timbang). Idempotent; installs only as root.
set -euo pipefail
need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v python3 >/dev/null 2>&1 || need+=(python3)
# TLS tests make a test CA at test time with openssl, and drive the broker with curl.
command -v openssl >/dev/null 2>&1 || need+=(openssl)
command -v curl >/dev/null 2>&1 || need+=(curl)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "setup-system: missing ${need[*]}; install them with: sudo apt-get install -y ${need[*]}" >&2
    exit 0
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
