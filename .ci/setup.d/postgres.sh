# shellcheck shell=bash
# Sourced by .ci/run. Starts a throwaway PostgreSQL server for the tests of
# store/pgstore and exports AUDITEVENTS_PG_DSN, and AUDITEVENTS_PG_RESTART, a
# command that restarts it; .ci/run stops it and removes its files on exit
# through the `cleanups` array.
#
# PostgreSQL is installed from Debian's packages when it is missing (root
# only). The server is a fresh cluster in a temporary directory, owned by the
# postgres user because initdb refuses to run as root, listening on a free
# port of 127.0.0.1 and on a unix socket in that directory, with fsync off:
# nothing in it outlives the run. When AUDITEVENTS_PG_DSN is already set,
# this script does nothing, so sourcing it twice starts one server.
#
# To run the pgstore tests by hand: source .ci/setup.d/postgres.sh in a bash
# that defines cleanups=() (see .ci/run), or point AUDITEVENTS_PG_DSN at any
# server where the user may create schemas.

pgsetup_main() {
	if [ -n "${AUDITEVENTS_PG_DSN:-}" ]; then
		echo "postgres: using the AUDITEVENTS_PG_DSN already set"
		return 0
	fi
	local bindir start=$SECONDS
	bindir=$(pgsetup_bindir)
	if [ -z "$bindir" ]; then
		if [ "$(id -u)" != 0 ]; then
			echo "postgres: PostgreSQL is not installed and installing it needs root" >&2
			return 1
		fi
		echo "postgres: installing PostgreSQL from Debian's packages"
		export DEBIAN_FRONTEND=noninteractive
		apt-get update -qq >/dev/null
		apt-get install -y -qq --no-install-recommends postgresql >/dev/null
		bindir=$(pgsetup_bindir)
		if [ -z "$bindir" ]; then
			echo "postgres: initdb not found under /usr/lib/postgresql after installing" >&2
			return 1
		fi
	fi

	local dir
	# Under /tmp, not $TMPDIR: the postgres user must reach it, and the
	# socket's path must stay within the 107 bytes a unix socket allows.
	dir=$(mktemp -d /tmp/auditevents-pg.XXXXXX)
	cleanups+=("rm -rf $(printf %q "$dir")")
	# Run the server as the postgres user when root; as oneself otherwise.
	local -a as=()
	if [ "$(id -u)" = 0 ]; then
		chown postgres: "$dir"
		as=(runuser -u postgres --)
	fi
	"${as[@]}" "$bindir/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 --no-sync >"$dir/initdb.log" 2>&1 || {
		cat "$dir/initdb.log" >&2
		return 1
	}

	# Pick a port no one listens on; should another process take it first,
	# the start fails and the next candidate is tried.
	local port="" try candidate
	for try in $(seq 1 20); do
		candidate=$((20000 + RANDOM % 30000))
		if (exec 3<>"/dev/tcp/127.0.0.1/$candidate") 2>/dev/null; then
			continue
		fi
		if "${as[@]}" "$bindir/pg_ctl" start -D "$dir/data" -l "$dir/server.log" -s -w -t 30 \
			-o "-c listen_addresses=127.0.0.1 -p $candidate -k $dir -c fsync=off -c synchronous_commit=off -c full_page_writes=off" >/dev/null; then
			port=$candidate
			break
		fi
		echo "postgres: could not start on port $candidate (try $try)" >&2
	done
	if [ -z "$port" ]; then
		cat "$dir/server.log" >&2 || true
		return 1
	fi
	# Cleanups run first to last: stop the server before removing its files.
	cleanups=("$(printf '%q ' "${as[@]}" "$bindir/pg_ctl" stop -D "$dir/data" -m fast -s)" "${cleanups[@]}")

	local ready=""
	for try in $(seq 1 100); do
		if "$bindir/pg_isready" -q -h 127.0.0.1 -p "$port" -t 1; then
			ready=1
			break
		fi
		sleep 0.1
	done
	if [ -z "$ready" ]; then
		echo "postgres: server on 127.0.0.1:$port not ready after 10s" >&2
		cat "$dir/server.log" >&2 || true
		return 1
	fi
	"$bindir/createdb" -h 127.0.0.1 -p "$port" -U postgres auditevents_test
	export AUDITEVENTS_PG_DSN="postgres://postgres@127.0.0.1:$port/auditevents_test?sslmode=disable"
	# The tests restart the server in the middle of a query with this.
	AUDITEVENTS_PG_RESTART="$(printf '%q ' "${as[@]}" "$bindir/pg_ctl" restart -D "$dir/data" -l "$dir/server.log" -m fast -w -t 30 -s)"
	export AUDITEVENTS_PG_RESTART
	echo "postgres: $("$bindir/postgres" --version) on 127.0.0.1:$port, set up in $((SECONDS - start))s; AUDITEVENTS_PG_DSN=$AUDITEVENTS_PG_DSN"
}

# pgsetup_bindir prints the bin directory of the newest PostgreSQL installed
# from Debian's packages, or nothing.
pgsetup_bindir() {
	local d
	d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
	if [ -n "$d" ] && [ -x "$d/initdb" ]; then
		echo "$d"
	fi
}

pgsetup_main
unset -f pgsetup_main pgsetup_bindir
