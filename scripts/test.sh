#!/usr/bin/env bash
# Sets up the machine, then runs every test: unit, integration (real PostgreSQL, etcd, ZooKeeper) and end to end.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
pnpm test
