#!/usr/bin/env bash
# check-skips.sh EXPECTED CTEST_OUTPUT LAST_TEST_LOG: lists every test ctest reported as skipped
# with its reason, and exits 1 when one of them is not in EXPECTED (tests/expected_skips.txt).
set -euo pipefail
expected=$1 output=$2 log=$3
mapfile -t patterns < <(sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$expected" | awk '{print $1}')
mapfile -t skipped < <(grep -F '***Skipped' "$output" | sed -E 's/.*Test +#[0-9]+: ([^ ]+) .*/\1/' | sort -u)
[ ${#skipped[@]} -eq 0 ] && { echo "check-skips: no test skipped"; exit 0; }
unexpected=0
echo "check-skips: ${#skipped[@]} skipped test(s):"
for name in "${skipped[@]}"; do
  # The reason: GoogleTest prints "Skipped" then the message; unittest "skipped '<reason>'".
  reason=$(awk -v name="$name" '
    # "N/M Testing: NAME", perhaps followed by "  # GetParam() = ..." for parameterized tests.
    { key = " Testing: " name; p = index($0, key); after = substr($0, p + length(key), 1) }
    p && (after == "" || after == " ") {on=1; next}
    on && /^<end of output>/ {exit}
    on && /: Skipped$/ {getline nxt; print nxt; exit}
    on && /skipped '"'"'/ {print; exit}' "$log" 2>/dev/null | head -c 300)
  ok=0
  for p in "${patterns[@]}"; do
    if [[ $name =~ ^($p)$ ]]; then ok=1; break; fi
  done
  if [ $ok -eq 1 ]; then
    echo "  skipped (expected): $name: ${reason:-see LastTest.log}"
  else
    echo "  SKIPPED UNEXPECTEDLY: $name: ${reason:-see LastTest.log}"
    unexpected=1
  fi
done
if [ $unexpected -ne 0 ]; then
  echo "check-skips: a test that must run here was skipped (add it to $expected only if it truly cannot run on CI)"
  exit 1
fi
