#!/bin/sh
# PE start procedure for MPI jobs: start_proc_args  <path>/startmpi.sh [-catch_rsh] $pe_hostfile
# Writes $TMPDIR/machines (one host per slot, the format MPICH's -machinefile and Open MPI's
# --hostfile read) and, with -catch_rsh, links the rsh wrapper into $TMPDIR so an MPI launcher
# that calls "rsh" (PATH starts with $TMPDIR in the job) starts its tasks with qrsh -inherit.
catch_rsh=0
if [ "$1" = "-catch_rsh" ]; then catch_rsh=1; shift; fi
hostfile="$1"
if [ -z "$hostfile" ] || [ ! -r "$hostfile" ]; then
    echo "startmpi.sh: cannot read the PE host file '$hostfile'" >&2
    exit 1
fi
: "${TMPDIR:?startmpi.sh: TMPDIR is not set}"
while read -r host slots _rest; do
    i=0
    while [ "$i" -lt "$slots" ]; do echo "$host"; i=$((i + 1)); done
done < "$hostfile" > "$TMPDIR/machines"
if [ "$catch_rsh" = 1 ]; then
    here=$(cd "$(dirname "$0")" && pwd)
    ln -sf "$here/rsh" "$TMPDIR/rsh"
fi
exit 0
