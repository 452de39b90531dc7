#!/bin/sh
# Runs a command in a private mount namespace where folder $2 shows folder
# $1's files instead of its own: a rank launched this way sees other files at
# the job's paths, as a host whose copy of the model differs.
# Needs root (a mount namespace and a mount).
src=$1
dir=$2
shift 2
exec unshare -m --propagation private sh -c 'mount --bind "$0" "$1" && shift && exec "$@"' "$src" "$dir" "$@"
