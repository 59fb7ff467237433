#!/usr/bin/env bash
# scripts/as-root.sh COMMAND [ARGS...]: runs COMMAND as root — as it is when we are root already (a
# cloud VM or a container often has no sudo at all), through sudo otherwise.
#
# sudo starts the command with a fresh environment (sudoers' env_reset): PATH becomes secure_path, where
# a node installed with nvm is missing, and the lab's own variables (LAB_STATE_DIR, MINIDOCKER_NETNS,
# NO_COLOR, DEBUG …) are dropped. `sudo env NAME=VALUE … COMMAND` hands them over as arguments of
# env(1), which sudoers does not filter: the same trick as `sudo env "PATH=$PATH"`, for every variable
# the lab reads.
set -uo pipefail

[ $# -gt 0 ] || { echo "usage: scripts/as-root.sh COMMAND [ARGS...]" >&2; exit 2; }
[ "$(id -u)" = 0 ] && exec "$@"

# The command as the user typed it (npm names the script in npm_lifecycle_event), for the messages.
typed="npm run ${npm_lifecycle_event:-$1}"
if ! command -v sudo >/dev/null 2>&1; then
    echo "\`$typed\` needs root (namespaces, mounts, cgroups) and there is no sudo here: run it again as root" >&2
    exit 1
fi

keep=("PATH=$PATH")
while IFS= read -r -d '' entry; do
    case "${entry%%=*}" in
        LAB_* | MINIDOCKER_* | NO_COLOR | FORCE_COLOR | DEBUG | CI | npm_lifecycle_event) keep+=("$entry") ;;
    esac
done < <(env -0)
exec sudo -- env "${keep[@]}" "$@"
