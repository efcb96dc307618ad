"""Test helpers for remote startup: configuration seeded into the store before the master
starts, and real daemons (OpenSSH, inetutils telnetd, rsh-redone) set up in a temp dir."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

from qsys.remote.addresses import local_addresses
from tests.clusterlib import Cluster

SSHD = "/usr/sbin/sshd"
REPO = Path(__file__).resolve().parent.parent


def start_with_conf(cluster: Cluster, global_conf: dict[str, str],
                    local: dict[str, dict[str, str]] | None = None, start_execds: bool = True) -> Cluster:
    """Start ``cluster`` with these global and host-local configuration values, written to
    the store the way the master loads them (``ClusterConfig.load``)."""
    from qsys.store import PutObject, Store

    cluster.init()
    boot = cluster.cell.bootstrap()
    store = Store(boot["store_url"])
    store.create()
    changes = [PutObject("conf", "global", {"attrs": dict(global_conf)})]
    for host, attrs in (local or {}).items():
        changes.append(PutObject("conf", host, {"attrs": dict(attrs)}))
    store.apply(changes)
    store.close()
    if cluster.user:
        subprocess.run(["chown", "-R", cluster.user, str(cluster.root)], check=True)
    cluster.start_master()
    if start_execds:
        for host in cluster.hosts:
            cluster.start_execd(host)
        cluster.wait_hosts()
    return cluster


def give(path: Path, user: str, mode: int) -> None:
    entry = pwd.getpwnam(user)
    os.chown(path, entry.pw_uid, entry.pw_gid)
    os.chmod(path, mode)


class SshSetup:
    """Host key, sshd config, a user key pair and a known_hosts file with ``[addr]:*``
    patterns (any port of the cluster's hosts, host-key checking left on)."""

    def __init__(self, base: Path, user: str, pam_service: str | None = None,
                 extra_addresses: list[str] | None = None) -> None:
        self.dir = base / "ssh"
        self.dir.mkdir(mode=0o755)
        self.user = user
        unlock(user)
        self.host_key = self.dir / "host_ed25519"
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(self.host_key)], check=True)
        self.user_dir = self.dir / user
        self.user_dir.mkdir(mode=0o700)
        self.user_key = self.user_dir / "id_ed25519"
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(self.user_key)], check=True)
        keys = self.dir / "authorized_keys"
        keys.mkdir(mode=0o755)
        shutil.copy(f"{self.user_key}.pub", keys / user)
        os.chmod(keys / user, 0o644)
        pub = Path(f"{self.host_key}.pub").read_text().split()
        addresses = [*local_addresses(), *(extra_addresses or [])]
        self.known_hosts = self.user_dir / "known_hosts"
        self.known_hosts.write_text(f"{','.join(f'[{a}]:*' for a in addresses)} {pub[0]} {pub[1]}\n")
        for path in (self.user_dir, self.user_key, self.known_hosts):
            give(path, user, 0o700 if path.is_dir() else 0o600)
        self.sshd = SSHD
        if pam_service:
            self.sshd = str(self.dir / pam_service)  # sshd's PAM service is its program name
            os.symlink(SSHD, self.sshd)
        self.config = self.dir / "sshd_config"
        self.config.write_text(
            f"HostKey {self.host_key}\n"
            f"AuthorizedKeysFile {keys}/%u\n"
            "PubkeyAuthentication yes\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n"
            f"UsePAM {'yes' if pam_service else 'no'}\nPidFile none\nLogLevel VERBOSE\n"
            "PrintMotd no\nPrintLastLog no\nPermitRootLogin no\n"
            "StrictModes no\n"  # the test tree lives under /tmp (mode 1777)
        )
        Path("/run/sshd").mkdir(exist_ok=True)

    @property
    def daemon(self) -> str:
        return f"{self.sshd} -i -f {self.config}"

    @property
    def options(self) -> str:
        return (f"-o BatchMode=yes -o IdentityFile={self.user_key} "
                f"-o UserKnownHostsFile={self.known_hosts} -o GlobalKnownHostsFile=/dev/null "
                "-o StrictHostKeyChecking=yes -o LogLevel=ERROR")

    @property
    def command(self) -> str:
        return f"/usr/bin/ssh {self.options}"


TEST_PASSWORD = "qsys-Test-pw-1"


def unlock(user: str, password: str = TEST_PASSWORD) -> str:
    """Give the test user a password: sshd refuses locked accounts even for key logins, and
    telnetd's login asks for it."""
    subprocess.run(["chpasswd"], input=f"{user}:{password}\n", text=True, check=True)
    return password


def trust_local_hosts(user: str) -> Path:
    """``~user/.rhosts`` naming every address and name of this host (rshd, rlogind)."""
    import socket

    home = Path(pwd.getpwnam(user).pw_dir)
    names = [*local_addresses(), socket.gethostname(), "localhost"]
    rhosts = home / ".rhosts"
    rhosts.write_text("".join(f"{name} {user}\n" for name in names))
    give(rhosts, user, 0o600)
    return rhosts


GID_RANGE = "20000-20100"  # gids.DEFAULT_RANGE: the range of a cluster without its own


def build_pam_module(out_dir: Path) -> Path:
    """Compile wrappers/pam/pam_qsys.c (needs gcc and libpam0g-dev)."""
    out = out_dir / "pam_qsys.so"
    subprocess.run(["gcc", "-O2", "-Wall", "-Werror", "-fPIC", "-shared", "-o", str(out),
                    str(REPO / "wrappers" / "pam" / "pam_qsys.c"), "-lpam"], check=True)
    return out


def pam_lines(module: Path, gid_range: str = GID_RANGE) -> str:
    """pam_qsys in the auth stack (pam_setcred) and the session stack of a PAM service."""
    return f"auth optional {module} gid_range={gid_range}\nsession optional {module} gid_range={gid_range}\n"


class PamService:
    """pam_qsys added to /etc/pam.d/<service> (a new file with pam_unix when there is none),
    restored on exit."""

    def __init__(self, service: str, module: Path, gid_range: str = GID_RANGE) -> None:
        self.path = Path("/etc/pam.d") / service
        self.original = self.path.read_text() if self.path.exists() else None
        base = self.original if self.original is not None else (
            "auth required pam_unix.so\naccount required pam_unix.so\nsession required pam_unix.so\n")
        self.path.write_text(base + pam_lines(module, gid_range))

    def restore(self) -> None:
        if self.original is None:
            self.path.unlink(missing_ok=True)
        else:
            self.path.write_text(self.original)


def method_setup(method: str, root: Path, user: str,
                 extra_addresses: list[str] | None = None) -> tuple[dict[str, str], list[Callable[[], object]]]:
    """Global configuration for one startup method with the real daemon and pam_qsys in its
    PAM service: ``builtin``, ``ssh`` (rsh through sshd -i), ``rsh`` (in.rshd, .rhosts) or
    ``telnet`` (qlogin through telnetd and login). Returns (configuration, undo steps)."""
    conf = {f"{m}_{end}": "builtin" for m in ("rsh", "rlogin", "qlogin") for end in ("command", "daemon")}
    undo: list[Callable[[], object]] = []
    if method == "builtin":
        return conf, undo
    module = build_pam_module(root)
    if method == "ssh":
        service = f"qsys-sshd-{os.getpid()}"
        ssh = SshSetup(root, user, pam_service=service, extra_addresses=extra_addresses)
        undo.append(PamService(service, module).restore)
        conf.update(rsh_command=ssh.command, rsh_daemon=ssh.daemon)
    elif method == "rsh":
        unlock(user)
        undo.append(trust_local_hosts(user).unlink)
        undo.append(PamService("rsh", module).restore)
        conf.update(rsh_command="/usr/bin/rsh", rsh_daemon="/usr/sbin/in.rshd")
    elif method == "telnet":
        unlock(user)
        undo.append(PamService("login", module).restore)
        conf.update(qlogin_command="/usr/bin/telnet", qlogin_daemon="/usr/sbin/telnetd")
    else:
        raise ValueError(f"unknown method {method!r}")
    return conf, undo


def telnet_session(cluster: Cluster, user: str, command: str, timeout: float = 60) -> None:
    """qlogin through telnetd: log in with the test password, run ``command``, log out."""
    import pexpect

    from tests.clusterlib import BIN

    full = cluster._as_user([str(BIN / "qlogin")], user)
    child = pexpect.spawn(full[0], full[1:], env={**cluster.env, "TERM": "xterm"}, cwd="/tmp", timeout=timeout,
                          encoding="utf-8", codec_errors="replace")
    child.expect("login: ")
    child.sendline(user)
    child.expect("assword: ")
    child.sendline(TEST_PASSWORD)
    child.expect(r"[#$] ")
    child.sendline(f"{command}; echo SESSION-DONE; exit")
    child.expect("SESSION-DONE\r\n")
    child.expect(pexpect.EOF)
    child.close()
