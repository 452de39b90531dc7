# Keeps libtorch from serving the C++ runtime of mpsbatch's processes.
#
# PyPI's libtorch links a private copy of libstdc++ statically and exports it:
# libtorch_cpu.so (and libtorch_cuda.so) define std::filesystem, string
# streams, exception_ptr and many template instantiations with GLIBCXX
# version tags. The dynamic linker resolves every symbol to the first library
# in load order that defines it, and an executable loads its NEEDED entries in
# link order. With libtorch listed first, the process's own code, libstdc++.so
# itself, yaml-cpp, spdlog and every library loaded later (cuDNN's engines,
# an AOTInductor package) run on torch's copy of the runtime, mixing two
# copies of its state.
#
# mpsbatch_runtime_before_torch(target) makes `target` list the C++ runtime
# and the other shared libraries it uses before libtorch, so that libtorch
# serves only torch's own symbols. tests/runtime_bindings.py checks the
# result for every binary with the dynamic linker's own trace.
#
# mpsbatch_check_cxx_abi() gives every target one _GLIBCXX_USE_CXX11_ABI: the
# compiler's, after checking that libtorch was built with the same.

include(CheckCXXSourceCompiles)

# The shared library file of an imported target, or "" if it is none.
function(_mpsbatch_shared_file target out)
  set(file "")
  if(TARGET ${target})
    get_target_property(type ${target} TYPE)
    if(type STREQUAL "SHARED_LIBRARY" OR type STREQUAL "UNKNOWN_LIBRARY")
      get_target_property(file ${target} IMPORTED_LOCATION)
      if(NOT file)
        get_target_property(configs ${target} IMPORTED_CONFIGURATIONS)
        foreach(config IN LISTS configs)
          get_target_property(file ${target} IMPORTED_LOCATION_${config})
          if(file)
            break()
          endif()
        endforeach()
      endif()
    endif()
  endif()
  if(NOT file OR NOT file MATCHES "\\.so(\\.[0-9]+)*$")
    set(file "")
  endif()
  set(${out} "${file}" PARENT_SCOPE)
endfunction()

# The non-torch shared libraries mpsbatch's executables use, in the order they
# should load: the C++ runtime first.
function(_mpsbatch_runtime_libraries out)
  # By path: some CMake releases drop a plain -lstdc++ from link options.
  # The shared runtime is the one the other libraries load: found where the
  # compiler links from, else in the system's folders.
  set(libs)
  foreach(name IN ITEMS stdc++ gcc_s)
    find_library(MPSBATCH_${name}_SHARED NAMES lib${name}.so lib${name}.so.6 lib${name}.so.1
                 HINTS ${CMAKE_CXX_IMPLICIT_LINK_DIRECTORIES})
    if(NOT MPSBATCH_${name}_SHARED)
      message(FATAL_ERROR "mpsbatch: no shared lib${name} found (looked in ${CMAKE_CXX_IMPLICIT_LINK_DIRECTORIES} "
                          "and the system's library folders)")
    endif()
    list(APPEND libs "${MPSBATCH_${name}_SHARED}")
  endforeach()
  foreach(target IN ITEMS ${MPSBATCH_YAML_TARGET} spdlog::spdlog fmt::fmt GTest::gtest)
    _mpsbatch_shared_file(${target} file)
    if(file)
      list(APPEND libs "${file}")
    endif()
  endforeach()
  foreach(file IN LISTS MPI_CXX_LIBRARIES HDF5_C_LIBRARIES)
    if(file MATCHES "^/.*\\.so(\\.[0-9]+)*$")
      list(APPEND libs "${file}")
    endif()
  endforeach()
  list(REMOVE_DUPLICATES libs)
  set(${out} "${libs}" PARENT_SCOPE)
endfunction()

function(mpsbatch_runtime_before_torch target)
  # ELF only: macOS binds each symbol to the library it was linked against.
  if(NOT CMAKE_SYSTEM_NAME STREQUAL "Linux")
    return()
  endif()
  _mpsbatch_runtime_libraries(libs)
  # Link options precede the objects and libraries on the link line, so these
  # become the first NEEDED entries; --no-as-needed keeps each one listed.
  target_link_options(${target} PRIVATE "LINKER:--push-state,--no-as-needed" ${libs} "LINKER:--pop-state")
endfunction()

function(mpsbatch_check_cxx_abi)
  check_cxx_source_compiles("
#include <string>
#if !defined(__GLIBCXX__)
#error not libstdc++
#endif
int main() { return 0; }" MPSBATCH_LIBSTDCXX)
  if(NOT MPSBATCH_LIBSTDCXX)
    return()  # libc++ (macOS): no dual ABI
  endif()
  check_cxx_source_compiles("
#include <string>
#if !_GLIBCXX_USE_CXX11_ABI
#error old ABI
#endif
int main() { return 0; }" MPSBATCH_COMPILER_CXX11_ABI)
  if(MPSBATCH_COMPILER_CXX11_ABI)
    set(abi 1)
  else()
    set(abi 0)
  endif()
  # What libtorch says it was built with, where it says so ...
  if(TORCH_CXX_FLAGS MATCHES "_GLIBCXX_USE_CXX11_ABI=([01])" AND NOT CMAKE_MATCH_1 STREQUAL abi)
    message(FATAL_ERROR "libtorch was built with _GLIBCXX_USE_CXX11_ABI=${CMAKE_MATCH_1}, this compiler "
                        "defaults to ${abi}: use a libtorch built for the compiler's ABI (PyPI's torch >= 2.7 "
                        "uses the new one)")
  endif()
  # ... and what it really exports: a c10 function that takes a std::string
  # links only if both sides mangle std::string alike.
  set(CMAKE_REQUIRED_LIBRARIES c10)
  set(CMAKE_REQUIRED_DEFINITIONS -D_GLIBCXX_USE_CXX11_ABI=${abi})
  check_cxx_source_compiles("
#include <cstdint>
#include <string>
namespace c10::detail {
[[noreturn]] void torchCheckFail(const char*, const char*, std::uint32_t, const std::string&);
}
int main(int argc, char**) {
  if (argc > 99) c10::detail::torchCheckFail(\"\", \"\", 0, std::string());
  return 0;
}" MPSBATCH_TORCH_ABI_MATCHES)
  if(NOT MPSBATCH_TORCH_ABI_MATCHES)
    message(FATAL_ERROR "libtorch's c10 does not link with _GLIBCXX_USE_CXX11_ABI=${abi}, this compiler's "
                        "default: libtorch was built for the other std::string ABI. Use a libtorch built "
                        "for the compiler's ABI (PyPI's torch >= 2.7 uses the new one).")
  endif()
  add_compile_definitions(_GLIBCXX_USE_CXX11_ABI=${abi})
  message(STATUS "mpsbatch: _GLIBCXX_USE_CXX11_ABI=${abi} for every target (libtorch agrees)")
endfunction()
