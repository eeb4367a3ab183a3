# SPDX-License-Identifier: MIT
# The control segment module: the wire format and the one place that creates,
# maps and validates a topology's control segment (src/control.c) and each
# kernel's journal (src/journal.c: checkpoint and lineage), finds
# running topologies (src/discover.c) and reads /proc/PID/stat (src/proc.c).
# Its headers live in private/, never installed: what a target may include
# from libshmring beyond the public API is exactly that folder, reached by
# linking shmring_control, not by naming libshmring/src.

# The library's own sources use it too: kernels attach through control.c,
# ring owners are named through proc.c.
target_sources(shmring_objs PRIVATE
  ${CMAKE_CURRENT_SOURCE_DIR}/src/control.c
  ${CMAKE_CURRENT_SOURCE_DIR}/src/journal.c
  ${CMAKE_CURRENT_SOURCE_DIR}/src/proc.c)
target_include_directories(shmring_objs PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/private)

# For the supervisor, shmring-stat and the tests: a static, position-
# independent archive with default visibility, so its functions are
# reachable (libshmring's copies are hidden inside the shared library).
add_library(shmring_control STATIC src/control.c src/discover.c src/journal.c src/proc.c)
set_target_properties(shmring_control PROPERTIES POSITION_INDEPENDENT_CODE ON)
target_include_directories(shmring_control
  PUBLIC ${CMAKE_CURRENT_SOURCE_DIR}/private
  PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/include)
