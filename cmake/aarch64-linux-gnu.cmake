# Cross build for arm64 boards (Raspberry Pi 3/4/5 with a 64-bit OS): Debian's
# crossbuild-essential-arm64 compilers against the arm64 sysroot that
# deploy/scripts/arm64-sysroot.sh makes (no arm64 packages on the build host).
#   cmake -S . -B build-arm64 -G Ninja -DCMAKE_TOOLCHAIN_FILE=cmake/aarch64-linux-gnu.cmake \
#         -DEW_BUILD_TESTS=ON -DEW_BUILD_BENCH=OFF    (deploy/scripts/cross-build-arm64.sh does this; it
#         builds the agent and agent_gpiod_chip_test, which needs the sysroot's gtest)
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(EW_ARM64_SYSROOT "$ENV{EW_ARM64_SYSROOT}" CACHE PATH "arm64 sysroot (deploy/scripts/arm64-sysroot.sh)")
if(NOT EW_ARM64_SYSROOT)
  get_filename_component(EW_ARM64_SYSROOT "${CMAKE_CURRENT_LIST_DIR}/../build-arm64-sysroot" ABSOLUTE)
  set(EW_ARM64_SYSROOT "${EW_ARM64_SYSROOT}" CACHE PATH "arm64 sysroot (deploy/scripts/arm64-sysroot.sh)" FORCE)
endif()
if(NOT EXISTS "${EW_ARM64_SYSROOT}/usr/include/aarch64-linux-gnu")
  message(FATAL_ERROR "no arm64 sysroot at ${EW_ARM64_SYSROOT}: run deploy/scripts/arm64-sysroot.sh")
endif()
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)
set(CMAKE_SYSROOT ${EW_ARM64_SYSROOT})
set(CMAKE_LIBRARY_ARCHITECTURE aarch64-linux-gnu)
# Headers and libraries from the sysroot only; programs (protoc, pkg-config) from the host.
set(CMAKE_FIND_ROOT_PATH ${EW_ARM64_SYSROOT})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
# pkg-config reads the sysroot's .pc files and prefixes their paths with it.
set(ENV{PKG_CONFIG_SYSROOT_DIR} ${EW_ARM64_SYSROOT})
set(ENV{PKG_CONFIG_LIBDIR} "${EW_ARM64_SYSROOT}/usr/lib/aarch64-linux-gnu/pkgconfig:${EW_ARM64_SYSROOT}/usr/share/pkgconfig")
set(ENV{PKG_CONFIG_PATH} "")
# Run arm64 programs made during the build (none today) and tests under qemu-user.
find_program(EW_QEMU_AARCH64 NAMES qemu-aarch64 qemu-aarch64-static)
if(EW_QEMU_AARCH64)
  set(CMAKE_CROSSCOMPILING_EMULATOR ${EW_QEMU_AARCH64} -L ${EW_ARM64_SYSROOT})
endif()
# dpkg-shlibdeps (CPack DEB) resolves the agent's libraries in the sysroot.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS_PRIVATE_DIRS "${EW_ARM64_SYSROOT}/usr/lib/aarch64-linux-gnu")
