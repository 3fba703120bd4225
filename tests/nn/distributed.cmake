# The mnist example on 2 MPI ranks (--distributed):
#  1. 2 epochs of the MLP (1,876 steps of 64 = 2 x 32) end with bit-identical
#     variables on both ranks, and within 0.3 points of one process with the
#     same global batch. (--no-dropout: the two runs then differ only in the
#     order of floating-point sums; with dropout the ranks draw other masks.)
#  2. --resume works distributed: 1 epoch + a resumed second epoch write the
#     same checkpoint, byte for byte, as 2 epochs straight (CNN, dropout on).
# Args: MNIST, MPIEXEC, DATA, WORK.
file(REMOVE_RECURSE ${WORK})
set(mpirun ${MPIEXEC} -np 2 --oversubscribe --allow-run-as-root)
set(common --data-dir ${DATA} --model mlp --epochs 2 --lr-decay 0.2 --no-dropout --threads 1
    --seed 42 --batch-size 64 --quiet)

function(accuracy out_var text)
  if(NOT text MATCHES "test accuracy: ([0-9]+)\\.([0-9][0-9])%")
    message(FATAL_ERROR "no test accuracy in:\n${text}")
  endif()
  math(EXPR hundredths "${CMAKE_MATCH_1} * 100 + ${CMAKE_MATCH_2}")
  set(${out_var} ${hundredths} PARENT_SCOPE)
endfunction()

execute_process(COMMAND ${MNIST} ${common} RESULT_VARIABLE rc OUTPUT_VARIABLE one ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "one process failed (${rc}):\n${one}${err}")
endif()
execute_process(COMMAND ${mpirun} ${MNIST} ${common} --distributed
                RESULT_VARIABLE rc OUTPUT_VARIABLE two ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "2 ranks failed (${rc}):\n${two}${err}")
endif()
message("one process:\n${one}\n2 ranks:\n${two}")
if(NOT two MATCHES "variables identical on all 2 ranks")
  message(FATAL_ERROR "the ranks did not report identical variables")
endif()
accuracy(a1 "${one}")
accuracy(a2 "${two}")
math(EXPR diff "${a1} - ${a2}")
if(diff LESS 0)
  math(EXPR diff "-${diff}")
endif()
if(diff GREATER 30)
  message(FATAL_ERROR "accuracy differs by ${diff} hundredths of a point (allowed: 30)")
endif()

set(small --data-dir ${DATA} --train-limit 512 --test-limit 128 --model cnn --batch-size 64
    --threads 1 --quiet --distributed)
foreach(run
    "${small};--epochs;2;--checkpoint-dir;${WORK}/straight"
    "${small};--epochs;1;--checkpoint-dir;${WORK}/resumed"
    "${small};--epochs;2;--checkpoint-dir;${WORK}/resumed;--resume")
  execute_process(COMMAND ${mpirun} ${MNIST} ${run} RESULT_VARIABLE rc OUTPUT_VARIABLE out
                  ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "run failed (${rc}): ${run}\n${out}${err}")
  endif()
endforeach()
execute_process(COMMAND ${CMAKE_COMMAND} -E compare_files ${WORK}/straight/checkpoint.npz
                        ${WORK}/resumed/checkpoint.npz RESULT_VARIABLE differ)
if(differ)
  message(FATAL_ERROR "resumed distributed training differs from uninterrupted training")
endif()
