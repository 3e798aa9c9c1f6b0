# swtpm-env.sh: start and stop a throw-away software TPM for tests and demos.
#
# Source this file (bash), then:
#   swtpm_start DIR   manufacture a TPM 2.0 in DIR (EK certificates signed by
#                     a local CA kept in DIR/localca) and run swtpm on two free
#                     TCP ports; exports SWTPM_TCTI, SWTPM_PORT, SWTPM_CTRL_PORT
#                     and writes the TCTI string to DIR/tcti.
#   swtpm_stop DIR    stop the swtpm started for DIR.
#
# Everything lives in DIR so that neither root nor an ordinary user needs
# /var/lib/swtpm-localca or ~/.config: swtpm_setup and swtpm_localca get
# config files pointing inside DIR. PCR banks sha1 and sha256 are active, as
# on most real TPMs, so tests can quote either bank.
#
# Functions return non-zero with a message on stderr; logs stay in DIR.

# Succeeds when something accepts connections on 127.0.0.1:$1.
swtpm_port_busy_() {
	(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

swtpm_write_config_() {
	local dir=$1 ca="$1/localca"

	mkdir -p "$ca" || return 1
	cat > "$dir/swtpm_setup.conf" <<EOF
create_certs_tool = $(command -v swtpm_localca)
create_certs_tool_config = $ca/swtpm-localca.conf
create_certs_tool_options = $ca/swtpm-localca.options
active_pcr_banks = sha1,sha256
EOF
	cat > "$ca/swtpm-localca.conf" <<EOF
statedir = $ca
signingkey = $ca/signkey.pem
issuercert = $ca/issuercert.pem
certserial = $ca/certserial
EOF
	cat > "$ca/swtpm-localca.options" <<EOF
--platform-manufacturer Assay
--platform-version 2.1
--platform-model swtpm
EOF
}

swtpm_start() {
	local dir=$1 port try tool

	if [ -z "$dir" ]; then
		echo "swtpm_start: usage: swtpm_start DIR" >&2
		return 2
	fi
	for tool in swtpm swtpm_setup swtpm_localca; do
		if ! command -v "$tool" >/dev/null 2>&1; then
			echo "swtpm_start: $tool not installed" >&2
			return 1
		fi
	done
	mkdir -p "$dir" || return 1
	dir=$(cd "$dir" && pwd) || return 1
	swtpm_write_config_ "$dir" || return 1

	if ! swtpm_setup --tpm2 --tpmstate "$dir" --config "$dir/swtpm_setup.conf" \
	    --create-ek-cert --create-platform-cert --overwrite \
	    --pcr-banks sha1,sha256 --display \
	    > "$dir/setup.log" 2>&1; then
		echo "swtpm_start: swtpm_setup failed, see $dir/setup.log:" >&2
		tail -n 20 "$dir/setup.log" >&2
		return 1
	fi

	# Pick a random even port with port+1 also free. Another process may
	# take it between the check and the bind, so retry a few times.
	for try in 1 2 3 4 5 6 7 8 9 10; do
		port=$(( 20000 + (RANDOM * 2) % 40000 ))
		if swtpm_port_busy_ "$port" || swtpm_port_busy_ $((port + 1)); then
			continue
		fi
		rm -f "$dir/pid"
		if ! swtpm socket --tpm2 \
		    --server "type=tcp,port=$port,bindaddr=127.0.0.1" \
		    --ctrl "type=tcp,port=$((port + 1)),bindaddr=127.0.0.1" \
		    --tpmstate "dir=$dir" \
		    --flags not-need-init,startup-clear \
		    --log "file=$dir/swtpm.log" \
		    --pid "file=$dir/pid" --daemon; then
			continue
		fi
		# --daemon returns once the sockets are bound; wait for the pid
		# file anyway in case of a slow start.
		for _ in 1 2 3 4 5 6 7 8 9 10; do
			[ -s "$dir/pid" ] && break
			sleep 0.1
		done
		if [ -s "$dir/pid" ] && swtpm_port_busy_ "$port"; then
			export SWTPM_PORT=$port
			export SWTPM_CTRL_PORT=$((port + 1))
			export SWTPM_TCTI="swtpm:host=127.0.0.1,port=$port"
			echo "$SWTPM_TCTI" > "$dir/tcti"
			return 0
		fi
		swtpm_stop "$dir" 2>/dev/null
	done
	echo "swtpm_start: could not start swtpm, see $dir/swtpm.log" >&2
	return 1
}

swtpm_stop() {
	local dir=$1 pid

	if [ -z "$dir" ] || [ ! -s "$dir/pid" ]; then
		echo "swtpm_stop: no swtpm pid file in '$dir'" >&2
		return 1
	fi
	pid=$(cat "$dir/pid")
	case $pid in
	''|*[!0-9]*)
		echo "swtpm_stop: bad pid file $dir/pid" >&2
		return 1 ;;
	esac
	kill "$pid" 2>/dev/null
	for _ in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null; then
		kill -9 "$pid" 2>/dev/null
	fi
	rm -f "$dir/pid"
	return 0
}
