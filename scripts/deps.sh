#!/usr/bin/env bash
# Make sure what the build and the tests need is installed (Debian).
# As root, installs what is missing; otherwise prints the exact command and fails.
set -euo pipefail

# command-to-check  debian-package
needs=(
  "cmake:cmake"
  "gcc:gcc"
  "make:make"
  "pkg-config:pkg-config"
  "strace:strace"
  "chromium:chromium"   # tests/cmd/report.sh checks the HTML report in headless Chromium
)
# pkg-config module  debian-package
libs=(
  "cmocka:libcmocka-dev"
  "jansson:libjansson-dev"
)

missing=()
for pair in "${needs[@]}"; do
  cmd=${pair%%:*}; pkg=${pair#*:}
  command -v "$cmd" >/dev/null 2>&1 || missing+=("$pkg")
done
for pair in "${libs[@]}"; do
  mod=${pair%%:*}; pkg=${pair#*:}
  if ! command -v pkg-config >/dev/null 2>&1 || ! pkg-config --exists "$mod" 2>/dev/null; then
    missing+=("$pkg")
  fi
done

[ ${#missing[@]} -eq 0 ] && exit 0

# de-duplicate
mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
cmd="apt-get update && apt-get install -y ${missing[*]}"
if [ "$(id -u)" -eq 0 ]; then
  echo "deps: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq "${missing[@]}" >/dev/null
else
  echo "deps: missing ${missing[*]}; install them with:" >&2
  echo "  sudo sh -c '$cmd'" >&2
  exit 1
fi
