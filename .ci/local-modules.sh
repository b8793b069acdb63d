# shellcheck shell=bash
# Sourced by .ci/run and .ci/pin-root. Makes the go command resolve this
# repository's modules (github.com/auditevents/auditevents and the modules
# nested in it) from this clone instead of from the network, at any version
# whose commit the clone holds: a pseudo-version such as
# v0.0.0-20261130153703-44036446aeec names a commit, and the go command
# fetches it from the clone's git directory, exactly as it would from the
# public repository. Nothing is written to the git configuration: the
# rewrite of the repository's URL lives in this shell's environment.
#
# GOPRIVATE keeps the go command from asking the module proxy and the
# checksum database about these modules (they would not know an unpublished
# commit); go.sum still pins their content.

local_modules_gitdir=$(git rev-parse --path-format=absolute --git-common-dir)
export GOPRIVATE="github.com/auditevents/auditevents${GOPRIVATE:+,$GOPRIVATE}"
export GIT_CONFIG_COUNT=1
export GIT_CONFIG_KEY_0="url.${local_modules_gitdir}.insteadOf"
export GIT_CONFIG_VALUE_0="https://github.com/auditevents/auditevents"
unset local_modules_gitdir
