# One rank of two dies (MODE=kill) or stalls (MODE=stall) mid-training: the
# job must end on its own, with an error, quickly, saying what happened.
# -DMPIEXEC=... -DPROGRAM=... -DMODE=kill|stall
string(TIMESTAMP t0 "%s")
execute_process(
  COMMAND ${MPIEXEC} -np 2 --oversubscribe --allow-run-as-root ${PROGRAM} ${MODE}
  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err TIMEOUT 120)
string(TIMESTAMP t1 "%s")
math(EXPR seconds "${t1} - ${t0}")
set(all "${out}${err}")
message("exit: ${rc} after ${seconds} s\n${all}")
if(rc STREQUAL "0" OR rc MATCHES "timeout")
  message(FATAL_ERROR "the job did not end with an error (exit: ${rc})")
endif()
if(seconds GREATER 60)
  message(FATAL_ERROR "the job took ${seconds} s to end; the step timeout is 3 s")
endif()
if(MODE STREQUAL "stall")
  # Rank 0's own diagnosis, from the step timeout.
  if(NOT all MATCHES "rank 0: CommunicationError: DistributedOptimizer: [^\n]*not completed after 3 s on rank 0 of 2: another rank has died, stalled")
    message(FATAL_ERROR "rank 0 did not report the stalled step")
  endif()
else()
  # mpirun sees the death first (or rank 0's MPI call fails, or times out):
  # either way the output names what happened.
  if(NOT all MATCHES "rank 1 with PID [0-9]+ on node [^ ]+ exited on signal 9|rank 0: CommunicationError")
    message(FATAL_ERROR "nothing in the output says that rank 1 died")
  endif()
endif()
