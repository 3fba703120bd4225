# Resume exactness of the mnist example: 2 epochs straight, and 1 epoch + a
# new process resuming for the second, must write byte-identical checkpoints
# (variables, optimizer slots, beta powers, global step). Args: MNIST, DATA, WORK.
file(REMOVE_RECURSE ${WORK})
set(common --data-dir ${DATA} --train-limit 512 --test-limit 128 --model cnn --batch-size 64 --quiet)
foreach(run
    "${MNIST};${common};--epochs;2;--checkpoint-dir;${WORK}/straight"
    "${MNIST};${common};--epochs;1;--checkpoint-dir;${WORK}/resumed"
    "${MNIST};${common};--epochs;2;--checkpoint-dir;${WORK}/resumed;--resume")
  execute_process(COMMAND ${run} RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "run failed (${rc}): ${run}")
  endif()
endforeach()
execute_process(COMMAND ${CMAKE_COMMAND} -E compare_files ${WORK}/straight/checkpoint.npz
                        ${WORK}/resumed/checkpoint.npz RESULT_VARIABLE differ)
if(differ)
  message(FATAL_ERROR "resumed training differs from uninterrupted training")
endif()
