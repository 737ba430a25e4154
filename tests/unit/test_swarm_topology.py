"""The classroom swarm's layout: names, addresses and node engine flags, from the settings."""

import ipaddress

import pytest

from orchestration import topology
from orchestration.topology import SwarmConfigError


def _build(**overrides):
    args = {"name": "dockerlab-swarm", "subnet": "10.213.0.0/24", "workers": 2,
            "registry_host_port": 5050}
    return topology.build(**{**args, **overrides})


def test_it_lays_out_a_manager_and_two_workers_at_fixed_addresses():
    topo = _build()
    assert [(n.hostname, n.role, n.ip) for n in topo.nodes] == [
        ("manager", "manager", "10.213.0.10"),
        ("worker1", "worker", "10.213.0.11"),
        ("worker2", "worker", "10.213.0.12"),
    ]
    assert topo.manager.container == "dockerlab-swarm-manager"
    assert topo.workers[1].data_volume == "dockerlab-swarm-worker2-data"
    assert topo.workers[1].api_volume == "dockerlab-swarm-worker2-api"
    assert (topo.gateway, topo.registry_ip) == ("10.213.0.1", "10.213.0.2")
    assert topo.registry_address == "10.213.0.2:5000"


def test_the_nodes_network_and_the_registrys_publishing_network_split_the_subnet():
    topo = _build()
    assert topo.subnet == "10.213.0.0/25"
    assert topo.publish_subnet == "10.213.0.240/28"
    assert not ipaddress.ip_network(topo.subnet).overlaps(ipaddress.ip_network(topo.publish_subnet))


def test_bridge_names_fit_linux_and_never_take_the_sandbox_prefix():
    for name in ("dockerlab-swarm", "a", "x" * 40):
        topo = _build(name=name)
        for bridge in (topo.bridge, topo.publish_bridge):
            assert len(bridge) <= 15
            assert not bridge.startswith("dl-")
        assert topo.bridge != topo.publish_bridge
    assert _build(name="one").bridge != _build(name="two").bridge


@pytest.mark.parametrize("name", ["dl-swarm", "Swarm", "-swarm", "swarm_1", "", "x" * 41, "a b"])
def test_it_refuses_a_bad_swarm_name(name):
    with pytest.raises(SwarmConfigError, match="DOCKERLAB_SWARM_NAME"):
        _build(name=name)


@pytest.mark.parametrize(
    "subnet, why",
    [
        ("10.213.0.0/16", "/24"),
        ("10.213.0.1/24", "IPv4 network"),
        ("fd00::/120", "/24"),
        ("nonsense", "IPv4 network"),
        ("172.20.5.0/24", "sandboxes"),
        ("172.17.0.0/24", "own bridges"),
        ("10.214.3.0/24", "overlay"),
    ],
)
def test_it_refuses_a_subnet_that_cannot_work(subnet, why):
    with pytest.raises(SwarmConfigError, match=why):
        _build(subnet=subnet)


def test_the_worker_count_and_registry_port_are_checked():
    assert len(_build(workers=0).nodes) == 1
    with pytest.raises(SwarmConfigError, match="WORKERS"):
        _build(workers=101)
    with pytest.raises(SwarmConfigError, match="REGISTRY_PORT"):
        _build(registry_host_port=70000)


def test_a_node_engine_listens_on_unix_sockets_only_and_trusts_only_the_swarm_registry():
    args = topology.dockerd_args(_build(), socket_gid=1234)
    hosts = [a for a in args if a.startswith("--host")]
    assert hosts == ["--host=unix:///var/run/docker.sock", "--host=unix:///run/dockerlab/docker.sock"]
    assert not [a for a in args if "tcp://" in a]
    assert [a for a in args if a.startswith("--insecure-registry")] == [
        "--insecure-registry=10.213.0.2:5000"
    ]
    assert "--group=1234" in args
    assert "--storage-driver=overlay2" in args


def test_the_nodes_own_bridges_come_from_a_pool_apart_from_the_private_network():
    args = topology.dockerd_args(_build(), socket_gid=0)
    pool = next(a for a in args if a.startswith("--default-address-pool="))
    base = ipaddress.ip_network(pool.split("base=")[1].split(",")[0])
    assert not base.overlaps(ipaddress.ip_network("10.213.0.0/24"))
    assert not topology.OVERLAY_POOL.overlaps(ipaddress.ip_network("10.213.0.0/24"))


def test_labels_name_the_swarm_and_the_deployment_and_never_a_sandbox(settings):
    settings.DOCKERLAB_DEPLOYMENT = "site-1"
    labels = topology.labels("dockerlab-swarm")
    assert labels == {
        "org.dockerlab.swarm": "1",
        "org.dockerlab.swarm.name": "dockerlab-swarm",
        "org.dockerlab.deployment": "site-1",
    }
    assert topology.label_filter("dockerlab-swarm") == {
        "label": ["org.dockerlab.swarm=1", "org.dockerlab.swarm.name=dockerlab-swarm"]
    }


def test_the_configured_layout_follows_the_settings(settings):
    settings.DOCKERLAB_SWARM_NAME = "classroom"
    settings.DOCKERLAB_SWARM_SUBNET = "10.99.7.0/24"
    settings.DOCKERLAB_SWARM_WORKERS = 3
    settings.DOCKERLAB_SWARM_REGISTRY_PORT = 0
    topo = topology.configured()
    assert [n.container for n in topo.nodes][-1] == "classroom-worker3"
    assert topo.manager.ip == "10.99.7.10"
    assert topo.registry_host_port == 0
