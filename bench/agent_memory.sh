#!/bin/sh
# Idle memory of assay-agent on swtpm after registration and a few quotes.
# Prints RSS (resident, shared library pages included), PSS (shared pages
# divided among the processes mapping them) and private memory (what the
# agent alone costs), in KiB.
#   bench/agent_memory.sh BUILD_DIR
set -eu
build=$1
src=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d /tmp/assay-bench-agent.XXXXXX)
chmod 755 "$work"
u="" r=""
[ "$(id -u)" -eq 0 ] && u="--user=nobody" r="--run-as=nobody"
pids=""
trap 'for p in $pids; do kill $p 2>/dev/null; done; wait 2>/dev/null;
      bash -c ". $src/scripts/swtpm-env.sh && swtpm_stop $work/tpm" >/dev/null 2>&1;
      rm -rf "$work"' EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
rp=$(port); rt=$(port); ap=$(port)
mkdir -p "$work/tpm"
bash -c ". $src/scripts/swtpm-env.sh && swtpm_start $work/tpm" >/dev/null 2>&1
"$build/registrar/assay-registrar" --port "$rp" --tls-port "$rt" --state-dir "$work/reg" $u 2>/dev/null &
pids="$pids $!"
sleep 0.5
"$build/agent/assay-agent" --tcti "$(cat "$work/tpm/tcti")" --port "$ap" --contact-port "$ap" \
	--registrar-port "$rp" --state-dir "$work/agent" --trusted-client-ca "$work/reg/tls/ca.pem" \
	--log-level warn $r 2>"$work/agent.log" &
agent=$!
pids="$pids $agent"
tls=$work/reg/tls
for i in $(seq 100); do
	[ -f "$work/agent/server-cert.crt" ] && curl -sf --cacert "$work/agent/server-cert.crt" \
		--cert "$tls/client.pem" --key "$tls/client.key" \
		"https://127.0.0.1:$ap/version" >/dev/null 2>&1 && break
	sleep 0.1
done
for n in 1 2 3 4 5; do
	curl -sf --cacert "$work/agent/server-cert.crt" --cert "$tls/client.pem" \
		--key "$tls/client.key" \
		"https://127.0.0.1:$ap/v2.5/quotes/identity?nonce=n$n" >/dev/null
done
sleep 1
echo "agent_rss_idle_kib $(awk '/^VmRSS:/ {print $2}' /proc/$agent/status)"
echo "agent_rss_peak_kib $(awk '/^VmHWM:/ {print $2}' /proc/$agent/status)"
echo "agent_pss_idle_kib $(awk '/^Pss:/ {print $2}' /proc/$agent/smaps_rollup)"
echo "agent_private_idle_kib $(awk '/^Private_(Clean|Dirty):/ {n += $2} END {print n}' /proc/$agent/smaps_rollup)"
