#!/usr/bin/env bash
# npm run bench:procs-sim: does `timbang broker --procs 2` behave as the simulator's two brokers?
# Live: 8 workers (1 core each, Long 400 ms, Short 80 ms), one broker with --procs 1 or 2 (least-connections,
# each process balancing alone), Poisson arrivals at load 0.8 (44.4/s) for DUR seconds, RUNS seeds each.
# Then `timbang simulate --brokers 1,2` with the same workers, mix and load. Loopback only; it stops all it starts.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=bin/timbang.js
DUR=${DUR:-30}
RUNS=${RUNS:-3}
BASE=${BASE:-19100}
for p in $(seq $((BASE + 1)) $((BASE + 8))) $((BASE + 101)) $((BASE + 102)); do
  if (echo > /dev/tcp/127.0.0.1/$p) 2>/dev/null; then echo "port $p is taken: set BASE to another range" >&2; exit 2; fi
done
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT INT TERM
backends=""
for i in 1 2 3 4 5 6 7 8; do
  p=$((BASE + i)); backends+="${backends:+,}127.0.0.1:$p"
  node $BIN worker --id $i --port $p --cores 1 --long-ms 400 --short-ms 80 > /dev/null 2>&1 & pids+=($!)
done
summary='let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const r=JSON.parse(s).results[0];
  console.log(`  seed ${process.argv[1]}: ${r.completed} requests, ${r.errors} errors, mean ${r.latencyMs.mean.toFixed(1)} ms, p50 ${r.latencyMs.p50.toFixed(1)} ms, p99 ${r.latencyMs.p99.toFixed(1)} ms`)})'
for K in 1 2; do
  port=$((BASE + 100 + K))
  node $BIN broker --procs $K --port $port --no-admin --log-format none --strategy least-connections \
    --backends "$backends" > /dev/null 2>&1 & bpid=$!
  pids+=($bpid)
  for _ in $(seq 50); do (echo > /dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.1; done
  sleep 1 # every cluster process listening
  echo "live, --procs $K ($RUNS runs of $DUR s):"
  for seed in $(seq $RUNS); do
    node $BIN client --protocol http -p $port -r 44.4 -d "${DUR}s" --mix long:1,short:4 --seed "$seed" --json - -q \
      2>/dev/null | node -e "$summary" "$seed"
  done
  kill $bpid; wait $bpid 2>/dev/null || true
done
echo "simulated:"
node $BIN simulate --backends 8 --cores 1 --load 0.8 --service mix --mix long:1,short:4 --long-ms 400 --short-ms 80 \
  --strategy least-connections --brokers 1,2 --split random --requests 400000 --seed 1
