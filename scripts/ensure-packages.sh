#!/usr/bin/env bash
# Installs the Debian packages mlchaos runs with, when they are missing:
#   prometheus, prometheus-alertmanager  (the reference stack; always)
#   openssl                               (the example staging makes its TLS certificate with it)
#   haproxy                               (the example staging's canary router)
#   redis-server                          (the example staging's feature store; dependency faults)
#   chromium                              (with --chromium: the e2e tests look at report.html in it)
# Idempotent: does nothing when every binary is already on PATH.
set -euo pipefail
need=()
command -v prometheus >/dev/null 2>&1 || need+=(prometheus)
command -v prometheus-alertmanager >/dev/null 2>&1 || command -v alertmanager >/dev/null 2>&1 \
  || need+=(prometheus-alertmanager)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
command -v haproxy >/dev/null 2>&1 || [ -x /usr/sbin/haproxy ] || need+=(haproxy)
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
if [ "${1:-}" = "--chromium" ]; then
  command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 \
    || need+=(chromium)
fi
[ ${#need[@]} -eq 0 ] && exit 0
if ! command -v apt-get >/dev/null 2>&1; then
  echo "mlchaos needs these on PATH: ${need[*]}." >&2
  echo "Install them from your distribution, e.g. 'brew install prometheus alertmanager" >&2
  echo "chromium', or Prometheus's release tarballs." >&2
  exit 1
fi
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "installing ${need[*]} from Debian's packages"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
