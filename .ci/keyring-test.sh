#!/usr/bin/env bash
# Runs the secret store's keyring test against a real Secret Service:
# gnome-keyring-daemon on a private session bus (started by dbus-run-session),
# with a throwaway keyring unlocked by a fixed password.
set -euo pipefail
XDG_DATA_HOME=$(mktemp -d)
export XDG_DATA_HOME
eval "$(printf 'ci-keyring-pass' | gnome-keyring-daemon --unlock --components=secrets 2>/dev/null)"
export GNOME_KEYRING_CONTROL
MCPWRAP_TEST_KEYRING=1 go test -count=1 -race -run 'TestSecretService' -v ./secretstore/ | grep -E '^(--- |ok|FAIL|PASS)'
