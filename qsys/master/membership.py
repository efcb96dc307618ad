"""Who belongs to the cell: join tokens, the hosts that joined, and the checks of every exec
daemon's proof and every TCP client's credential.

``qsys token create`` makes a one-time join token (kept as the SHA-256 of its secret, with
the host pattern it admits and its expiry). ``qsys join`` presents it over a verified TLS
connection (:class:`~qsys.protocol.JoinRequest`); the master then, in one commit, marks the
token used, records the host (``host_key``: its serial, exec or submit-only), makes it an
exec host (all.q gets its processors as slots) and a submit host, and answers with the
host's secret (``auth.host_secret`` of the cluster key, its name and serial; never stored)
and a client certificate for its name.

From then on the host proves that secret on every connection: its exec daemon's proof, and
the credentials its signer gives its users. A proof or credential naming host B is checked
with B's secret only, so host A's secret can act as A and nothing else; a credential signed
with a host secret counts only while that host is a submit (or admin) host. Root of a joined host is
a manager only if the host is an admin host. The cluster key itself (the master host: root,
qsys-restd, a personal cell's owner) is trusted for any host.
``qconf -de`` (an exec host) or ``qconf -ds`` (a submit-only host) revokes the host: its
serial is retired, its link is closed, and it is refused with the reason from then on.
"""

from __future__ import annotations

import asyncio
import fnmatch
import logging
import re
import time
from dataclasses import asdict, dataclass, replace
from typing import TYPE_CHECKING, Any

from qsys import auth, protocol
from qsys.errors import AuthenticationError, InvalidRequest, PermissionDenied
from qsys.master import roles
from qsys.store import DeleteObject, PutObject

if TYPE_CHECKING:
    import ssl

    from qsys.master.config import Edit
    from qsys.master.core import Master
    from qsys.master.identity import Identity

log = logging.getLogger("qsys.master.membership")

HOST_KEY = "host_key"
JOIN_TOKEN = "join_token"
KINDS = (HOST_KEY, JOIN_TOKEN)
TOKEN_KEPT = 7 * 86400  # a used or expired token is listed this long, then forgotten
MAX_TTL = 366 * 86400
_HOST_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}")


@dataclass(slots=True)
class HostKey:
    """A joined host: the serial its secret derives from, and what it joined as."""

    host: str
    serial: int
    exec_host: bool
    joined: float
    token: str = ""
    revoked: float = 0.0  # when qconf -de/-ds retired this serial


@dataclass(slots=True)
class JoinTokenRecord:
    id: str
    digest: str
    hosts: str
    created: float
    expires: float
    used_by: str = ""
    used_at: float = 0.0
    revoked: float = 0.0

    def state(self, now: float) -> str:
        if self.used_by:
            return "used"
        if self.revoked:
            return "revoked"
        return "expired" if self.expires <= now else "unused"


@dataclass(slots=True)
class Tls:
    """The master's TLS material: the TCP port's context, what exec daemons bind proofs to,
    and what issuing a joining host's certificate needs."""

    context: ssl.SSLContext
    binding: bytes
    ca_pem: bytes
    ca_key_pem: bytes
    names: list[str]


def _when(stamp: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(stamp))


class Membership:
    def __init__(self, state: Master, tls: Tls | None) -> None:
        self.state = state
        self.tls = tls
        self.hosts: dict[str, HostKey] = {}
        self.tokens: dict[str, JoinTokenRecord] = {}
        self._secrets: dict[tuple[str, int], bytes] = {}
        self._joining: set[str] = set()  # token ids whose join is being committed

    @property
    def ssl(self) -> ssl.SSLContext | None:
        return self.tls.context if self.tls else None

    def load(self, objects: dict[tuple[str, str], dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
        """Take the records of joined hosts and tokens; the other objects are returned."""
        rest = {}
        for (kind, name), record in objects.items():
            if kind == HOST_KEY:
                self.hosts[name] = HostKey(**record)
            elif kind == JOIN_TOKEN:
                self.tokens[name] = JoinTokenRecord(**record)
            else:
                rest[(kind, name)] = record
        return rest

    def secret(self, key: HostKey) -> bytes:
        found = self._secrets.get((key.host, key.serial))
        if found is None:
            found = self._secrets[(key.host, key.serial)] = auth.host_secret(self.state.key, key.host, key.serial)
        return found

    def _revoked_message(self, key: HostKey) -> str:
        how = "qconf -de" if key.exec_host else "qconf -ds"
        return (f'host "{key.host}" was removed from the cell ({how}, {_when(key.revoked)}) and its secret '
                "revoked: join it again with a new token (qsys token create on the master, then qsys join)")

    # ------------------------------------------------------------ checks of every connection

    def check_execd(self, hello: protocol.ExecdHello, nonce: bytes, writer: Any) -> None:
        """An exec daemon's proof: the cluster key (any host name), or the named host's own
        secret, over a TLS connection whose client certificate names that host."""
        from qsys import tls

        binding = self.tls.binding if self.tls and tls.is_tls(writer) else b""
        if auth.proves(self.state.key, nonce, hello.host, hello.proof, binding):
            return
        key = self.hosts.get(hello.host)
        if key is None:
            raise AuthenticationError(f'exec host "{hello.host}" did not prove a key of this cell '
                                      "(join it with qsys join)")
        if key.revoked:
            raise AuthenticationError(self._revoked_message(key))
        if not key.exec_host:
            raise AuthenticationError(f'host "{hello.host}" joined as a submit host only, not as an exec host')
        if not auth.proves(self.secret(key), nonce, hello.host, hello.proof, binding):
            raise AuthenticationError(f'exec host "{hello.host}" did not prove its secret')
        if binding:
            named = tls.peer_common_name(writer)
            if named != hello.host:
                raise AuthenticationError(f'exec host "{hello.host}" presented the certificate of '
                                          f'{named or "no host"}')

    def verify_credential(self, credential: Any, nonce: bytes) -> tuple[int, str, str]:
        """(uid, user, host) of a TCP client's credential: signed with the cluster key, or
        with its host's secret while that host is a submit or admin host."""
        _uid, _user, host, _sig = auth.credential_fields(credential)
        key = self.hosts.get(host)
        if key is not None and not key.revoked:
            try:
                found = auth.verify_credential(self.secret(key), nonce, credential)
            except AuthenticationError:
                pass
            else:
                master = self.state
                if not (roles.is_admin_host(master, host) or host in master.config.submit_hosts):
                    raise PermissionDenied(f'denied: host "{host}" is neither submit nor admin host')
                return found
        try:
            return auth.verify_credential(self.state.key, nonce, credential)
        except AuthenticationError:
            if key is not None and key.revoked:
                raise AuthenticationError(self._revoked_message(key)) from None
            raise

    def rights(self, who: Identity) -> Identity:
        """Root of a joined host that is not an admin host is no manager: a stolen host secret
        lets its thief act as that host's users, not as the cluster's administrator."""
        if who.uid != 0 or who.host not in self.hosts or roles.is_admin_host(self.state, who.host):
            return who
        return replace(who, manager=False, operator=False)

    # ------------------------------------------------------------ before any identity: joining

    def takes(self, msg: Any) -> bool:
        return isinstance(msg, (protocol.CaRequest, protocol.JoinRequest))

    async def serve(self, msg: Any, nonce: bytes, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Answer a CaRequest or a JoinRequest (one per connection)."""
        from qsys import tls

        if self.tls is None:
            raise AuthenticationError("this cell has no TLS (no CA): hosts join only cells made by qsys init")
        if isinstance(msg, protocol.CaRequest):
            reply: Any = protocol.CaCert(self.tls.ca_pem.decode(), list(self.tls.names))
        else:
            if not tls.is_tls(writer):
                raise AuthenticationError("a host joins over the master's TLS port only")
            peer = writer.get_extra_info("peername")
            reply = await self.join(msg, str(peer[0]) if peer else "")
        protocol.write_message(writer, reply)
        await writer.drain()

    def _token_for(self, msg: protocol.JoinRequest, now: float) -> JoinTokenRecord:
        token = self.tokens.get(msg.token_id)
        if token is None or not auth.digest_matches(msg.secret, token.digest):
            raise AuthenticationError(f"join token {msg.token_id} is not valid here (unknown, or not this cell's)")
        if token.used_by or msg.token_id in self._joining:
            raise AuthenticationError(f"join token {token.id} was used already (by {token.used_by or 'a host'}"
                                      + (f" at {_when(token.used_at)}" if token.used_at else "")
                                      + "): tokens are for one join; make another with qsys token create")
        if token.revoked:
            raise AuthenticationError(f"join token {token.id} was revoked at {_when(token.revoked)}")
        if token.expires <= now:
            raise AuthenticationError(f"join token {token.id} expired at {_when(token.expires)}")
        if not fnmatch.fnmatchcase(msg.host, token.hosts):
            raise AuthenticationError(f'join token {token.id} is for hosts matching "{token.hosts}", '
                                      f'not for "{msg.host}"')
        return token

    async def join(self, msg: protocol.JoinRequest, address: str) -> protocol.JoinGrant:
        from qsys import certs

        assert self.tls is not None
        state = self.state
        now = state.clock.now()
        if not _HOST_NAME.fullmatch(msg.host) or msg.host == "global":
            raise InvalidRequest(f'"{msg.host}" is not a host name qsys accepts')
        token = self._token_for(msg, now)
        certificate = certs.issue_for_request(self.tls.ca_pem, self.tls.ca_key_pem, msg.csr.encode(), msg.host)
        old = self.hosts.get(msg.host)
        key = HostKey(msg.host, (old.serial + 1) if old else 1, not msg.submit_only, now, token.id)
        used = JoinTokenRecord(**{**asdict(token), "used_by": msg.host, "used_at": now})
        changes: list[Any] = [PutObject(JOIN_TOKEN, token.id, asdict(used)), PutObject(HOST_KEY, key.host, asdict(key))]
        self._joining.add(token.id)
        try:
            await state.config.apply_edits(state, self._host_edits(key, msg.processors), also=changes)
        finally:
            self._joining.discard(token.id)
        self.tokens[token.id] = used
        self.hosts[key.host] = key
        self._close_link(key.host)  # a link proved with the old serial ends now
        state.schedule_soon()
        log.info("host=%s joined as %s host from %s with token %s (serial %d)", key.host,
                 "exec" if key.exec_host else "submit", address or "?", token.id, key.serial)
        # the bootstrap as it is now: master hosts added since the master started are told too
        return protocol.JoinGrant(key.host, self.secret(key), certificate.decode(), key.serial, key.exec_host,
                                  state.master_candidates())

    def _host_edits(self, key: HostKey, processors: int) -> list[Edit]:
        """What joining makes of a host: a submit host, and an exec host (in @allhosts) whose
        all.q instance has its processors as slots (as Grid Engine's execd installation does)."""
        from qsys.master.attrs import edit_attribute

        config = self.state.config
        edits: list[Edit] = []
        if key.host not in config.submit_hosts:
            edits.append(("submithost", key.host, {}))
        if not key.exec_host:
            return edits
        if key.host not in config.exec_hosts or key.host in config.removed_hosts:
            edits += config.joining(key.host)
        queue = config.queues.get("all.q")
        if queue is not None and processors > 0 and key.host not in queue.overrides.get("slots", {}):
            edits.append(("queue", "all.q", edit_attribute(queue, "mattr", "slots", str(processors), key.host)))
        return edits

    def _close_link(self, host: str) -> None:
        entry = self.state.hosts.get(host)
        if entry is not None and entry.writer is not None:
            entry.writer.close()

    # ------------------------------------------------------------ revocation (qconf -de / -ds)

    async def host_removed(self, kind: str, name: str) -> None:
        """A host left the exec or submit host list: a host that joined as such is revoked."""
        key = self.hosts.get(name)
        if key is None or key.revoked or kind != ("exechost" if key.exec_host else "submithost"):
            return
        revoked = HostKey(**{**asdict(key), "revoked": self.state.clock.now()})
        await self.state.commit([PutObject(HOST_KEY, name, asdict(revoked))])
        self.hosts[name] = revoked
        self._close_link(name)
        log.warning("host=%s secret revoked (%s)", name, "qconf -de" if key.exec_host else "qconf -ds")

    # ------------------------------------------------------------ qsys token create | list | revoke

    async def token_create(self, who: Identity, msg: protocol.TokenCreate) -> protocol.TokenIssued:
        roles.require_manager(self.state, who)
        if not 60 <= msg.ttl <= MAX_TTL:
            raise InvalidRequest(f"a join token is valid from 60 seconds to {MAX_TTL // 86400} days, not {msg.ttl} s")
        if self.tls is None:
            raise InvalidRequest("this cell has no TLS (no CA): hosts join only cells made by qsys init")
        from qsys import certs

        token = auth.JoinToken.new(certs.fingerprint(self.tls.ca_pem))
        now = self.state.clock.now()
        record = JoinTokenRecord(token.id, auth.token_digest(token.secret), msg.hosts or "*", now, now + msg.ttl)
        changes: list[Any] = [PutObject(JOIN_TOKEN, token.id, asdict(record))]
        stale = [t.id for t in self.tokens.values() if max(t.expires, t.used_at, t.revoked) + TOKEN_KEPT < now]
        changes += [DeleteObject(JOIN_TOKEN, old) for old in stale]
        await self.state.commit(changes)
        for old in stale:
            del self.tokens[old]
        self.tokens[token.id] = record
        log.info("join token %s made by %s@%s for hosts %s, valid until %s", token.id, who.user, who.host,
                 record.hosts, _when(record.expires))
        return protocol.TokenIssued(str(token), self._row(record, now))

    def _row(self, token: JoinTokenRecord, now: float) -> protocol.TokenRow:
        return protocol.TokenRow(token.id, token.hosts, token.created, token.expires, token.state(now),
                                 token.used_by, token.used_at)

    async def token_list(self, who: Identity, msg: protocol.TokenList) -> protocol.TokenRows:
        if not who.manager:
            raise PermissionDenied(f'denied: "{who.user}" must be manager for this operation')
        now = self.state.clock.now()
        return protocol.TokenRows([self._row(t, now) for t in sorted(self.tokens.values(), key=lambda t: t.created)])

    async def token_revoke(self, who: Identity, msg: protocol.TokenRevoke) -> protocol.Lines:
        roles.require_manager(self.state, who)
        now = self.state.clock.now()
        lines, failed, changes, revoked = [], False, [], []
        for token_id in msg.ids:
            token = self.tokens.get(token_id)
            if token is None:
                lines.append(f"join token {token_id} does not exist")
                failed = True
            elif token.state(now) != "unused":
                lines.append(f"join token {token_id} is {token.state(now)} already")
                failed = True
            else:
                new = JoinTokenRecord(**{**asdict(token), "revoked": now})
                changes.append(PutObject(JOIN_TOKEN, token_id, asdict(new)))
                revoked.append(new)
                lines.append(f"{who.user}@{who.host} revoked join token {token_id}")
        await self.state.commit(changes)
        for new in revoked:
            self.tokens[new.id] = new
        return protocol.Lines(lines, 1 if failed else 0)


def load_tls(state: Master) -> Tls | None:
    """The master's TLS material when its cell has ``tls yes``; a missing file is an error
    that names it (the master would otherwise listen in plain text where TLS is expected)."""
    from qsys import tls

    cell = state.cell
    if not tls.enabled(state.boot):
        return None  # and no cryptography import (~10 MB of the master's memory)
    from qsys import certs

    try:
        context = tls.server_context(cell)
        ca_key = cell.ca_key.read_bytes()
        ca_pem = cell.ca_cert.read_bytes()
        names = certs.names_of(cell.host_cert.read_bytes())
    except OSError as exc:
        raise AuthenticationError(f"the cell says tls yes but {exc.filename} cannot be read: {exc.strerror} "
                                  "(qsys init makes the CA and the master's certificate)") from None
    return Tls(context, tls.own_binding(cell), ca_pem, ca_key, names)
