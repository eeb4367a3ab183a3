#!/bin/sh
# SPDX-License-Identifier: MIT
#
# Every public function has a man page: each function declared in
# libshmring/include/shmring/*.h (SHMRING_API, and the inline functions of
# agent.h) has docs/man/NAME.3, either the page itself or a one-line
# ".so man3/PAGE.3" to a page that exists; the page lists NAME in its NAME
# section. With groff installed, every page also formats without a warning.
#
#   man-pages.sh SOURCE_DIR
set -u
if [ $# -ne 1 ]; then
	echo "usage: $0 SOURCE_DIR" >&2
	exit 2
fi
cd "$1" || exit 2
man=docs/man
fail=0
tmp=$(mktemp "${TMPDIR:-/tmp}/shmring-man.XXXXXX") || exit 2
trap 'rm -f "$tmp"' EXIT INT TERM

# The names: on the line of SHMRING_API / SMR_AGENT_FN / static inline, the
# identifier before the first '(' (the headers keep it there; a declaration
# this misses would show as a missing count below).
for h in libshmring/include/shmring/*.h; do
	grep -E '^(SHMRING_API|SMR_AGENT_FN|static inline)[^(]*[ *]shmring_[a-z0-9_]+\(' "$h" |
		sed -E 's/^[^(]*[ *](shmring_[a-z0-9_]+)\(.*$/\1/'
done | sort -u >"$tmp"
count=$(wc -l <"$tmp")
if [ "$count" -lt 60 ]; then
	echo "FAIL: only $count public functions found in libshmring/include/shmring/*.h: is the extraction broken?"
	exit 1
fi

# Names listed in the NAME section of a page (before " \- ").
names_of() {
	awk '/^\.SH /{ on = ($2 == "NAME"); next } on' "$1" | tr '\n' ' ' |
		sed -e 's/\\-.*$//' | tr -s ', ' '\n' | grep -v '^$'
}

while read -r fn; do
	page=$man/$fn.3
	if [ ! -f "$page" ]; then
		echo "FAIL: $fn has no man page: write $page (or a \".so man3/PAGE.3\" line to the page that documents it)"
		fail=1
		continue
	fi
	target=$page
	first=$(head -n 1 "$page")
	case $first in
	.so\ man3/*)
		target=$man/${first#.so man3/}
		if [ ! -f "$target" ]; then
			echo "FAIL: $page points to ${first#.so }, which does not exist"
			fail=1
			continue
		fi ;;
	esac
	if ! names_of "$target" | grep -qx "$fn"; then
		echo "FAIL: $target does not list $fn in its NAME section"
		fail=1
	fi
done <"$tmp"

# Every .so link, used or not, points to a page that exists.
for page in "$man"/*.3; do
	first=$(head -n 1 "$page")
	case $first in
	.so\ man3/*)
		[ -f "$man/${first#.so man3/}" ] ||
			{ echo "FAIL: $page points to ${first#.so }, which does not exist"; fail=1; } ;;
	esac
done

# Every command installed from supervisor/ and tools/ has its page in
# section 1, installed beside it.
for cm in supervisor/CMakeLists.txt tools/CMakeLists.txt; do
	for cmd in $(sed -n 's/^add_executable(\(shmring-[a-z-]*\) .*/\1/p' "$cm"); do
		if [ ! -f "$man/$cmd.1" ]; then
			echo "FAIL: the command $cmd has no man page: write $man/$cmd.1"
			fail=1
		elif ! grep -q "docs/man/$cmd.1" "$cm"; then
			echo "FAIL: $cm does not install $man/$cmd.1"
			fail=1
		fi
	done
done

if command -v groff >/dev/null 2>&1; then
	for page in "$man"/*.[137]; do
		[ -f "$page" ] || continue
		case $(head -n 1 "$page") in .so\ *) continue ;; esac
		out=$(groff -man -ww -z "$page" 2>&1)
		if [ -n "$out" ]; then
			echo "FAIL: $page: groff warns:"
			echo "$out" | sed 's/^/     /'
			fail=1
		fi
	done
else
	echo "(groff not installed: the pages' formatting is not checked)"
fi

[ "$fail" -eq 0 ] && echo "ok: $count public functions, each with a man page"
exit "$fail"
