# The version and commit the binary reports (--version, the first log line, the User-Agent sent to
# Discord, gateway_queue_build_info), read from git when the tree is configured:
#   GQ_VERSION_STRING  `git describe --tags --match 'v[0-9]*'` without its `v` on a tagged history
#                      (`0.2.0` on the tag, `0.2.0-3-g1a2b3c4` three commits after it); on a history
#                      without release tags, PROJECT_VERSION followed by `-g<short commit>`;
#   GQ_COMMIT_STRING   the full commit hash.
# A source tree without git (a release tarball, a container build context without .git) reports
# PROJECT_VERSION and the commit `unknown`, unless the builder names them: -DGQ_BUILD_VERSION=...
# -DGQ_BUILD_COMMIT=... (the Dockerfile passes its GQ_COMMIT build argument this way).
# The values land in one generated source file, so a new commit recompiles one file, not all.
set(GQ_BUILD_VERSION "" CACHE STRING "Version to report instead of the one read from git")
set(GQ_BUILD_COMMIT "" CACHE STRING "Commit to report instead of the one read from git")

set(GQ_VERSION_STRING "${PROJECT_VERSION}")
set(GQ_COMMIT_STRING "unknown")
find_package(Git QUIET)
if(GIT_FOUND AND EXISTS "${PROJECT_SOURCE_DIR}/.git")
  execute_process(COMMAND "${GIT_EXECUTABLE}" rev-parse HEAD
                  WORKING_DIRECTORY "${PROJECT_SOURCE_DIR}" OUTPUT_VARIABLE commit
                  RESULT_VARIABLE commit_failed OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
  if(NOT commit_failed)
    set(GQ_COMMIT_STRING "${commit}")
    execute_process(COMMAND "${GIT_EXECUTABLE}" describe --tags --match "v[0-9]*"
                    WORKING_DIRECTORY "${PROJECT_SOURCE_DIR}" OUTPUT_VARIABLE described
                    RESULT_VARIABLE describe_failed OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
    if(NOT describe_failed)
      string(REGEX REPLACE "^v" "" GQ_VERSION_STRING "${described}")
    else()
      string(SUBSTRING "${commit}" 0 7 short_commit)
      set(GQ_VERSION_STRING "${PROJECT_VERSION}-g${short_commit}")
    endif()
    # Configure again when HEAD moves (a commit, a checkout, a new tag), so an incremental build
    # never reports the commit before.
    execute_process(COMMAND "${GIT_EXECUTABLE}" rev-parse --absolute-git-dir
                    WORKING_DIRECTORY "${PROJECT_SOURCE_DIR}" OUTPUT_VARIABLE git_dir
                    OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
    foreach(ref HEAD packed-refs)
      if(EXISTS "${git_dir}/${ref}")
        set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS "${git_dir}/${ref}")
      endif()
    endforeach()
    file(READ "${git_dir}/HEAD" head)
    if(head MATCHES "^ref: ([^\n]+)" AND EXISTS "${git_dir}/${CMAKE_MATCH_1}")
      set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS "${git_dir}/${CMAKE_MATCH_1}")
    endif()
  endif()
endif()
if(GQ_BUILD_VERSION)
  set(GQ_VERSION_STRING "${GQ_BUILD_VERSION}")
endif()
if(GQ_BUILD_COMMIT)
  set(GQ_COMMIT_STRING "${GQ_BUILD_COMMIT}")
endif()
if(NOT GQ_VERSION_STRING MATCHES "^[0-9A-Za-z.+~-]+$" OR NOT GQ_COMMIT_STRING MATCHES "^[0-9A-Za-z.+~-]+$")
  message(FATAL_ERROR "version \"${GQ_VERSION_STRING}\" or commit \"${GQ_COMMIT_STRING}\" has "
                      "characters other than letters, digits and . + ~ -")
endif()
message(STATUS "gateway-queue ${GQ_VERSION_STRING}, commit ${GQ_COMMIT_STRING}")

# The Debian package's upstream version (cmake/packaging.cmake), ordered the way apt compares:
# a build after a tag sorts after that release (`0.2.0-3-g1a2b3c4` -> `0.2.0+3.g1a2b3c4`), a build
# on a history without tags before its version's release (`0.1.0-g1a2b3c4` -> `0.1.0~g1a2b3c4`).
if(NOT DEFINED GQ_PACKAGE_VERSION)
  set(GQ_PACKAGE_VERSION "${GQ_VERSION_STRING}")
  if(GQ_VERSION_STRING MATCHES "^(.+)-([0-9]+)-(g[0-9a-f]+)$")
    set(GQ_PACKAGE_VERSION "${CMAKE_MATCH_1}+${CMAKE_MATCH_2}.${CMAKE_MATCH_3}")
  elseif(GQ_VERSION_STRING MATCHES "^(.+)-(g[0-9a-f]+)$")
    set(GQ_PACKAGE_VERSION "${CMAKE_MATCH_1}~${CMAKE_MATCH_2}")
  endif()
endif()

add_library(gq_version STATIC "${CMAKE_CURRENT_BINARY_DIR}/generated/version.cpp")
configure_file("${PROJECT_SOURCE_DIR}/src/core/version.cpp.in"
               "${CMAKE_CURRENT_BINARY_DIR}/generated/version.cpp" @ONLY)
target_include_directories(gq_version PUBLIC "${PROJECT_SOURCE_DIR}")
