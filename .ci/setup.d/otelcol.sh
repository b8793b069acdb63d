# shellcheck shell=bash
# Sourced by .ci/run. Builds the OpenTelemetry Collector described by
# .ci/otelcol/manifest.yaml with the collector builder (ocb) and exports
# AUDITEVENTS_OTELCOL, the path of its binary, which the tests of forward/otlp
# start and send to; without it they skip that test.
#
# The build takes minutes (about 4 on 2 idle cores, from empty caches), so it
# runs only when CI is set or AUDITEVENTS_OTELCOL_BUILD=1 asks for it, and the
# binary is cached under a directory named after the hash of the manifest and
# the builder's version: ${AUDITEVENTS_CACHE:-~/.cache/auditevents}/otelcol-<hash>.
# A rerun with the same manifest starts at once. When AUDITEVENTS_OTELCOL is
# already set, this script does nothing.
#
# Everything comes from the Go module proxy. GOFLAGS=-e gets past one module
# whose zip the proxy refuses and that only the file exporter's tests import.
#
# To run the test by hand:
#   AUDITEVENTS_OTELCOL_BUILD=1 bash -c 'source .ci/setup.d/otelcol.sh && cd forward/otlp && go test -run Collector -v'

otelcol_main() {
	if [ -n "${AUDITEVENTS_OTELCOL:-}" ]; then
		echo "otelcol: using the AUDITEVENTS_OTELCOL already set"
		return 0
	fi
	if [ -z "${CI:-}" ] && [ -z "${AUDITEVENTS_OTELCOL_BUILD:-}" ]; then
		echo "otelcol: not built (set CI or AUDITEVENTS_OTELCOL_BUILD=1 to build it); the test against it will skip"
		return 0
	fi
	local builder_version=v0.165.0
	local manifest=.ci/otelcol/manifest.yaml
	local hash cache dir bin start=$SECONDS
	hash=$( { cat "$manifest"; echo "$builder_version"; } | sha256sum | cut -c1-16)
	cache="${AUDITEVENTS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/auditevents}"
	dir="$cache/otelcol-$hash"
	bin="$dir/otelcol-auditevents"
	if [ ! -x "$bin" ]; then
		echo "otelcol: building with the collector builder $builder_version (minutes; cached in $dir)"
		local work
		work=$(mktemp -d)
		GOBIN="$work/bin" GOWORK=off go install "go.opentelemetry.io/collector/cmd/builder@$builder_version" || {
			rm -rf "$work"
			return 1
		}
		# The manifest's dist section gets the output path of this build.
		awk -v out="$work/out" '{ print } /^dist:$/ { print "  output_path: " out }' "$manifest" >"$work/manifest.yaml"
		(cd "$work" && GOFLAGS=-e GOWORK=off "$work/bin/builder" --config "$work/manifest.yaml") >"$work/build.log" 2>&1 || {
			tail -n 40 "$work/build.log" >&2
			rm -rf "$work"
			return 1
		}
		mkdir -p "$dir"
		mv "$work/out/otelcol-auditevents" "$bin.tmp"
		mv "$bin.tmp" "$bin"
		rm -rf "$work"
	fi
	export AUDITEVENTS_OTELCOL="$bin"
	echo "otelcol: $("$bin" --version) in $((SECONDS - start))s; AUDITEVENTS_OTELCOL=$bin"
}

otelcol_main
unset -f otelcol_main
