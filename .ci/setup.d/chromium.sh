# shellcheck shell=bash
# Sourced by .ci/run. Installs Debian's chromium for the browser test of the
# audit log viewer (httpapi/viewer/browsertest) when it is missing, and
# exports CHROMIUM, the program that test drives. Without Chromium that test
# skips on a developer's machine and fails under CI, so a missing browser is
# never mistaken for a passing test.

chromium_main() {
	local exe
	exe=$(command -v chromium || true)
	if [ -z "$exe" ]; then
		if [ "$(id -u)" != 0 ]; then
			echo "chromium: Chromium is not installed and installing it needs root" >&2
			return 1
		fi
		echo "chromium: installing Chromium from Debian's packages"
		DEBIAN_FRONTEND=noninteractive apt-get update -qq
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null
		exe=$(command -v chromium)
	fi
	export CHROMIUM="$exe"
	echo "chromium: $("$exe" --version 2>/dev/null || echo "$exe")"
}

chromium_main
