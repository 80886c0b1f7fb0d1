#!/usr/bin/env bash
# Installs Prometheus (the Debian/Ubuntu package `prometheus`, which brings `promtool`) for the
# monitoring tests: `promtool check metrics` on infergate's exposition, `promtool check rules` and
# `promtool test rules` on dashboards/alerts/, and a real Prometheus scraping a real infergate.
# Idempotent: when both binaries are already there it installs nothing and only prints where
# prometheus is.
#
# The tests never use the system service or its config: they start their own prometheus with a
# temporary config and storage folder, listening on 127.0.0.1 only, as the user who runs them.
# Only this install needs root (it uses sudo when not run as root). The package enables and
# starts prometheus.service (port 9090) where systemd runs; the tests do not need it.
#
# Usage: scripts/setup-prometheus.sh     (prints the prometheus binary's path on the last line;
#                                          promtool is next to it)
set -euo pipefail

find_bin() {
    command -v "$1" 2>/dev/null && return 0
    for candidate in "/usr/bin/$1" "/usr/local/bin/$1"; do
        if [[ -x "$candidate" ]]; then
            echo "$candidate"
            return 0
        fi
    done
    return 1
}

if prometheus_bin="$(find_bin prometheus)" && find_bin promtool >/dev/null; then
    echo "setup-prometheus.sh: $("$prometheus_bin" --version 2>&1 | head -n1) is installed at $prometheus_bin" >&2
    echo "$prometheus_bin"
    exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
    echo "setup-prometheus.sh: prometheus is not installed and there is no apt-get here; install" \
        "prometheus and promtool with your package manager (or put them on PATH)" >&2
    exit 1
fi

if [[ "$(id -u)" -eq 0 ]]; then
    sudo=()
elif command -v sudo >/dev/null 2>&1; then
    sudo=(sudo)
else
    echo "setup-prometheus.sh: installing prometheus needs root; run this script as root or install sudo" >&2
    exit 1
fi

echo "setup-prometheus.sh: installing the Debian package prometheus with apt-get" >&2
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >&2

prometheus_bin="$(find_bin prometheus)" && find_bin promtool >/dev/null || {
    echo "setup-prometheus.sh: apt-get installed prometheus but prometheus or promtool was not found" >&2
    exit 1
}
echo "setup-prometheus.sh: installed $("$prometheus_bin" --version 2>&1 | head -n1) at $prometheus_bin" >&2
echo "$prometheus_bin"
