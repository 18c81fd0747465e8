#!/bin/sh
# Runs every fuzz target of the module for FUZZTIME each (default 20s).
# A crasher is written by go test under the package's testdata/fuzz/ and
# fails the run: commit it, it becomes a regression test of `make test`.
set -eu
cd "$(dirname "$0")/.."
FUZZTIME="${FUZZTIME:-20s}"
GO="${GO:-go}"
failed=0
for file in $(grep -rl --include='*_test.go' '^func Fuzz' .); do
	pkg="./$(dirname "${file#./}")"
	for name in $(sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*/\1/p' "$file"); do
		echo "== $pkg $name ($FUZZTIME)"
		if ! "$GO" test -run '^$' -fuzz "^$name\$" -fuzztime "$FUZZTIME" "$pkg"; then
			failed=1
		fi
	done
done
exit $failed
