# shellcheck shell=bash
# lib.sh: the harness every test script under tests/cli sources, so that
# each one holds only its checks. Source it after `set -u` and reading the
# arguments:
#
#   . "$(dirname "$0")/lib.sh"
#
# What it sets up:
#   $dir        a fresh folder for the test's files; at exit every process
#               whose command line names it is killed (SIGKILL) and it is
#               removed. Set dir_template before sourcing for another place
#               (io-kernels wants a disk, for O_DIRECT).
#   at_exit     a function the script may define: run at exit, before $dir
#               is removed (to remove what the test made elsewhere).
#   $fails, $passes        what ok and fail counted.
#   $show_on_fail          the files in $dir that fail prints, and ok scans
#               for sanitizer reports (default: out).
#   ASAN_OPTIONS           detect_leaks=1 added, so that in an
#               AddressSanitizer build a leak on an error path is a report
#               whatever the caller's options say (other builds ignore it).
#
# Then, for the checks:
#   ok NAME / fail NAME     one line each; ok turns into a failure when a
#                           sanitizer report is in the files it scans
#   wait_for TEXT FILE SECONDS    until TEXT (fixed) is in FILE
#   gone PID...             every PID has exited (zombies count) within 5 s
#   kids PID                the children of PID (a supervisor's kernels)
#   shm_left                what is in /dev/shm now that was not at the start
#   skip_all REASON         exit 77 (skipped), unless a check has failed
#   finish                  "N passed, M failed"; exit 0 only with no failure

fails=0
passes=0
show_on_fail=${show_on_fail:-out}
dir=$(mktemp -d ${dir_template:+"$dir_template"}) || { echo "FAIL cannot make a temporary folder"; exit 1; }
shm_before=$(ls /dev/shm | sort)
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=1"

lib_cleanup() {
  if declare -F at_exit > /dev/null; then at_exit; fi
  # Background supervisors run without `timeout` (so $! is the supervisor):
  # this kills whatever a failed check left, ctest's TIMEOUT bounds the whole.
  pkill -9 -f "$dir" 2>/dev/null
  rm -rf "$dir"
}
trap lib_cleanup EXIT

# FILE: the first and last 30 lines, indented (a failure's context).
lib_show() {
  awk -v n="$(wc -l < "$1")" 'NR <= 30 || NR > n - 30 { print "  " $0; next }
                              NR == 31 { print "  ... (" n - 60 " lines)" }' "$1"
}

ok() {
  local f
  for f in $show_on_fail; do
    if grep -qE 'Sanitizer|runtime error:' "$dir/$f" 2>/dev/null; then
      fail "$1: sanitizer report in $f"; return
    fi
  done
  echo "ok   $1"; passes=$((passes + 1))
}

fail() {
  local f
  echo "FAIL $1"
  for f in $show_on_fail; do
    [ -s "$dir/$f" ] || continue
    [ "$show_on_fail" = "$f" ] || echo "  $f:"
    lib_show "$dir/$f"
  done
  fails=$((fails + 1))
}

wait_for() {
  local _
  for _ in $(seq $(( $3 * 20 ))); do grep -qF -- "$1" "$2" 2>/dev/null && return 0; sleep 0.05; done
  return 1
}

gone() {
  local _ p st alive
  for _ in $(seq 100); do
    alive=0
    for p in "$@"; do
      st=$(awk '{print $3}' "/proc/$p/stat" 2>/dev/null) && [ "$st" != Z ] && alive=1
    done
    [ $alive = 0 ] && return 0; sleep 0.05
  done
  return 1
}

kids() { pgrep -P "$1" | tr '\n' ' '; }

# New entries only: other tests may make and remove their own meanwhile.
# Segments of this project (every name it puts in /dev/shm starts with
# "shmring") that appeared since the test began; other programs' (a
# benchmark's iceoryx, say) are not ours to count.
shm_left() { ls /dev/shm | grep '^shmring' | sort | comm -13 <(echo "$shm_before") -; }

skip_all() {
  [ "$fails" = 0 ] || finish
  echo "SKIP: $1"
  exit 77
}

finish() {
  echo "$passes passed, $fails failed"
  [ "$fails" = 0 ] && exit 0
  exit 1
}
