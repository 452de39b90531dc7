#!/bin/sh
# Open MPI's rsh agent for the multi-host test (tests/multihost.sh): instead
# of ssh to HOST, run the command in that host's network namespace
# (mpsbatch-hN for 10.77.0.(N+1)), with its own hostname, and with the folder
# $MPSBATCH_HIDE_DIR replaced by an empty tmpfs, so the "host" shares no
# files with rank 0's. Like ssh, it hands the command to a shell.
[ -n "${MPSBATCH_RSH_LOG:-}" ] && printf "%s\n" "$*" >>"$MPSBATCH_RSH_LOG"
host=$1
shift
n=$(( ${host##*.} - 1 ))
exec ip netns exec "mpsbatch-h$n" unshare -m -u --propagation private sh -c '
  hostname "mpsbatch-h$0" && mount -t tmpfs none "$1" && shift && exec sh -c "$*"' \
  "$n" "$MPSBATCH_HIDE_DIR" "$@"
