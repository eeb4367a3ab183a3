#!/usr/bin/env bash
# The doubler across two hosts, on one machine (docs/hosts.md). Run as root
# from the build tree:
#
#   sudo examples/hosts/walkthrough.sh build
#
# It makes two network namespaces, "host" a (10.77.0.1) and b (10.77.0.2),
# joined by a veth pair, runs one supervisor in each on doubler2.yaml
# (`shmring-supervisor run doubler2.yaml --host a`, `--host b`), waits for
# both to finish, and removes the namespaces again (also on Ctrl-C). While
# it runs, `shmring-stat` in another shell shows doubler2-a and doubler2-b,
# each with its bridge kernel.
#
#   walkthrough.sh BUILD_DIR [up | down]
#     up    only make the namespaces (then run the supervisors by hand with
#           ip netns exec shmring-a ...), down only remove them
set -eu
build=$(realpath "${1:?usage: walkthrough.sh BUILD_DIR [up | down]}")
what=${2:-all}
here=$(dirname "$(realpath "$0")")
ns_a=shmring-a ns_b=shmring-b

down() {
  # Deleting a namespace deletes the veth end in it, and so its peer.
  ip netns del "$ns_a" 2>/dev/null || true
  ip netns del "$ns_b" 2>/dev/null || true
}

up() {
  if ! ip netns add "$ns_a"; then
    echo "walkthrough: cannot make network namespaces: run as root" >&2
    exit 1
  fi
  ip netns add "$ns_b"
  ip link add veth-a netns "$ns_a" type veth peer name veth-b netns "$ns_b"
  ip -n "$ns_a" addr add 10.77.0.1/24 dev veth-a
  ip -n "$ns_b" addr add 10.77.0.2/24 dev veth-b
  for n in "$ns_a" "$ns_b"; do ip -n "$n" link set lo up; done
  ip -n "$ns_a" link set veth-a up
  ip -n "$ns_b" link set veth-b up
  echo "host a: namespace $ns_a, 10.77.0.1; host b: namespace $ns_b, 10.77.0.2"
}

case $what in
  up) up; exit 0 ;;
  down) down; exit 0 ;;
  all) ;;
  *) echo "usage: walkthrough.sh BUILD_DIR [up | down]" >&2; exit 100 ;;
esac

# The topology's kernels are found beside the file: a copy of it next to
# the doubler's executables in the build tree.
work=$build/examples/doubler
cp "$here/doubler2.yaml" "$work/doubler2.yaml"
sup=$build/supervisor/shmring-supervisor
trap down EXIT
up
# b first or a first: either waits for the other.
ip netns exec "$ns_b" "$sup" run "$work/doubler2.yaml" --host b &
pid_b=$!
ip netns exec "$ns_a" "$sup" run "$work/doubler2.yaml" --host a &
pid_a=$!
rc=0
wait $pid_a || rc=$?
wait $pid_b || rc=$?
echo "walkthrough: both hosts finished (exit $rc)"
exit $rc
