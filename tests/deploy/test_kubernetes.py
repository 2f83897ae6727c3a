"""deploy/kubernetes: the DaemonSet and pod snippet parse, carry what LXCFS needs, agree with
the file registry, and (where kubernetes-validate is installed) match the Kubernetes schema."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from lxcfs_cli.deploy import docker_bind_paths

yaml = pytest.importorskip("yaml", reason="PyYAML is in the test extra (pip install -e .[test])")

KUBERNETES = Path(__file__).resolve().parents[2] / "deploy" / "kubernetes"
MOUNT = "/var/lib/lxcfs-py/mount"


def load(name: str) -> dict[str, Any]:
    (document,) = list(yaml.safe_load_all((KUBERNETES / name).read_text()))
    assert isinstance(document, dict)
    return document


def daemon_container() -> dict[str, Any]:
    (container,) = load("daemonset.yaml")["spec"]["template"]["spec"]["containers"]
    assert isinstance(container, dict)
    return container


def test_daemonset_identity_and_selector() -> None:
    """An apps/v1 DaemonSet whose selector matches its own pod template's labels."""
    daemonset = load("daemonset.yaml")
    assert (daemonset["apiVersion"], daemonset["kind"]) == ("apps/v1", "DaemonSet")
    assert daemonset["metadata"]["name"]
    selector = daemonset["spec"]["selector"]["matchLabels"]
    labels = daemonset["spec"]["template"]["metadata"]["labels"]
    assert selector and selector.items() <= labels.items()


def test_daemonset_runs_privileged_in_the_host_pid_namespace() -> None:
    """hostPID (callers' pids) and privileged (FUSE, nsenter), on every node."""
    pod = load("daemonset.yaml")["spec"]["template"]["spec"]
    assert pod["hostPID"] is True
    assert daemon_container()["securityContext"]["privileged"] is True
    assert {"operator": "Exists"} in pod["tolerations"]


def test_daemonset_mount_directory_propagates_bidirectionally() -> None:
    """The mount lives inside a hostPath directory mounted Bidirectional, so the host sees it;
    the volume is the plain parent, never the FUSE mount itself."""
    pod = load("daemonset.yaml")["spec"]["template"]["spec"]
    container = daemon_container()
    env = {item["name"]: item["value"] for item in container["env"]}
    assert env["LXCFS_MOUNT"] == MOUNT
    mounts = {m["name"]: m for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    (parent,) = [m for m in mounts.values() if m.get("mountPropagation") == "Bidirectional"]
    assert MOUNT.startswith(parent["mountPath"].rstrip("/") + "/")
    host_path = volumes[parent["name"]]["hostPath"]
    assert host_path == {"path": parent["mountPath"], "type": "DirectoryOrCreate"}
    assert volumes[mounts["cgroup"]["name"]]["hostPath"]["path"] == "/sys/fs/cgroup"


def test_daemonset_probe_and_hooks() -> None:
    """Liveness reads a file of the mount; postStart re-binds stale pods and cannot fail."""
    container = daemon_container()
    assert container["livenessProbe"]["exec"]["command"] == ["cat", f"{MOUNT}/proc/uptime"]
    post_start = " ".join(container["lifecycle"]["postStart"]["exec"]["command"])
    assert "lxcfs-remount" in post_start and post_start.rstrip().endswith("|| true")


def startup_script() -> str:
    container = daemon_container()
    assert container["command"] == ["/bin/sh", "-c"]
    (script,) = container["args"]
    assert isinstance(script, str)
    return script


@pytest.mark.root
@pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("unshare") is None,
    reason="needs root and unshare(1) to stack mounts in a private namespace",
)
def test_daemonset_startup_removes_stacked_stale_mounts_then_starts(tmp_path: Path) -> None:
    """The start-up script unmounts every layer at the mount point, creates it and execs
    lxcfs-fuse -f through nsenter into the host cgroup namespace (nsenter faked here)."""
    mountpoint = tmp_path / "lxcfs-py" / "mount"
    mountpoint.mkdir(parents=True)
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    (fake_bin / "nsenter").write_text(
        "#!/bin/sh\n"
        "if awk -v m=\"$LXCFS_MOUNT\" '$5 == m {f=1} END {exit !f}' /proc/self/mountinfo; then\n"
        '  echo "still mounted"; exit 3\nfi\n'
        'echo "nsenter $*"\n'
    )
    (fake_bin / "nsenter").chmod(0o755)
    stack = f"mount -t tmpfs lxcfs {mountpoint} && mount -t tmpfs lxcfs {mountpoint} && "
    result = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c", stack + startup_script()],
        env={
            "PATH": f"{fake_bin}:{os.environ.get('PATH', '/usr/bin:/bin')}",
            "LXCFS_MOUNT": str(mountpoint),
        },
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("removing stale mount") == 2
    assert result.stdout.splitlines()[-1] == (
        f"nsenter --target 1 --cgroup -- lxcfs-fuse -f --enable-cfs {mountpoint}"
    )


def test_pod_snippet_binds_exactly_the_docker_files_host_to_container() -> None:
    """The pod mounts each file docker-args binds, from the same path under the mount,
    with HostToContainer propagation and the hostPath type of a file or the cpu directory."""
    pod = load("pod-snippet.yaml")
    assert (pod["apiVersion"], pod["kind"]) == ("v1", "Pod")
    (container,) = pod["spec"]["containers"]
    volumes = {v["name"]: v["hostPath"] for v in pod["spec"]["volumes"]}
    seen = []
    for mount in container["volumeMounts"]:
        assert mount["mountPropagation"] == "HostToContainer"
        host_path = volumes[mount["name"]]
        assert host_path["path"] == MOUNT + mount["mountPath"]
        expected_type = "Directory" if mount["mountPath"].startswith("/sys/") else "File"
        assert host_path["type"] == expected_type
        seen.append(mount["mountPath"].lstrip("/"))
    assert sorted(seen) == sorted(docker_bind_paths())
    assert len(volumes) == len(seen)


def test_dockerfile_installs_what_the_daemonset_runs() -> None:
    """The image has the package, the remount helper, nsenter/umount and libfuse 2."""
    dockerfile = (KUBERNETES / "Dockerfile").read_text()
    assert "COPY deploy/lxcfs-remount /usr/local/sbin/lxcfs-remount" in dockerfile
    assert "libfuse2" in dockerfile and "util-linux" in dockerfile
    assert "pip install" in dockerfile


@pytest.mark.parametrize("name", ["daemonset.yaml", "pod-snippet.yaml"])
def test_manifests_match_the_kubernetes_schema(name: str) -> None:
    """kubernetes-validate (schemas bundled, no network) accepts each manifest strictly."""
    kubernetes_validate = pytest.importorskip(
        "kubernetes_validate", reason="kubernetes-validate missing"
    )
    for document in yaml.safe_load_all((KUBERNETES / name).read_text()):
        kubernetes_validate.validate(document, "1.30", strict=True)


def test_schema_check_can_fail() -> None:
    """The same validator rejects the DaemonSet with a misspelt field, so it is checking."""
    kubernetes_validate = pytest.importorskip(
        "kubernetes_validate", reason="kubernetes-validate missing"
    )
    document = load("daemonset.yaml")
    document["spec"]["template"]["spec"]["hostPid"] = True
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(document, "1.30", strict=True)


def test_daemonset_command_line_is_one_lxcfs_fuse_accepts() -> None:
    """The lxcfs-fuse arguments of the start-up script parse: --enable-cfs on, the mount."""
    from lxcfs_fuse.options import DaemonOptions, parse_args

    (exec_line,) = [line for line in startup_script().splitlines() if "exec nsenter" in line]
    arguments = exec_line.split("lxcfs-fuse", 1)[1].replace('"$LXCFS_MOUNT"', MOUNT).split()
    parsed = parse_args(arguments)
    assert isinstance(parsed, DaemonOptions)
    assert parsed.mountpoint == MOUNT and parsed.render.enable_cfs
