"""Who a job runs as, decided once per start and written to an audit line.

Modes (the host configuration's ``execd_mode``; ``execd_identity`` refines service mode):

* personal: the daemon's own user runs every job; nothing is switched (as in ``qsys up``).
* service: the daemon is root; the job child calls initgroups/setgid/setuid to the job owner,
  looked up by *name* on this host. Refused: root, uid < ``min_uid``, gid < ``min_gid``, a user
  in ``execd_deny_users``, a user missing from ``execd_allow_users`` when that list is set.
* log-only (``execd_identity log_only``, after gLExec's log-only mode): the decision is made
  and audited as in service mode but the job runs as the daemon's user. It is meant for a
  daemon run by an unprivileged pilot account; a root daemon never runs jobs as root, so it
  refuses log-only starts.
* proxy (``execd_identity proxy``, after Qube's ``proxy_execution_mode proxy``): every job
  runs as the one account ``proxy_account`` names, whoever submitted it; the submitter's
  allow/deny lists still apply, and the proxy account must pass the checks an owner would
  (never root, not below ``min_uid``/``min_gid``). Accounting names the submitter (the job's
  owner), the audit line both.

Every decision appends one line to ``<spool>/audit``:
``<time> job=12.1 user=alice uid=1001 gid=1001 action=switch|none|proxy|refuse|log_only
[submitter=bob] by_uid=0 reason=...`` (log-only: the user is the one a switch would have taken,
the reason says who ran the job). A session (qrsh, qlogin) the policy refuses is refused by the
exec daemon before it starts: the client is told the reason and the job ends (it does not wait
in error state).
"""

from __future__ import annotations

import grp
import os
import pwd
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qsys.launch import Launch


class IdentityRefused(Exception):
    """The job may not run as its owner on this host (the task goes to error state)."""


def _user_list(text: Any) -> list[str]:
    if not text:
        return []
    if isinstance(text, list):
        items = [str(x) for x in text]
    else:
        items = str(text).replace(",", " ").split()
    return [x for x in items if x.upper() != "NONE"]


IDENTITIES = ("switch", "log_only", "proxy")


@dataclass
class IdentityPolicy:
    mode: str = "personal"  # personal | service
    log_only: bool = False
    proxy: bool = False  # execd_identity proxy: every job runs as proxy_account
    proxy_account: str = ""
    min_uid: int = 0
    min_gid: int = 0
    allow: list[str] = field(default_factory=list)
    deny: list[str] = field(default_factory=list)

    @classmethod
    def from_conf(cls, conf: dict[str, Any]) -> IdentityPolicy:
        """From the host configuration (or a task's execd.json, which holds the same keys)."""

        def number(key: str) -> int:
            try:
                return int(str(conf.get(key, "0")).strip() or 0)
            except ValueError:
                return 0

        kind = str(conf.get("execd_identity") or "switch").lower()
        return cls(
            mode=str(conf.get("execd_mode") or "personal"),
            log_only=kind == "log_only",
            proxy=kind == "proxy",
            proxy_account=str(conf.get("proxy_account") or "").strip(),
            min_uid=number("min_uid"),
            min_gid=number("min_gid"),
            allow=_user_list(conf.get("execd_allow_users")),
            deny=_user_list(conf.get("execd_deny_users")),
        )

    @property
    def identity(self) -> str:
        return "log_only" if self.log_only else "proxy" if self.proxy else "switch"

    def to_conf(self) -> dict[str, Any]:
        return {"execd_mode": self.mode, "execd_identity": self.identity, "proxy_account": self.proxy_account,
                "min_uid": self.min_uid, "min_gid": self.min_gid,
                "execd_allow_users": self.allow, "execd_deny_users": self.deny}


@dataclass
class Identity:
    """The account a job runs as, and whether the job child must switch to it."""

    user: str
    uid: int
    gid: int
    home: str
    shell: str
    switch: bool
    extra_gid: int | None = None
    would_be: tuple[str, int, int] | None = None  # log-only: (user, uid, gid) a switch would have taken
    submitter: str = ""  # proxy mode: who submitted the job (the owner), when not ``user``


def _own_identity() -> Identity:
    pw = pwd.getpwuid(os.getuid())
    return Identity(pw.pw_name, pw.pw_uid, os.getgid(), pw.pw_dir, pw.pw_shell or "/bin/sh", False)


def decide(policy: IdentityPolicy, launch: Launch) -> Identity:
    """The identity of a job, or IdentityRefused with a message for the user."""
    if policy.mode != "service":
        ident = _own_identity()
        ident.extra_gid = launch.extra_gid
        return ident
    if launch.owner in policy.deny:
        raise IdentityRefused(f"user {launch.owner} is denied on this host")
    if policy.allow and launch.owner not in policy.allow:
        raise IdentityRefused(f"user {launch.owner} is not allowed on this host")
    if policy.proxy:
        return _proxy(policy, launch)
    try:
        pw = pwd.getpwnam(launch.owner)
    except KeyError:
        raise IdentityRefused(f"user {launch.owner} does not exist on this host") from None
    gid = pw.pw_gid
    if launch.group:
        try:
            gid = grp.getgrnam(launch.group).gr_gid
        except KeyError:
            pass
    _check_account(policy, pw, gid)
    if policy.log_only:
        if os.geteuid() == 0:
            raise IdentityRefused("log-only identity mode refused: the exec daemon runs as root")
        ident = _own_identity()
        ident.extra_gid = launch.extra_gid
        ident.would_be = (pw.pw_name, pw.pw_uid, gid)
        return ident
    if os.geteuid() != 0:
        if pw.pw_uid == os.getuid():
            return Identity(pw.pw_name, pw.pw_uid, gid, pw.pw_dir, pw.pw_shell or "/bin/sh", False,
                            launch.extra_gid)
        raise IdentityRefused(f"the exec daemon is not root and cannot run jobs of {pw.pw_name}")
    return Identity(pw.pw_name, pw.pw_uid, gid, pw.pw_dir, pw.pw_shell or "/bin/sh", True, launch.extra_gid)


def _check_account(policy: IdentityPolicy, pw: pwd.struct_passwd, gid: int) -> None:
    """An account a job may run as: never root, not below min_uid/min_gid."""
    if pw.pw_uid == 0:
        raise IdentityRefused(f"jobs do not run as root (user {pw.pw_name})")
    if pw.pw_uid < policy.min_uid:
        raise IdentityRefused(f"uid {pw.pw_uid} of user {pw.pw_name} is below min_uid {policy.min_uid}")
    if gid < policy.min_gid:
        raise IdentityRefused(f"gid {gid} of user {pw.pw_name} is below min_gid {policy.min_gid}")


def _proxy(policy: IdentityPolicy, launch: Launch) -> Identity:
    """Proxy mode: the job runs as ``proxy_account`` (its primary group), for its submitter."""
    if not policy.proxy_account or policy.proxy_account.upper() == "NONE":
        raise IdentityRefused("execd_identity is proxy but no proxy_account is configured")
    try:
        pw = pwd.getpwnam(policy.proxy_account)
    except KeyError:
        raise IdentityRefused(f"proxy_account {policy.proxy_account} does not exist on this host") from None
    _check_account(policy, pw, pw.pw_gid)
    if os.geteuid() != 0 and pw.pw_uid != os.getuid():
        raise IdentityRefused(f"the exec daemon is not root and cannot run jobs as {pw.pw_name}")
    return Identity(pw.pw_name, pw.pw_uid, pw.pw_gid, pw.pw_dir, pw.pw_shell or "/bin/sh", os.geteuid() == 0,
                    launch.extra_gid, submitter=launch.owner)


def action_of(ident: Identity) -> str:
    """The audit line's action for an identity that was granted."""
    if ident.submitter:
        return "proxy"
    return "switch" if ident.switch else "none"


def audit(path: Path, launch: Launch, ident: Identity | None, action: str, reason: str = "") -> None:
    """Append one audit line (best effort: an unwritable audit file must not stop the job).
    In log-only mode it names the identity a switch would have taken, and who ran the job."""
    if ident is not None and ident.would_be is not None:
        user, uid, gid = ident.would_be
        who = f"user={user} uid={uid} gid={gid}"
        action, reason = "log_only", reason or f"ran as {ident.user} uid={ident.uid}"
    elif ident is not None:
        who = f"user={ident.user} uid={ident.uid} gid={ident.gid}"
    else:
        who = f"user={launch.owner} uid={launch.uid} gid={launch.gid}"
    if ident is not None and ident.submitter:
        who += f" submitter={ident.submitter}"
    line = (f"{time.strftime('%Y-%m-%dT%H:%M:%S')} job={launch.task_key} {who} "
            f"action={action} by_uid={os.getuid()}" + (f" reason={reason!r}" if reason else "") + "\n")
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, line.encode())
        finally:
            os.close(fd)
    except OSError:
        pass


def job_groups(ident: Identity) -> list[int] | None:
    """The supplementary groups of the job's processes, the extra group ID among them (None:
    the daemon's own, unchanged): what :func:`switch` sets and the lean shepherd's plan names."""
    if ident.switch:
        groups = os.getgrouplist(ident.user, ident.gid)
    elif ident.extra_gid is not None and os.geteuid() == 0:
        groups = os.getgroups()
    else:
        return None
    if ident.extra_gid is not None:
        groups.append(ident.extra_gid)
    return groups


def switch(ident: Identity) -> None:
    """Become the job's user for good (in the job child, after fork)."""
    groups = job_groups(ident)
    if groups is not None:
        os.setgroups(groups)
    if not ident.switch:
        return
    os.setgid(ident.gid)
    os.setuid(ident.uid)
    if os.getuid() != ident.uid or os.geteuid() != ident.uid or os.getgid() != ident.gid:
        raise IdentityRefused(f"identity switch to {ident.user} did not take effect")
    try:
        os.setuid(0)
    except PermissionError:
        return
    raise IdentityRefused("identity switch is reversible: refusing to run the job")
