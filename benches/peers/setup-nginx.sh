#!/usr/bin/env bash
# Installs nginx (the Debian/Ubuntu package `nginx`) for the gateway benchmark, which runs it as a
# reverse proxy in front of infergate's predictor (`infergate-bench gateway`). Idempotent: when an
# nginx binary is already there it installs nothing and only prints where it is.
#
# The benchmark never uses the system service or its config: it starts its own nginx with a
# temporary prefix and config, listening on 127.0.0.1 only, as the user who runs the benchmark.
# Only this install needs root (it uses sudo when not run as root).
#
# Usage: benches/peers/setup-nginx.sh        (prints the nginx binary's path on the last line)
set -euo pipefail

find_nginx() {
    # Debian installs it in /usr/sbin, which is not on every user's PATH.
    command -v nginx 2>/dev/null && return 0
    for candidate in /usr/sbin/nginx /usr/local/sbin/nginx /usr/local/nginx/sbin/nginx; do
        if [[ -x "$candidate" ]]; then
            echo "$candidate"
            return 0
        fi
    done
    return 1
}

if nginx_bin="$(find_nginx)"; then
    echo "setup-nginx.sh: $("$nginx_bin" -v 2>&1) is installed at $nginx_bin" >&2
    echo "$nginx_bin"
    exit 0
fi

# shellcheck source=scripts/lib.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/../../scripts/lib.sh"
apt_install setup-nginx.sh nginx

nginx_bin="$(find_nginx)" || {
    echo "setup-nginx.sh: apt-get installed nginx but no nginx binary was found" >&2
    exit 1
}
echo "setup-nginx.sh: installed $("$nginx_bin" -v 2>&1) at $nginx_bin" >&2
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet nginx 2>/dev/null; then
    # The package starts its default site on port 80; the benchmark does not need it.
    echo "setup-nginx.sh: note: the package started nginx.service (port 80); the benchmark does" \
        "not use it (stop it with: sudo systemctl disable --now nginx)" >&2
fi
echo "$nginx_bin"
