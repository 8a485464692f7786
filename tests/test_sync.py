"""`make sync` against a real OpenSSH server on 127.0.0.1 (infrastructure/setup/sshd.sh installs it): the VM is a
clone in a temp folder reached over ssh. Covers a VM brought to the workstation's commit, a VM whose venv was built
from other pins (rebuilt there), an unreachable host, and no VM_HOST at all. Nothing is written into the repository:
the workstation is a clone too, and the sync log goes to a temp file (SYNC_LOG)."""
from __future__ import annotations

import getpass
import hashlib
import os
import shutil
import socket
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SSHD = "/usr/sbin/sshd"
# The working tree's versions of what sync runs, so an uncommitted change is what gets tested.
SYNC_FILES = ("infrastructure/sync.sh", "rebuild_venv.sh", "check_env.sh", "requirements_stable.txt")

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(not os.path.exists(SSHD), reason="no sshd: run infrastructure/setup/sshd.sh")]


def run(*cmd, cwd=None, env=None, check=True) -> subprocess.CompletedProcess:
    res = subprocess.run(list(map(str, cmd)), cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    if check and res.returncode != 0:
        raise AssertionError(f"{cmd}: {res.returncode}\n{res.stdout}\n{res.stderr}")
    return res


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def sshd(tmp_path_factory):
    """An sshd on 127.0.0.1 that lets the current user in with a throwaway key, and the ssh options to reach it."""
    base = tmp_path_factory.mktemp("sshd")
    for name in ("host_key", "client_key"):
        run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", base / name)
    shutil.copy(base / "client_key.pub", base / "authorized_keys")
    port = free_port()
    (base / "sshd_config").write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {base / 'host_key'}\nAuthorizedKeysFile {base / 'authorized_keys'}\n"
        f"PidFile {base / 'sshd.pid'}\nPasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\n"
        "StrictModes no\nPermitRootLogin prohibit-password\nLogLevel ERROR\n")
    if os.geteuid() == 0:
        os.makedirs("/run/sshd", exist_ok=True)   # sshd's privilege-separation folder (Debian's package makes it at boot)
    proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(base / "sshd_config")], stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 20
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail(f"sshd did not start: {proc.stderr.read() if proc.stderr else ''}")
            time.sleep(0.1)
    opts = f"-o UserKnownHostsFile={base / 'known_hosts'} -o LogLevel=ERROR"
    yield {"VM_HOST": "127.0.0.1", "VM_PORT": str(port), "VM_USER": getpass.getuser(),
           "VM_KEY": str(base / "client_key"), "VM_SSH_OPTS": opts}
    proc.terminate()
    proc.wait(timeout=10)


def fake_venv(folder: Path, pins_hash: str) -> None:
    """A venv whose packages are this test run's (a .pth file), built 'from' `pins_hash`, that installs nothing:
    pip finds every pin already satisfied and is told to use no index."""
    cfg = dict(line.split(" = ", 1) for line in (Path(sys.prefix) / "pyvenv.cfg").read_text().splitlines() if " = " in line)
    site = folder / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / "site-packages"
    site.mkdir(parents=True)
    (folder / "bin").mkdir()
    (folder / "pyvenv.cfg").write_text((Path(sys.prefix) / "pyvenv.cfg").read_text())
    os.symlink(cfg.get("executable") or sys.executable, folder / "bin" / "python")
    (site / "lake_packages.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    (folder / "pip.conf").write_text("[global]\nno-index = true\n")
    (folder / ".pins.sha256").write_text(pins_hash + "\n")


@pytest.fixture
def world(tmp_path):
    """A workstation clone with the working tree's sync files committed on top, and a VM clone one commit behind."""
    ws, vm = tmp_path / "workstation", tmp_path / "vm"
    run("git", "clone", "-q", REPO, ws)
    run("git", "clone", "-q", REPO, vm)
    for name in SYNC_FILES:
        shutil.copy(REPO / name, ws / name)
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid"]
    run(*git, "add", *SYNC_FILES, cwd=ws)
    run(*git, "commit", "-q", "--allow-empty", "-m", "workstation commit", cwd=ws)
    pins = hashlib.sha256((ws / "requirements_stable.txt").read_bytes()).hexdigest()
    fake_venv(vm / ".venv", pins)
    env = {**{k: v for k, v in os.environ.items() if not k.startswith(("VM_", "LAKE_", "LOG_", "INPUT_"))},
           "VENV": sys.prefix, "SYNC_LOG": str(tmp_path / "sync_log.md"), "LAKE_ROOT": str(tmp_path / "lake"),
           "LOG_DIR": str(tmp_path / "logs"), "LOCAL_PG_DIR": str(tmp_path / "pg")}
    head = run("git", "rev-parse", "HEAD", cwd=ws).stdout.strip()
    return {"ws": ws, "vm": vm, "env": env, "head": head, "pins": pins, "log": tmp_path / "sync_log.md"}


def sync(world, **env) -> subprocess.CompletedProcess:
    return run("bash", world["ws"] / "infrastructure" / "sync.sh", cwd=world["ws"], env={**world["env"], **env},
               check=False)


def test_without_vm_host_only_the_workstation_is_synced_and_logged(world):
    res = sync(world)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "VM_HOST not set: this workstation only" in res.stdout
    lines = world["log"].read_text().splitlines()
    assert len(lines) == 1 and " workstation " in lines[0] and f"commit={world['head'][:12]}" in lines[0]
    assert "check=passed" in lines[0]


def test_the_vm_is_brought_to_the_workstations_commit_and_both_sides_are_logged(world, sshd):
    vm_before = run("git", "rev-parse", "HEAD", cwd=world["vm"]).stdout.strip()
    assert vm_before != world["head"]
    res = sync(world, VM_PATH=str(world["vm"]), **sshd)
    assert res.returncode == 0, res.stdout + res.stderr
    assert run("git", "rev-parse", "HEAD", cwd=world["vm"]).stdout.strip() == world["head"]
    assert run("git", "status", "--porcelain", "--untracked-files=no", cwd=world["vm"]).stdout == ""
    lines = world["log"].read_text().splitlines()
    assert [line.split()[2] for line in lines] == ["workstation", "vm"]
    assert "(unchanged)" in lines[1] and "check=passed" in lines[1] and "pins-match" in lines[1], lines[1]
    assert "vm: checks: all passed" in res.stdout

    again = sync(world, VM_PATH=str(world["vm"]), **sshd)
    assert again.returncode == 0 and "VM already at" in again.stdout


def test_a_vm_whose_venv_was_built_from_other_pins_is_rebuilt_there(world, sshd):
    (world["vm"] / ".venv" / ".pins.sha256").write_text("0" * 64 + "\n")
    res = sync(world, VM_PATH=str(world["vm"]), **sshd)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "the VM's venv differs from its pins: rebuilding it there" in res.stdout
    assert (world["vm"] / ".venv" / ".pins.sha256").read_text().strip() == world["pins"]
    vm_line = world["log"].read_text().splitlines()[-1]
    assert "(rebuilt)" in vm_line and "pins-match" in vm_line


def test_a_vm_whose_venv_cannot_be_rebuilt_fails_the_sync_and_says_so(world, sshd):
    (world["vm"] / ".venv" / ".pins.sha256").write_text("1" * 64 + "\n")
    os.remove(world["vm"] / ".venv" / "bin" / "python")
    os.symlink("/bin/false", world["vm"] / ".venv" / "bin" / "python")   # an interpreter that cannot install
    res = sync(world, VM_PATH=str(world["vm"]), **sshd)
    assert res.returncode == 1 and "rebuild_venv.sh failed on the VM" in res.stderr
    last = world["log"].read_text().splitlines()[-1]
    assert " vm " in last and "FAILED: rebuild_venv.sh failed" in last


def test_an_unreachable_vm_fails_with_one_line_and_a_log_entry(world, sshd):
    closed = free_port()
    res = sync(world, VM_PATH=str(world["vm"]), **{**sshd, "VM_PORT": str(closed)})
    assert res.returncode == 1
    assert "unreachable over ssh" in res.stderr
    lines = world["log"].read_text().splitlines()
    assert lines[0].split()[2] == "workstation" and "FAILED: unreachable over ssh" in lines[1]


def test_a_vm_with_uncommitted_changes_is_left_alone(world, sshd):
    (world["vm"] / "README.md").write_text("edited on the VM\n")
    before = run("git", "rev-parse", "HEAD", cwd=world["vm"]).stdout
    res = sync(world, VM_PATH=str(world["vm"]), **sshd)
    assert res.returncode == 1 and "uncommitted changes" in res.stderr
    assert run("git", "rev-parse", "HEAD", cwd=world["vm"]).stdout == before
