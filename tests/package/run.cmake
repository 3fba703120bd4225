# Installs the build tree into a scratch prefix, then configures, builds and
# runs the consumer project against it. Called by ctest with BUILD_DIR, SRC_DIR.
set(prefix ${BUILD_DIR}/package-test/prefix)
set(cbuild ${BUILD_DIR}/package-test/consumer)
file(REMOVE_RECURSE ${BUILD_DIR}/package-test)
foreach(step
    "${CMAKE_COMMAND};--install;${BUILD_DIR};--prefix;${prefix}"
    "${CMAKE_COMMAND};-S;${SRC_DIR}/tests/package/consumer;-B;${cbuild};-DCMAKE_PREFIX_PATH=${prefix};-DCMAKE_BUILD_TYPE=Release"
    "${CMAKE_COMMAND};--build;${cbuild}"
    "${cbuild}/consumer")
  execute_process(COMMAND ${step} RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "package test step failed (${rc}): ${step}")
  endif()
endforeach()
