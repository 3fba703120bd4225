# Installs the build tree into a scratch prefix, then configures, builds and
# runs the consumer project against it, and checks what the package put on
# the consumer's compile line. Called by ctest with BUILD_DIR, SRC_DIR, WITH_MPI.
set(prefix ${BUILD_DIR}/package-test/prefix)
file(REMOVE_RECURSE ${BUILD_DIR}/package-test)

function(step)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "package test step failed (${rc}): ${ARGN}")
  endif()
endfunction()

step(${CMAKE_COMMAND} --install ${BUILD_DIR} --prefix ${prefix})
if(EXISTS ${prefix}/include/tapeflow/core/detail)
  message(FATAL_ERROR "private headers (detail/) were installed")
endif()

# 1. Without MPI: the package must not look for it unless the component is asked for.
set(cbuild ${BUILD_DIR}/package-test/consumer)
step(${CMAKE_COMMAND} -S ${SRC_DIR}/tests/package/consumer -B ${cbuild}
     -DCMAKE_PREFIX_PATH=${prefix} -DCMAKE_BUILD_TYPE=Release -DCMAKE_DISABLE_FIND_PACKAGE_MPI=ON)
step(${CMAKE_COMMAND} --build ${cbuild})
step(${cbuild}/consumer)
file(READ ${cbuild}/compile_commands.json commands)
string(REGEX MATCH "\"command\": \"[^\"]*main.cpp[^\"]*\"" line "${commands}")
message(STATUS "consumer compile line: ${line}")
foreach(forbidden -march XTENSOR_USE_XSIMD -fsanitize)
  string(FIND "${line}" "${forbidden}" at)
  if(NOT at EQUAL -1)
    message(FATAL_ERROR "the installed package put '${forbidden}' on the consumer's compile line")
  endif()
endforeach()

# 2. With the mpi component, when the package was built with MPI.
if(WITH_MPI)
  set(mbuild ${BUILD_DIR}/package-test/consumer-mpi)
  step(${CMAKE_COMMAND} -S ${SRC_DIR}/tests/package/consumer -B ${mbuild}
       -DCMAKE_PREFIX_PATH=${prefix} -DCMAKE_BUILD_TYPE=Release -DWITH_MPI=ON)
  step(${CMAKE_COMMAND} --build ${mbuild})
endif()
