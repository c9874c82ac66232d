# Shared by the QEMU tests (sourced): result counting, waiting, the test's
# network namespace, and cleanup of every process they started (by pid).
# The sourcing script sets $ns and $work before calling netns_up.

pids=()
passed=0; failed=0
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  sleep 0.5
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  ip netns del "$ns" 2>/dev/null || true
  if [ "${KEEP:-}" = 1 ]; then echo "kept $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT
# Killed or interrupted: exit, so the EXIT trap still cleans up.
trap 'exit 130' INT TERM
ok()   { echo "  ok   $*"; passed=$((passed+1)); }
fail() { echo "  FAIL $*"; failed=$((failed+1)); }
check() { local what=$1; shift; if "$@"; then ok "$what"; else fail "$what"; fi; }
# wait_for FILE PATTERN SECONDS
wait_for() {
  local end=$((SECONDS + $3))
  until grep -q -- "$2" "$1" 2>/dev/null; do
    [ $SECONDS -ge $end ] && return 1
    sleep 0.2
  done
}
in_ns() { ip netns exec "$ns" "$@"; }

# netns_up HOST_ADDRESS/24 TAP...: a bridge inside a private namespace, one tap per VM.
netns_up() {
  local host=$1; shift
  ip netns add "$ns"
  in_ns ip link set lo up
  in_ns ip link add br0 type bridge stp_state 0 forward_delay 0
  in_ns ip addr add "$host" dev br0
  in_ns ip link set br0 up
  local t
  for t in "$@"; do
    in_ns ip tuntap add dev "$t" mode tap
    in_ns ip link set "$t" master br0 up
  done
}
