#!/bin/sh
# PE stop procedure for MPI jobs: removes what startmpi.sh left in $TMPDIR.
rm -f "$TMPDIR/machines" "$TMPDIR/rsh"
exit 0
