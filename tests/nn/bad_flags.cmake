# The mnist example with each bad flag a new user tried: every one must end
# with exit code 1 and a one-line message naming the flag, never an abort or
# an endless run. Args: MNIST, DATA, WORK.
file(REMOVE_RECURSE ${WORK})
file(MAKE_DIRECTORY ${WORK})
file(WRITE ${WORK}/a-file "not a directory")
set(common --data-dir ${DATA} --train-limit 64 --test-limit 16 --quiet)
# Each case: the flag the message must name, then the arguments, "|"-separated.
set(cases
  "--epochs|--epochs|-1"
  "--epochs|--epochs|0"
  "--batch-size|--batch-size|-5"
  "--batch-size|--batch-size|0"
  "--lr|--lr|-1"
  "--lr|--lr|nan"
  "--lr-decay|--lr-decay|2"
  "--momentum|--momentum|-0.5"
  "--weight-decay|--weight-decay|-1"
  "--seed|--seed|-3"
  "--threads|--threads|many"
  "--train-limit|--train-limit|-1"
  "--clip|--clip|bogus=1"
  "--clip|--clip|value=1,0"
  "--checkpoint-dir|--checkpoint-dir|${WORK}/a-file"
  "--checkpoint-dir|--checkpoint-dir|${WORK}/a-file/below"
  "--metrics|--metrics|${WORK}"
  "--validation|--validation|64"
  "--optimizer|--optimizer|adamax"
  "--resume|--resume")
foreach(case IN LISTS cases)
  string(REPLACE "|" ";" parts "${case}")
  list(GET parts 0 flag)
  list(SUBLIST parts 1 -1 args)
  execute_process(COMMAND ${MNIST} ${common} ${args} RESULT_VARIABLE rc OUTPUT_VARIABLE out
                  ERROR_VARIABLE err TIMEOUT 60)
  if(NOT rc EQUAL 1)
    message(FATAL_ERROR "${args}: exit code ${rc}, expected 1\n${out}${err}")
  endif()
  string(FIND "${out}${err}" "${flag}" at)
  if(at EQUAL -1)
    message(FATAL_ERROR "${args}: the message does not name ${flag}:\n${out}${err}")
  endif()
  message(STATUS "${args}: ${err}")
endforeach()
