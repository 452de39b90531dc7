# Installs mpsbatch's user scripts into CMAKE_INSTALL_PREFIX/bin under the
# names users type, run at install time (install(CODE) in CMakeLists.txt sets
# MPSBATCH_SCRIPT_SOURCE_DIR, MPSBATCH_SCRIPT_PYTHON, MPSBATCH_SCRIPT_STAGE (a
# folder of the build for the edited copies) and MPSBATCH_SCRIPTS, a list of
# SOURCE=NAME). The first line of each becomes "#!PYTHON", the Python
# whose torch mpsbatch was built against, so that the script runs with it
# from any shell. A script not in the source tree is skipped, so a script
# added later is installed without configuring again.
foreach(pair IN LISTS MPSBATCH_SCRIPTS)
  string(REPLACE "=" ";" pair "${pair}")
  list(GET pair 0 source)
  list(GET pair 1 name)
  set(path "${MPSBATCH_SCRIPT_SOURCE_DIR}/${source}")
  if(NOT EXISTS "${path}")
    message(STATUS "Skipping ${name}: no ${source}")
    continue()
  endif()
  file(READ "${path}" text)
  if(MPSBATCH_SCRIPT_PYTHON)
    string(REGEX REPLACE "^#![^\n]*" "#!${MPSBATCH_SCRIPT_PYTHON}" text "${text}")
  endif()
  set(staged "${MPSBATCH_SCRIPT_STAGE}/${name}")
  file(WRITE "${staged}" "${text}")
  file(INSTALL "${staged}" DESTINATION "${CMAKE_INSTALL_PREFIX}/bin"
       FILE_PERMISSIONS OWNER_READ OWNER_WRITE OWNER_EXECUTE GROUP_READ GROUP_EXECUTE WORLD_READ WORLD_EXECUTE)
endforeach()
