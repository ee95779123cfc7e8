#!/usr/bin/env bash
# Installs Debian's prometheus and prometheus-alertmanager when they are missing.
# Idempotent: does nothing when both binaries are on PATH.
set -euo pipefail
need=()
command -v prometheus >/dev/null 2>&1 || need+=(prometheus)
command -v prometheus-alertmanager >/dev/null 2>&1 || command -v alertmanager >/dev/null 2>&1 \
  || need+=(prometheus-alertmanager)
[ ${#need[@]} -eq 0 ] && exit 0
if ! command -v apt-get >/dev/null 2>&1; then
  echo "mlchaos needs Prometheus and Alertmanager binaries on PATH (missing: ${need[*]})." >&2
  echo "Install them from your distribution, e.g. 'dnf install golang-github-prometheus" >&2
  echo "alertmanager', 'brew install prometheus alertmanager', or the release tarballs." >&2
  exit 1
fi
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "installing ${need[*]} from Debian's packages"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
