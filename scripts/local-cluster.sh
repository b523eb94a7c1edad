#!/usr/bin/env bash
# One command for a working local cluster: sets the machine up, starts etcd and three pgwarden agents
# (examples/local-cluster/postgres{0,1,2}.yml), waits for a leader and two streaming replicas, prints the state.
#   bash scripts/local-cluster.sh          set up and start
#   bash scripts/local-cluster.sh status   print the state
#   bash scripts/local-cluster.sh stop     stop the agents (PostgreSQL with them) and etcd
#   bash scripts/local-cluster.sh clean    stop, then remove all data
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
RUN_DIR=/tmp/pgwarden-local
CONFIGS=(examples/local-cluster/postgres0.yml examples/local-cluster/postgres1.yml examples/local-cluster/postgres2.yml)
ETCD_URL=http://127.0.0.1:2379

api_port() { sed -n 's/^  listen: *127\.0\.0\.1:\([0-9]*\).*/\1/p' "$1" | head -n1; }
member_name() { sed -n 's/^name: *//p' "$1" | head -n1; }
data_dir() { sed -n 's/^  data_dir: *//p' "$1" | head -n1; }

print_state() {
  node examples/cluster-status/dist/main.js --etcd 127.0.0.1:2379 --scope "$(sed -n 's/^scope: *//p' "${CONFIGS[0]}")" \
    || curl -fsS "http://127.0.0.1:$(api_port "${CONFIGS[0]}")/cluster"
}

stop_all() {
  for config in "${CONFIGS[@]}"; do
    pid_file="$RUN_DIR/$(member_name "$config").pid"
    if [ -f "$pid_file" ] && kill -0 "$(cat "$pid_file")" 2>/dev/null; then
      kill -TERM "$(cat "$pid_file")"
      for _ in $(seq 1 60); do kill -0 "$(cat "$pid_file")" 2>/dev/null || break; sleep 0.5; done
    fi
    rm -f "$pid_file"
  done
  if [ -f "$RUN_DIR/etcd.pid" ] && kill -0 "$(cat "$RUN_DIR/etcd.pid")" 2>/dev/null; then
    kill -TERM "$(cat "$RUN_DIR/etcd.pid")"
  fi
  rm -f "$RUN_DIR/etcd.pid"
  echo "stopped"
}

case "${1:-start}" in
  status) print_state; exit 0 ;;
  stop) stop_all; exit 0 ;;
  clean) stop_all; rm -rf "$RUN_DIR"; echo "removed $RUN_DIR"; exit 0 ;;
  start) ;;
  *) echo "usage: $0 [start|status|stop|clean]" >&2; exit 2 ;;
esac

bash scripts/setup.sh
mkdir -p "$RUN_DIR"
PG_USER=$( [ "$(id -u)" -eq 0 ] && echo postgres || id -un )

if curl -fsS "$ETCD_URL/health" >/dev/null 2>&1; then
  echo "==> using the etcd already answering at $ETCD_URL"
else
  echo "==> starting etcd at $ETCD_URL"
  nohup etcd --name pgwarden-local --data-dir "$RUN_DIR/etcd" \
    --listen-client-urls "$ETCD_URL" --advertise-client-urls "$ETCD_URL" \
    --listen-peer-urls http://127.0.0.1:2380 --initial-advertise-peer-urls http://127.0.0.1:2380 \
    --initial-cluster pgwarden-local=http://127.0.0.1:2380 >"$RUN_DIR/etcd.log" 2>&1 &
  echo $! >"$RUN_DIR/etcd.pid"
  for _ in $(seq 1 40); do curl -fsS "$ETCD_URL/health" >/dev/null 2>&1 && break; sleep 0.25; done
fi

for config in "${CONFIGS[@]}"; do
  name=$(member_name "$config")
  member_dir=$(dirname "$(data_dir "$config")")
  mkdir -p "$member_dir"
  [ "$(id -u)" -eq 0 ] && chown "$PG_USER:" "$member_dir" && chmod 700 "$member_dir"
  if [ -f "$RUN_DIR/$name.pid" ] && kill -0 "$(cat "$RUN_DIR/$name.pid")" 2>/dev/null; then
    echo "==> $name is already running"
    continue
  fi
  echo "==> starting $name (log: $RUN_DIR/$name.log)"
  nohup node "$ROOT/packages/agent/bin/pgwarden.cjs" "$ROOT/$config" >"$RUN_DIR/$name.log" 2>&1 &
  echo $! >"$RUN_DIR/$name.pid"
done

echo "==> waiting for a leader and two streaming replicas"
for _ in $(seq 1 240); do
  primaries=0; replicas=0
  for config in "${CONFIGS[@]}"; do
    port=$(api_port "$config")
    curl -fsS -o /dev/null "http://127.0.0.1:$port/primary" 2>/dev/null && primaries=$((primaries + 1))
    curl -fsS -o /dev/null "http://127.0.0.1:$port/replica?replication_state=streaming" 2>/dev/null && replicas=$((replicas + 1))
  done
  if [ "$primaries" -eq 1 ] && [ "$replicas" -eq 2 ]; then
    print_state
    echo
    echo "The cluster is up. REST APIs: $(for c in "${CONFIGS[@]}"; do printf 'http://127.0.0.1:%s/patroni ' "$(api_port "$c")"; done)"
    echo "Logs in $RUN_DIR/*.log. Stop with: bash scripts/local-cluster.sh stop"
    exit 0
  fi
  sleep 0.5
done
echo "the cluster did not come up within 2 minutes; see $RUN_DIR/*.log" >&2
tail -n 20 "$RUN_DIR"/*.log >&2
exit 1
