#!/usr/bin/env bash
# Installs what Convene needs on Debian 12 when it is missing: `runtime` (GStreamer and its plugins),
# `build` (compilers, headers, the Rust toolchain) and `test` (PostgreSQL, Chromium, Node.js, the
# third-party peers the end-to-end tests call). Usage: scripts/install-deps.sh build runtime [test]
set -euo pipefail

want_build=0 want_runtime=0 want_test=0
for group in "$@"; do
  case "$group" in
    build) want_build=1 ;;
    runtime) want_runtime=1 ;;
    test) want_test=1 ;;
    *) echo "unknown group: $group (build, runtime, test)" >&2; exit 2 ;;
  esac
done

pkgs=()
[ "$want_runtime" = 1 ] && pkgs+=(gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad
  gstreamer1.0-plugins-ugly gstreamer1.0-libav gstreamer1.0-tools gstreamer1.0-x libpq5 ca-certificates)
[ "$want_build" = 1 ] && pkgs+=(build-essential pkg-config curl git libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev
  libgstreamer-plugins-bad1.0-dev libpq-dev)
if [ "$want_test" = 1 ]; then
  pkgs+=(postgresql chromium slapd ldap-utils sip-tester baresip-core baresip-ffmpeg coturn nginx libnginx-mod-rtmp ffmpeg firefox-esr)
  # Node.js may come from elsewhere than Debian (with its own npm); only install Debian's when
  # there is none, since Debian's npm conflicts with other Node.js builds.
  command -v node >/dev/null 2>&1 || pkgs+=(nodejs)
  command -v npm >/dev/null 2>&1 || pkgs+=(npm)
fi

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ "${#missing[@]}" -gt 0 ]; then
  echo "Installing: ${missing[*]}"
  sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ "$want_build" = 1 ] && ! command -v cargo >/dev/null 2>&1; then
  if [ -x "$HOME/.cargo/bin/cargo" ]; then
    export PATH="$HOME/.cargo/bin:$PATH"
  else
    echo "Installing the Rust toolchain with rustup (Debian 12's rustc is too old)"
    curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal
    export PATH="$HOME/.cargo/bin:$PATH"
  fi
fi

if [ "$want_test" = 1 ] && ! command -v cargo-nextest >/dev/null 2>&1 && [ ! -x "$HOME/.cargo/bin/cargo-nextest" ]; then
  echo "Installing cargo-nextest"
  cargo install --locked cargo-nextest
fi
exit 0
