#!/usr/bin/env bash
# Sets up a fresh Debian machine (as root, with Node 20 and npm) for pgwarden: PostgreSQL 15, etcd,
# ZooKeeper, pnpm, the workspace's packages, and a build. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\n==> %s\n' "$*"; }

need_apt=()
[ -x /usr/lib/postgresql/15/bin/postgres ] || need_apt+=(postgresql-15)
command -v etcd >/dev/null 2>&1 || need_apt+=(etcd-server)
[ -x /usr/share/zookeeper/bin/zkServer.sh ] || need_apt+=(zookeeper)
command -v curl >/dev/null 2>&1 || need_apt+=(curl)
# Patroni 3.0.2 is the reference the compatibility tests and benchmarks run beside pgwarden; wrk loads the REST API.
command -v patroni >/dev/null 2>&1 || need_apt+=(patroni)
command -v wrk >/dev/null 2>&1 || need_apt+=(wrk)
if [ "${#need_apt[@]}" -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "missing system packages (${need_apt[*]}): run this script as root, or install them first" >&2
    exit 1
  fi
  say "installing ${need_apt[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi
# Debian's packages may start their own services; pgwarden's tests and cluster start their own servers.
for service in etcd zookeeper postgresql patroni; do
  if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet "$service" 2>/dev/null; then
    systemctl stop "$service" || true
  fi
done

if ! command -v pnpm >/dev/null 2>&1; then
  say "installing pnpm"
  npm install -g pnpm@10 >/dev/null
fi

say "installing the workspace's packages"
pnpm install --frozen-lockfile

say "building"
pnpm turbo run build --output-logs=errors-only
