# TRACE_ROOT_STATIC_DEPS (an option in CMakeLists.txt): link libarchive,
# libcrypto, libbpf, libelf and zlib from their static archives instead of as
# shared libraries.
#
# Why: trace-root's process start-up is paid on every `trace-root -- CMD`, and
# on short workloads (a ~220 ms Python import) the tracer's overhead is mostly
# such fixed costs. Linked shared, the executable had the dynamic loader map
# and relocate 20 libraries before main(): `trace-root --help` took ~8 ms and
# 426 page faults, against ~1 ms for /bin/true. With an empty main(),
# libbpf+libelf+libz cost ~1.4 ms, libcrypto ~2.1 ms and libarchive ~2.2 ms,
# most of the last for what libarchive.so itself loads (libxml2 and ICU for
# xar, nettle, acl, lz4, lzma, bz2), none of which trace-root uses. A static
# archive contributes only the members the code references, so those
# libraries are not linked at all (src/image/unpack.cpp names the few
# decompressors it reads with for the same reason). Static, the executable
# loads only libstdc++, libgcc_s, libm and libc, and `trace-root --help` takes
# ~3.5 ms and ~280 page faults.
#
# How: the imported targets the project links already (PkgConfig::ZLIB,
# PkgConfig::LIBELF, PkgConfig::LIBBPF, PkgConfig::LIBARCHIVE, OpenSSL::Crypto)
# are pointed at the .a files, so every target that links them (the BPF
# skeleton, the stage libraries, the tests) links the same way. Each archive is
# first tried in a test link; when it is missing or does not link, that library
# stays shared and configure says so, naming the Debian package.
#
# The fuzz build (TRACE_ROOT_FUZZ) stays shared: fuzz_tar reads every
# compression libarchive has, which would need every compressor's static
# library, and start-up time does not matter there.
include(CheckCSourceCompiles)

# trace_root_link_static(TARGET NAME PACKAGE SYMBOLS sym... [DEPS dep...]
#                        [LINK_OPTIONS opt...])
# Points the imported TARGET at lib<NAME>.a, followed by DEPS (what the archive
# itself needs), if the archive exists and a program referencing SYMBOLS links
# against it with LINK_OPTIONS. PACKAGE is the Debian package shipping it.
function(trace_root_link_static target name package)
  cmake_parse_arguments(PARSE_ARGV 3 arg "" "" "SYMBOLS;DEPS;LINK_OPTIONS")
  find_library(TRACE_ROOT_${name}_ARCHIVE NAMES lib${name}.a
    DOC "lib${name}.a for TRACE_ROOT_STATIC_DEPS")
  set(archive ${TRACE_ROOT_${name}_ARCHIVE})
  if(NOT archive)
    message(WARNING "trace-root: lib${name}.a not found (Debian package ${package}): "
      "linking lib${name} shared, which costs start-up time (see cmake/StaticDeps.cmake)")
    return()
  endif()
  # The archive as a target of its own, so that CMake knows its DEPS come
  # after it on the link line (libelf.a before libz.a, whichever target links
  # zlib first).
  set(static trace_root_static::${name})
  if(NOT TARGET ${static})
    add_library(${static} STATIC IMPORTED)
  endif()
  set_target_properties(${static} PROPERTIES IMPORTED_LOCATION ${archive}
    INTERFACE_LINK_LIBRARIES "${arg_DEPS}" INTERFACE_LINK_OPTIONS "${arg_LINK_OPTIONS}")
  # The test link. It runs again on every configure, so a fix (a package
  # installed, a library updated) is seen without clearing the cache.
  set(decls "")
  set(refs "")
  foreach(s IN LISTS arg_SYMBOLS)
    string(APPEND decls "extern char ${s}(void);\n")
    string(APPEND refs "(void*)${s}, ")
  endforeach()
  set(CMAKE_REQUIRED_LIBRARIES ${static})
  set(CMAKE_REQUIRED_QUIET ON)
  unset(TRACE_ROOT_${name}_ARCHIVE_LINKS CACHE)
  check_c_source_compiles(
    "${decls}void* volatile refs[] = {${refs}};\nint main(void) { return refs[0] == 0; }"
    TRACE_ROOT_${name}_ARCHIVE_LINKS)
  if(NOT TRACE_ROOT_${name}_ARCHIVE_LINKS)
    message(WARNING "trace-root: ${archive} does not link (see CMakeFiles/CMakeError.log): "
      "linking lib${name} shared, which costs start-up time (see cmake/StaticDeps.cmake)")
    return()
  endif()
  get_target_property(type ${target} TYPE)
  if(type STREQUAL "INTERFACE_LIBRARY")  # pkg-config's targets
    set_property(TARGET ${target} PROPERTY INTERFACE_LINK_LIBRARIES ${static})
  else()  # FindOpenSSL's UNKNOWN IMPORTED target, which names its file itself
    set_target_properties(${target} PROPERTIES IMPORTED_LOCATION ${archive}
      INTERFACE_LINK_LIBRARIES "${arg_DEPS}" INTERFACE_LINK_OPTIONS "${arg_LINK_OPTIONS}")
  endif()
  message(STATUS "trace-root: linking lib${name} statically: ${archive}")
endfunction()

if(TRACE_ROOT_STATIC_DEPS AND TRACE_ROOT_FUZZ)
  message(STATUS "trace-root: TRACE_ROOT_FUZZ: linking the dependencies shared "
    "(fuzz_tar reads every compression libarchive has)")
elseif(TRACE_ROOT_STATIC_DEPS)
  trace_root_link_static(PkgConfig::ZLIB z zlib1g-dev SYMBOLS inflate deflate crc32)
  trace_root_link_static(PkgConfig::LIBELF elf libelf-dev
    SYMBOLS elf_begin elf_getdata elf_compress DEPS PkgConfig::ZLIB)
  trace_root_link_static(PkgConfig::LIBBPF bpf libbpf-dev
    SYMBOLS bpf_object__open_skeleton bpf_object__load_skeleton ring_buffer__new btf__parse
    DEPS PkgConfig::LIBELF PkgConfig::ZLIB)
  trace_root_link_static(OpenSSL::Crypto crypto libssl-dev
    SYMBOLS EVP_MD_CTX_new EVP_DigestInit_ex EVP_sha256 DEPS ${CMAKE_DL_LIBS} Threads::Threads)
  # libarchive's zstd filters need libzstd, its xz and lzma ones liblzma, its
  # bzip2 one libbz2, its gzip ones zlib. The other compressors are not
  # referenced (see src/image/unpack.cpp).
  #
  # --gc-sections: libarchive 3.6's pax writer calls a helper that lives in
  # archive_write_set_format.o beside the table of every write format, so
  # that object drags in every writer, xar's with its libxml2 calls, zip's and
  # mtree's with nettle, 7zip's with liblzma and libbz2. Debian compiles
  # libarchive with a section per function, and dropping the unreferenced ones
  # drops those writers and their calls too.
  find_library(TRACE_ROOT_zstd_ARCHIVE NAMES libzstd.a DOC "libzstd.a for TRACE_ROOT_STATIC_DEPS")
  find_library(TRACE_ROOT_lzma_ARCHIVE NAMES liblzma.a DOC "liblzma.a for TRACE_ROOT_STATIC_DEPS")
  find_library(TRACE_ROOT_bz2_ARCHIVE NAMES libbz2.a DOC "libbz2.a for TRACE_ROOT_STATIC_DEPS")
  if(TRACE_ROOT_zstd_ARCHIVE AND TRACE_ROOT_lzma_ARCHIVE AND TRACE_ROOT_bz2_ARCHIVE)
    trace_root_link_static(PkgConfig::LIBARCHIVE archive libarchive-dev
      SYMBOLS archive_read_new archive_read_support_filter_gzip
        archive_read_support_filter_zstd archive_read_support_filter_xz
        archive_read_support_filter_lzma archive_read_support_filter_bzip2
        archive_read_support_format_tar
        archive_read_open_filename archive_read_open archive_read_next_header
        archive_read_data archive_write_new archive_write_set_format_pax
        archive_write_set_format_pax_restricted archive_write_set_format_raw
        archive_write_add_filter_gzip archive_write_add_filter_zstd archive_write_open
        archive_write_open_fd archive_write_header archive_write_data archive_entry_new
      DEPS ${TRACE_ROOT_zstd_ARCHIVE} ${TRACE_ROOT_lzma_ARCHIVE} ${TRACE_ROOT_bz2_ARCHIVE}
        PkgConfig::ZLIB
      LINK_OPTIONS -Wl,--gc-sections)
  else()
    message(WARNING "trace-root: libzstd.a, liblzma.a or libbz2.a not found (Debian packages "
      "libzstd-dev, liblzma-dev, libbz2-dev), which a static libarchive needs: linking "
      "libarchive shared, which costs start-up time "
      "(see cmake/StaticDeps.cmake)")
  endif()
endif()
