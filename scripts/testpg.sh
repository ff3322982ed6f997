#!/usr/bin/env bash
# testpg.sh: a throwaway PostgreSQL cluster for the tests, on a free loopback
# port in a directory of its own.
#
#   scripts/testpg.sh start [DIR]   initdb + start; prints the DSN on stdout
#   scripts/testpg.sh stop DIR      stop the cluster and delete DIR
#
# DIR defaults to a new temporary directory; start prints nothing but the DSN
# (postgres://cte@127.0.0.1:PORT/cte?sslmode=disable), and DIR/dsn holds it too.
# The server trusts connections from 127.0.0.1 only, keeps its socket in DIR, and
# never runs as root: when started as root, it runs as the system user ctepg
# (created if missing). It uses initdb and pg_ctl from PATH, or from
# /usr/lib/postgresql/*/bin (Debian's postgresql package; `apt-get install
# postgresql` when neither has them).
set -euo pipefail

pgbin() {
	if command -v initdb >/dev/null 2>&1; then
		dirname "$(readlink -f "$(command -v initdb)")"
		return
	fi
	local d
	for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
		if [ -x "$d/initdb" ]; then
			echo "$d"
			return
		fi
	done
	echo "testpg: initdb not found: install PostgreSQL (apt-get install postgresql)" >&2
	exit 1
}

# as runs a command as the server's user.
as() {
	if [ "$(id -u)" -eq 0 ]; then
		runuser -u ctepg -- "$@"
	else
		"$@"
	fi
}

# freeport prints a TCP port nothing listens on at 127.0.0.1, below Linux's
# ephemeral range (32768 and up by default), where outgoing connections take
# theirs: a port one of them holds accepts no connection but cannot be bound.
freeport() {
	local p i
	for i in $(seq 1 100); do
		p=$((20000 + RANDOM % 12000))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			echo "$p"
			return
		fi
	done
	echo "testpg: no free port found" >&2
	exit 1
}

start() {
	local dir="${1:-}" bin port
	bin="$(pgbin)"
	if [ -z "$dir" ]; then
		dir="$(mktemp -d "${TMPDIR:-/tmp}/cte-pg.XXXXXX")"
	fi
	mkdir -p "$dir"
	if [ "$(id -u)" -eq 0 ]; then
		id ctepg >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin ctepg
		chown ctepg "$dir"
		chmod 0700 "$dir"
	fi
	as "$bin/initdb" -D "$dir/data" -U cte --auth=trust --encoding=UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 ||
		{ cat "$dir/initdb.log" >&2; exit 1; }
	# Another process can take the port between freeport and the bind: then
	# the server says so, and starts again on another.
	local try
	for try in 1 2 3 4 5; do
		port="$(freeport)"
		if as "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
			-o "-p $port -c listen_addresses=127.0.0.1 -c unix_socket_directories=$dir -c max_connections=200" start >/dev/null; then
			break
		fi
		if [ "$try" -eq 5 ] || ! grep -q "Address already in use" "$dir/server.log"; then
			cat "$dir/server.log" >&2
			exit 1
		fi
		echo "testpg: port $port is taken; trying another" >&2
	done
	as "$bin/createdb" -h 127.0.0.1 -p "$port" -U cte cte
	local dsn="postgres://cte@127.0.0.1:$port/cte?sslmode=disable"
	echo "$dsn" | as tee "$dir/dsn" >/dev/null
	echo "$dsn"
	echo "testpg: started in $dir (stop with: $0 stop $dir)" >&2
}

stop() {
	local dir="${1:?usage: testpg.sh stop DIR}" bin
	bin="$(pgbin)"
	if [ -f "$dir/data/postmaster.pid" ]; then
		as "$bin/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null || true
	fi
	rm -rf "$dir"
}

case "${1:-}" in
start) start "${2:-}" ;;
stop) stop "${2:-}" ;;
*)
	echo "usage: $0 start [DIR] | stop DIR" >&2
	exit 2
	;;
esac
