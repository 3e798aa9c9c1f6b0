#!/bin/bash
# The verifier under a simulated fleet: sustained attestations per second,
# quote latency (p50, p99, from the verifier's histogram), CPU of verifier
# and simulator, verifier memory per agent.
#   bench/fleet.sh BUILD_DIR N QUOTE_INTERVAL_MS [SECONDS]
# FLEET_DATABASE_URL=postgresql://... runs the verifier on PostgreSQL.
# Prints "name value" lines (fleet_<N>_*).
set -eu
build=$1 n=$2 interval=$3 secs=${4:-20}
work=$(mktemp -d /tmp/assay-fleet.XXXXXX)
chmod 755 "$work"
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
vp=$(port)
pids=""
trap 'for p in $pids; do kill $p 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"' EXIT
u=""; [ "$(id -u)" -eq 0 ] && u="--user=nobody"
verifier() {
	"$build/verifier/assay-verifier" --port "$vp" --state-dir "$work/v" --tls-dir "$work/tls" \
		--enable-agent-mtls=false --quote-interval-ms "$1" --log-level warn $u \
		${FLEET_DATABASE_URL:+--database-url "$FLEET_DATABASE_URL"} \
		2>>"$work/verifier.log" &
	vpid=$!; pids="$pids $vpid"
}
# Enrolment with polling slowed down (a fleet polled flat out would starve
# the enrolments), then the verifier restarts at the interval measured and
# picks every agent up from its database.
verifier 600000
for i in $(seq 50); do [ -f "$work/tls/client.pem" ] && break; sleep 0.1; done
sleep 0.5
"$build/bench/fleet_sim" -n "$n" -p 10000 --verifier "https://127.0.0.1:$vp" \
	--tls-dir "$work/tls" >"$work/sim.out" 2>"$work/sim.log" &
spid=$!; pids="$pids $spid"
for i in $(seq 600); do grep -q ready "$work/sim.out" 2>/dev/null && break; sleep 0.1; done
grep -q ready "$work/sim.out" || { cat "$work/sim.log"; exit 1; }
kill "$vpid"; wait "$vpid" 2>/dev/null || true
verifier "$interval"
for i in $(seq 100); do
	curl -s -o /dev/null --cacert "$work/tls/ca.pem" --cert "$work/tls/client.pem" \
		--key "$work/tls/client.key" "https://127.0.0.1:$vp/version" && break
	sleep 0.1
done
metrics() {
	curl -s --cacert "$work/tls/ca.pem" --cert "$work/tls/client.pem" \
		--key "$work/tls/client.key" "https://127.0.0.1:$vp/metrics"
}
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
sleep 5	# warm up: every agent past its first (full) quote
m0=$(metrics); v0=$(ticks $vpid); s0=$(ticks $spid); t0=$(date +%s.%N)
sleep "$secs"
m1=$(metrics); v1=$(ticks $vpid); s1=$(ticks $spid); t1=$(date +%s.%N)
hz=$(getconf CLK_TCK)
python3 - "$n" "$t0" "$t1" "$v0" "$v1" "$s0" "$s1" "$hz" "$vpid" <<PY
import sys, re
n, t0, t1, v0, v1, s0, s1, hz, vpid = sys.argv[1:]
m0 = """$m0"""; m1 = """$m1"""
def val(m, name):
    r = re.search(r'^' + re.escape(name) + r' ([0-9.e+]+)$', m, re.M)
    return float(r.group(1)) if r else 0.0
def buckets(m):
    return [(float('inf') if b == '+Inf' else float(b), float(c))
            for b, c in re.findall(r'assay_verifier_quote_seconds_bucket\{le="([^"]+)"\} ([0-9.]+)', m)]
dt = float(t1) - float(t0)
att = (val(m1, 'assay_verifier_attestations_total') - val(m0, 'assay_verifier_attestations_total')) / dt
b0, b1 = buckets(m0), buckets(m1)
d = [(b1[i][0], b1[i][1] - b0[i][1]) for i in range(len(b1))]
total = d[-1][1]
def pct(p):
    want, prev_b, prev_c = p * total, 0.0, 0.0
    for b, c in d:
        if c >= want:
            if b == float('inf'): return prev_b
            return prev_b + (b - prev_b) * ((want - prev_c) / max(c - prev_c, 1))
        prev_b, prev_c = b, c
    return prev_b
rss = int(re.search(r'VmRSS:\s+(\d+)', open('/proc/%s/status' % vpid).read()).group(1))
fails = val(m1, 'assay_verifier_failures_total')
print("fleet_%s_attestations_per_second %.0f" % (n, att))
print("fleet_%s_latency_p50_ms %.1f" % (n, pct(0.5) * 1000))
print("fleet_%s_latency_p99_ms %.1f" % (n, pct(0.99) * 1000))
print("fleet_%s_verifier_cpu_percent %.0f" % (n, (int(v1) - int(v0)) / int(hz) / dt * 100))
print("fleet_%s_simulator_cpu_percent %.0f" % (n, (int(s1) - int(s0)) / int(hz) / dt * 100))
print("fleet_%s_verifier_rss_kib_per_agent %.1f" % (n, rss / int(n)))
print("fleet_%s_failed_agents %d" % (n, fails))
PY
