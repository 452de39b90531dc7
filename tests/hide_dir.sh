#!/bin/sh
# Runs a command in a private mount namespace where folder $1 is an empty
# tmpfs: a rank launched this way sees a host without the job's files, as on a
# cluster with no shared filesystem. Needs root (a mount namespace and a mount).
dir=$1
shift
exec unshare -m --propagation private sh -c 'mount -t tmpfs none "$0" && exec "$@"' "$dir" "$@"
