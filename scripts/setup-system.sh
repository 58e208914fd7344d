#!/usr/bin/env bash
# System packages the tests need: Debian's chromium (browser tests) and python3 (the classroom programs
# run unchanged against timbang). Idempotent; installs only as root.
set -euo pipefail
need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v python3 >/dev/null 2>&1 || need+=(python3)
# HTTP/2 tests: nghttp and h2load (nghttp2-client), curl --http2-prior-knowledge, openssl for a test certificate.
command -v h2load >/dev/null 2>&1 || need+=(nghttp2-client)
command -v curl >/dev/null 2>&1 || need+=(curl)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "setup-system: missing ${need[*]}; install them with: sudo apt-get install -y ${need[*]}" >&2
    exit 0
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
