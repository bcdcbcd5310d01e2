# Cross-compiling for aarch64 Linux with Debian's g++-aarch64-linux-gnu (scripts/arm64_check.sh, make test-arm64).
#
# ctest runs the test executables through CMAKE_CROSSCOMPILING_EMULATOR: qemu-aarch64-static with the cross
# toolchain's own glibc/libstdc++ (/usr/aarch64-linux-gnu) as the loader prefix, so no binfmt_misc
# registration is needed. Y6_ARM64_SYSROOT (environment) points the prefix at another arm64 root (the
# debootstrapped one of scripts/arm64_check.sh) so the same build runs against that root's libraries.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_LIBRARY_ARCHITECTURE aarch64-linux-gnu)

set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)

if(DEFINED ENV{Y6_ARM64_SYSROOT} AND NOT "$ENV{Y6_ARM64_SYSROOT}" STREQUAL "")
  set(_y6_qemu_prefix "$ENV{Y6_ARM64_SYSROOT}")
else()
  set(_y6_qemu_prefix /usr/aarch64-linux-gnu)
endif()
find_program(_y6_qemu NAMES qemu-aarch64-static qemu-aarch64 REQUIRED)
set(CMAKE_CROSSCOMPILING_EMULATOR "${_y6_qemu};-L;${_y6_qemu_prefix}")

# Look for programs on the host, for libraries and headers only in the target's paths.
set(CMAKE_FIND_ROOT_PATH /usr/aarch64-linux-gnu)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
