#!/bin/sh
# SPDX-License-Identifier: MIT
#
# Compile every C block of the documentation, so that no example in the docs
# rots: each ```c fenced block of README.md, docs/*.md and examples/README.md
# is a whole translation unit and must compile, warning-free (-Wall -Wextra
# -Werror), as strict C11 (-std=c11, the project's standard: a block that
# needs POSIX or GNU extensions says so with its own #define), against the
# public headers of the source tree. Syntax and types only: nothing is linked
# or run.
#
#   compile-blocks.sh CC SOURCE_DIR [FILE.md...]
#
# A block that is deliberately not a whole program (a sketch with "...", a
# few lines out of a function) is marked, and then only counted:
#
#   ```c fragment          (an info string with the word "fragment"), or
#   <!-- fragment -->      (on the line just before the fence)
#
# Other languages (```sh, ```cuda for nvcc code, ```yaml, ...) are not looked
# at.
# A block that fails is reported as FILE:LINE (the line of its fence) with the
# compiler's messages, which name the lines of the .md file itself (#line).
# Exit status: 0 all compiled; 1 a block failed, or no C block was found at
# all (the extraction itself broke); 2 usage.
set -u
if [ $# -lt 2 ]; then
	echo "usage: $0 CC SOURCE_DIR [FILE.md...]" >&2
	exit 2
fi
cc=$1
src=$2
shift 2
cd "$src" || exit 2
[ $# -gt 0 ] || set -- README.md docs/*.md examples/README.md
tmp=$(mktemp -d "${TMPDIR:-/tmp}/shmring-doc-blocks.XXXXXX") || exit 2
trap 'rm -rf "$tmp"' EXIT INT TERM

# One file per C block, starting with #line so that diagnostics point into the
# .md file; one line per block in $tmp/list: "N FILE LINE compile|fragment".
# Fences as CommonMark has them: ``` or ~~~ (3 or more), indented at most 3
# spaces (more inside list items: the fence's indent is stripped from its
# lines), closed by the same character at least as many times.
if ! awk -v out="$tmp" '
function flush_prev(line) { if (line !~ /^[ \t]*$/) prev = line }
FNR == 1 {
	if (in_block)
		unclosed = unclosed sprintf("%s:%d: unclosed code block\n", file, start)
	in_block = 0; prev = ""; file = FILENAME
}
{
	line = $0
	if (!in_block) {
		if (match(line, /^ *(```+|~~~+)/)) {
			indent = line; sub(/[`~].*$/, "", indent)
			fence = substr(line, length(indent) + 1)
			ch = substr(fence, 1, 1)
			f = fence; sub("[^" ch "].*$", "", f)
			info = substr(fence, length(f) + 1)
			gsub(/^[ \t]+|[ \t]+$/, "", info)
			lang = tolower(info); sub(/[ \t,{].*$/, "", lang)
			in_block = 1; start = FNR; flen = length(f); ind = length(indent)
			is_c = (lang == "c")
			if (is_c) {
				n++
				kind = (info ~ /(^|[ \t,])fragment([ \t,]|$)/ ||
					prev ~ /<!--[ \t]*fragment[ \t]*-->/) ? "fragment" : "compile"
				cfile = out "/block" n ".c"
				printf "#line %d \"%s\"\n", FNR + 1, file > cfile
				printf "%d %s %d %s\n", n, file, FNR, kind > (out "/list")
			}
			next
		}
		flush_prev(line)
		next
	}
	# in a block: the closing fence?
	t = line
	if (match(t, /^ *[`~]+[ \t]*$/)) {
		lead = t; sub(/[`~].*$/, "", lead)
		c = t; gsub(/[^`~]/, "", c)
		other = ch == "`" ? "~" : "`"
		if (length(lead) <= 3 + ind && substr(c, 1, 1) == ch && index(c, other) == 0 &&
		    length(c) >= flen) {
			if (is_c)
				close(cfile)
			in_block = 0; prev = ""
			next
		}
	}
	if (is_c) {
		for (k = 0; k < ind && substr(line, 1, 1) == " "; k++)
			line = substr(line, 2)
		print line > cfile
	}
}
END {
	if (in_block)
		unclosed = unclosed sprintf("%s:%d: unclosed code block\n", file, start)
	if (unclosed != "") {
		printf "%s", unclosed > "/dev/stderr"
		exit 1
	}
}' "$@"; then
	echo "FAIL: could not read the code blocks of: $*" >&2
	exit 1
fi

if [ ! -s "$tmp/list" ]; then
	echo "FAIL: no C block found in $*: is the extraction broken?" >&2
	exit 1
fi

cflags="-std=c11 -fsyntax-only -Wall -Wextra -Werror -I$src/libshmring/include"
compiled=0 fragments=0 failed=0 failures=
while read -r n file line kind; do
	if [ "$kind" = fragment ]; then
		fragments=$((fragments + 1))
		echo "skip $file:$line (marked fragment)"
		continue
	fi
	# shellcheck disable=SC2086 # cflags is a list of words
	if $cc $cflags -x c "$tmp/block$n.c" >"$tmp/out$n" 2>&1; then
		compiled=$((compiled + 1))
		echo "ok   $file:$line"
	else
		failed=$((failed + 1))
		failures="$failures $file:$line"
		echo "FAIL $file:$line: this C block does not compile (mark it \`\`\`c fragment if it is not meant to):"
		sed 's/^/     /' "$tmp/out$n"
	fi
done <"$tmp/list"

echo "$compiled C blocks compiled, $fragments fragments skipped, $failed failed"
if [ "$failed" -gt 0 ]; then
	echo "failed:$failures"
	exit 1
fi
exit 0
