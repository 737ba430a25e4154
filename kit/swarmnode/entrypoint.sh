#!/bin/sh
# Prepare the node's cgroups and firewall, then run the command (dockerd and
# its flags).
#
# The node container has a cgroup namespace of its own, but the host engine
# mounts the cgroup hierarchies read-only into an unprivileged container.
# Mounted afresh inside that namespace, each hierarchy's root is the node's
# own cgroup, read-write, and the node's engine makes its containers'
# cgroups under it. Nothing above the node's cgroup is visible or writable.
set -eu

mount_cgroup_v1() {
    # /proc/self/cgroup lines are ID:CONTROLLERS:PATH; ID 0 is the unified
    # (v2) hierarchy, present beside v1 on hybrid hosts.
    mount -t tmpfs -o mode=755,nosuid,nodev,noexec cgroup /sys/fs/cgroup
    while IFS=: read -r id controllers _path; do
        [ -n "$controllers" ] || continue
        dir=${controllers#name=}
        mkdir -p "/sys/fs/cgroup/$dir"
        case "$controllers" in
            name=*) mount -t cgroup -o "none,$controllers" cgroup "/sys/fs/cgroup/$dir" ;;
            *) mount -t cgroup -o "$controllers" cgroup "/sys/fs/cgroup/$dir" ;;
        esac
        # Co-mounted controllers ("cpu,cpuacct") are found by each name.
        case "$dir" in
            *,*)
                for one in $(echo "$dir" | tr , ' '); do
                    [ -e "/sys/fs/cgroup/$one" ] || ln -s "$dir" "/sys/fs/cgroup/$one"
                done
                ;;
        esac
    done </proc/self/cgroup
    if grep -q '^0::' /proc/self/cgroup; then
        mkdir -p /sys/fs/cgroup/unified
        mount -t cgroup2 -o nosuid,nodev,noexec cgroup2 /sys/fs/cgroup/unified
    fi
}

mount_cgroup_v2() {
    # The engine makes its cgroups beside the node's own processes only if
    # those sit in a leaf: move them to /init, then hand the controllers down.
    mount -o remount,rw /sys/fs/cgroup 2>/dev/null || true
    mkdir -p /sys/fs/cgroup/init
    xargs -rn1 </sys/fs/cgroup/cgroup.procs >/sys/fs/cgroup/init/cgroup.procs 2>/dev/null || true
    sed -e 's/ / +/g' -e 's/^/+/' </sys/fs/cgroup/cgroup.controllers \
        >/sys/fs/cgroup/cgroup.subtree_control
}

# The node's containers (swarm tasks) reach nothing beyond their node: no new
# connection out of the node's network interface (to the other nodes' engine
# and swarm ports, the registry, the host) and none to the node itself.
# Answers on connections made to them (published ports) pass, and task-to-
# task traffic on overlay networks is the node's own (VXLAN), not theirs.
# The engine keeps an existing DOCKER-USER chain and jumps to it first.
rule() {
    iptables -C "$@" 2>/dev/null || iptables -A "$@"
}

confine_containers() {
    iptables -N DOCKER-USER 2>/dev/null || true
    rule DOCKER-USER -m conntrack --ctstate RELATED,ESTABLISHED -j RETURN
    rule DOCKER-USER -o eth0 -j DROP
    for bridge in docker0 docker_gwbridge br-+; do
        rule INPUT -i "$bridge" -m conntrack ! --ctstate RELATED,ESTABLISHED -j DROP
    done
}

if [ -f /sys/fs/cgroup/cgroup.controllers ]; then
    mount_cgroup_v2
else
    mount_cgroup_v1
fi
confine_containers

exec "$@"
