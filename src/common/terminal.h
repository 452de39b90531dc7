// Whether the log reaches a terminal, and how wide that terminal is. The log
// is stderr; under Open MPI's mpirun a rank's stderr is a pipe that mpirun
// reads and copies, as it arrives, to its own stderr (a rank's stdout is a
// pseudo-terminal whatever mpirun's own stdout is, so it says nothing). Here
// such a pipe counts as a terminal when the parent reading it has a terminal
// for its stderr. Linux only for the pipe (it reads /proc); elsewhere only a
// stderr that is itself a terminal counts.
#pragma once

namespace mpsbatch {

// True where stderr is a terminal, or a pipe that this process's parent holds
// open (its launcher, copying it) while the parent's stderr is a terminal.
// Never throws.
bool StderrReachesTerminal();

// The columns of that terminal; 80 where none is found or it says 0.
int TerminalColumns();

}  // namespace mpsbatch
