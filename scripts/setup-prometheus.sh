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

# shellcheck source=scripts/lib.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"
apt_install setup-prometheus.sh prometheus

prometheus_bin="$(find_bin prometheus)" && find_bin promtool >/dev/null || {
    echo "setup-prometheus.sh: apt-get installed prometheus but prometheus or promtool was not found" >&2
    exit 1
}
echo "setup-prometheus.sh: installed $("$prometheus_bin" --version 2>&1 | head -n1) at $prometheus_bin" >&2
echo "$prometheus_bin"
