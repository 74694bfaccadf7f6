"""kubespray render: inventory groups, MLPS level 3 group_vars (audit log, TLS 1.3, KMS encryption), containerd
for DGX, and the `podforge kubespray` command."""

from __future__ import annotations

import yaml

from components import paths
from components.cli import main
from components.render import kubespray as ks
from components.spec import load_stack_spec
from components.spec.inference import InferencePlatform
from components.spec.nodes import NodeRole
from tests.unit.plan_roots import example_spec, stack_root


def _without_kms_key(text: str) -> str:
    """The example spec without its `kubernetes-secrets` transit key (the one line that declares it)."""
    kept = [line for line in text.splitlines(keepends=True) if "{name: kubernetes-secrets," not in line]
    assert len(kept) == len(text.splitlines()) - 1
    return "".join(kept)


def _spec(stack: str):
    return load_stack_spec(stack)[1].spec


def test_inventory_groups_follow_the_node_roles() -> None:
    spec = _spec("superpod")
    inv = ks.inventory(spec)["all"]
    for role in ("kube_control_plane", "kube_node", "etcd"):
        assert list(inv["children"][role]["hosts"]) == [n.hostname for n in spec.nodes_with(NodeRole(role))]
    assert inv["children"]["k8s_cluster"] == {"children": {"kube_control_plane": None, "kube_node": None}}
    node = spec.nodes_with(NodeRole.kube_node)[0]
    assert inv["hosts"][node.hostname]["ip"] == str(node.management_address)
    assert inv["hosts"][node.hostname]["node_labels"][ks.PLACEMENT_LABEL].startswith("leafgroup-")


def test_placement_domains_group_nodes_by_their_leaf_switches() -> None:
    lab = _spec("lab")  # one leaf: one domain
    assert set(ks.placement_domains(lab).values()) == {"leafgroup-1"}
    spec = _spec("superpod")
    fabric = spec.compute_fabric()
    leaves: dict[str, set[str]] = {}
    for link in fabric.node_links:
        leaves.setdefault(link.node, set()).add(link.switch)
    domains = ks.placement_domains(spec)
    for a in domains:
        for b in domains:
            assert (domains[a] == domains[b]) == (leaves[a] == leaves[b])


def test_group_vars_meet_mlps_level_3() -> None:
    spec = _spec("lab")
    platform = InferencePlatform()
    cluster = ks.k8s_cluster_vars(spec, platform)
    assert cluster["kubernetes_audit"] is True
    assert cluster["audit_log_maxage"] >= 180 and cluster["audit_log_maxage"] >= spec.retention.audit_log_days
    # Rotation by count must not drop files younger than maxage: a day of logs per backup at least.
    assert cluster["audit_log_maxbackups"] >= cluster["audit_log_maxage"]
    assert cluster["tls_min_version"] == "VersionTLS13"
    assert cluster["kube_encrypt_secret_data"] is False  # kubespray's local-key encryption replaced by KMS
    config_path = cluster["kube_kubeadm_apiserver_extra_args"]["encryption-provider-config"]
    mounts = {v["mountPath"] for v in cluster["apiserver_extra_volumes"]}
    assert config_path.rsplit("/", 1)[0] in mounts and ks.KMS_SOCKET_DIR in mounts
    enc = ks.encryption_config(spec, platform)
    providers = enc["resources"][0]["providers"]
    assert enc["resources"][0]["resources"] == ["secrets"]
    assert providers[0]["kms"]["apiVersion"] == "v2"
    assert providers[0]["kms"]["endpoint"] == f"unix://{ks.KMS_SOCKET}"
    assert "kubernetes-secrets" in providers[0]["kms"]["name"]


def test_longer_audit_retention_in_the_spec_is_kept() -> None:
    spec = _spec("lab")
    longer = spec.model_copy(update={"retention": spec.retention.model_copy(update={"audit_log_days": 400})})
    assert ks.k8s_cluster_vars(longer, InferencePlatform())["audit_log_maxage"] == 400


def test_containerd_has_the_nvidia_runtime_with_systemd_cgroups() -> None:
    vars_ = ks.containerd_vars()
    assert vars_["containerd_use_systemd_cgroup"] is True
    (runtime,) = vars_["containerd_additional_runtimes"]
    assert runtime["name"] == ks.NVIDIA_RUNTIME and runtime["type"] == "io.containerd.runc.v2"
    assert runtime["options"] == {"BinaryName": "/usr/bin/nvidia-container-runtime", "SystemdCgroup": "true"}


def test_problems_name_a_missing_kms_key_and_an_even_etcd() -> None:
    spec = _spec("lab")
    assert ks.problems(spec, InferencePlatform()) == []
    transit = spec.keys.vault.transit
    keys = [k for k in transit.keys if k.name != "kubernetes-secrets"]
    spec = spec.model_copy(update={"keys": spec.keys.model_copy(update={"vault": spec.keys.vault.model_copy(
        update={"transit": transit.model_copy(update={"keys": keys})})})})
    found = ks.problems(spec, InferencePlatform())
    assert [p.path for p in found] == [("keys", "vault", "transit", "keys")]
    assert ks.problems(spec, InferencePlatform(kms_transit_key="models-at-rest")) == []
    etcd = spec.model_copy(update={"nodes": [
        n.model_copy(update={"roles": [*n.roles, NodeRole.etcd]}) if n.hostname == "lab-dgx-02" else n
        for n in spec.nodes]})
    assert any("odd number" in p.expected for p in ks.problems(etcd, InferencePlatform(kms_transit_key="models-at-rest")))


def test_command_writes_the_files(tmp_path, capsys) -> None:
    root = stack_root(tmp_path, "lab")
    out = tmp_path / "rendered"
    with paths.chosen_project(root):
        assert main(["kubespray", "--stack", "lab", "--output", str(out)]) == 0
    printed = capsys.readouterr().out.split()
    expected = {"inventory/hosts.yaml", "group_vars/k8s_cluster/k8s-cluster.yml", "group_vars/k8s_cluster/addons.yml",
                "group_vars/all/containerd.yml", "files/encryption-config.yaml"}
    assert {str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()} == expected
    assert len(printed) == len(expected)
    hosts = yaml.safe_load((out / "inventory/hosts.yaml").read_text())
    assert set(hosts["all"]["children"]) == {"kube_control_plane", "kube_node", "etcd", "k8s_cluster"}
    addons = yaml.safe_load((out / "group_vars/k8s_cluster/addons.yml").read_text())
    assert addons["ingress_nginx_configmap"]["ssl-protocols"] == "TLSv1.3"


def test_command_refuses_a_spec_without_the_kms_key(tmp_path, capsys) -> None:
    root = stack_root(tmp_path, "lab", spec_text=_without_kms_key(example_spec("lab")))
    with paths.chosen_project(root):
        assert main(["kubespray", "--stack", "lab", "--output", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "specs/lab.yaml:" in err and "keys.vault.transit.keys" in err and "kubernetes-secrets" in err
    assert not (tmp_path / "out").exists()
