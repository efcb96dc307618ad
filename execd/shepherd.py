"""The shepherd: one per task, the parent of the job for as long as it runs.

It is forked by the forkserver (``child_main``), leaves the daemon's session, and then works
only from and into its task directory (see ``execd.spool``), so the exec daemon may die and
come back while the job runs. Steps: identity decision and audit line, TMPDIR, environment,
output files, prolog, the job (own process group; identity switched; limits as rlimits),
s_rt/h_rt timers, ``wait4``, epilog, TMPDIR removed, ``exit.json`` written atomically.

Failure codes (``failed`` in the report, after Grid Engine's accounting(5)):

====  =====================================================================
 1    assumedly before job (the task directory could not be read)
 8    in prolog (prolog exited non-zero or could not run)
 11   before job (identity refused, TMPDIR, exec failed)
 15   in epilog
 24   migrating (a checkpointing job killed to move, see ``execd.checkpoint``)
 26   opening input/output file
 27   searching requested shell
 28   changing to working directory
 37   h_rt limit exceeded (the process group was killed)
====  =====================================================================

A failure before the job (codes 11, 26, 27, 28 and 8) also sets ``error_state`` so the master
puts the job in error state, as Grid Engine does; exit status 99 sets ``rerun``, 100 sets
``error_state``.

Start modes (``shell_start_mode``): ``posix_compliant`` runs ``<shell> <script> args`` with the
shell from ``-S`` or the queue, as a login shell (argv[0] ``-name``) when its basename is in
``login_shells``; ``unix_behavior`` executes the script itself (its ``#!`` line) unless ``-S``
was given, falling back to the queue's shell for a script without ``#!``;
``script_from_stdin`` feeds the script to the shell on stdin. ``-b y`` executes the command
with its arguments exactly as given (PATH search in the job's PATH). A login shell puts the
job's TMPDIR and the qsys commands' directory first in PATH again after its profile
(``login_shell_argv``).
"""

from __future__ import annotations

import errno
import os
import resource
import select
import shutil
import signal
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from execd import identity, petask, procs, reaper
from execd.checkpoint import MIGRATING, Checkpointing
from execd.environment import JobFacts, build, job_name, login_shell_argv, path_prefix
from execd.pestart import pe_command
from execd.spool import PE_HOSTFILE, TRACE, TaskDir
from execd.usage import (
    SAMPLE_SECONDS,
    GroupSampler,
    empty_report,
    merge_usage,
    report_from_wait,
    rusage_delta,
)
from qsys import output_paths
from qsys.launch import Launch

BEFORE_JOB_READ = 1
IN_PROLOG = 8  # sge_status(5) numbering, as qacct prints it
IN_PESTART = 10
BEFORE_JOB = 11
IN_PESTOP = 13
IN_EPILOG = 15
NO_OUTPUT = 26
NO_SHELL = 27
NO_CWD = 28
H_RT = 37
IN_CHECKPOINT = -1  # a checkpointing interface's command (its failure fails nothing)

FAILURE_TEXT = {
    BEFORE_JOB_READ: "assumedly before job", IN_PROLOG: "in prolog", BEFORE_JOB: "before job",
    IN_PESTART: "in pestart", IN_PESTOP: "in pestop",
    IN_EPILOG: "in epilog", NO_OUTPUT: "opening input/output file", NO_SHELL: "searching requested shell",
    NO_CWD: "changing to working directory", H_RT: "h_rt limit exceeded",
}


class StartFailed(Exception):
    """A failure before the job ran: a failure code and a text for the user."""

    def __init__(self, code: int, text: str) -> None:
        super().__init__(text)
        self.code = code
        self.text = text


@dataclass
class Plan:
    """Everything the job child needs, computed in the shepherd before forking."""

    ident: identity.Identity
    cwd: str
    files: output_paths.OutputPlan
    env: dict[str, str]
    exe: str
    argv: list[str]
    search_path: bool  # -b y: look the command up in the job's PATH
    fallback: list[str] | None  # unix_behavior: how to run a script without "#!"
    stdin_script: str | None  # script_from_stdin: the script feeds the shell's stdin
    launch: Launch


def _login_shell(launch: Launch) -> bool:
    """Whether the job's script runs in a login shell that reads it with ``login_shell_argv``."""
    spec = launch.spec
    mode = launch.shell_start_mode or "posix_compliant"
    if spec.get("binary") or mode == "script_from_stdin" or (mode == "unix_behavior" and not spec.get("shell")):
        return False
    return os.path.basename(str(spec.get("shell") or launch.shell or "/bin/sh")) in launch.login_shells


def _command(launch: Launch, script: str, first: str) -> tuple[str, list[str], bool, list[str] | None, str | None]:
    """(exe, argv, search_path, fallback argv, stdin script) for the job; ``first`` is what a
    login shell puts first in PATH after its profile."""
    spec = launch.spec
    args = [str(a) for a in spec.get("args") or []]
    if spec.get("binary"):
        command = str(spec.get("command") or "")
        return command, [command, *args], True, None, None
    shell = str(spec.get("shell") or launch.shell or "/bin/sh")
    mode = launch.shell_start_mode or "posix_compliant"
    if mode == "unix_behavior" and not spec.get("shell"):
        return script, [script, *args], False, [shell, script, *args], None
    if not os.access(shell, os.X_OK):
        raise StartFailed(NO_SHELL, f"cannot find or execute shell {shell}")
    base = os.path.basename(shell)
    argv0 = f"-{base}" if base in launch.login_shells else shell
    if mode == "script_from_stdin":
        return shell, [argv0, "-s", *args], False, None, script
    if _login_shell(launch) and first:  # the PE's rsh wrapper in TMPDIR and our qsub stay first in PATH
        argv = login_shell_argv(argv0, first, script, args)
        if argv is not None:
            return shell, argv, False, None, None
    return shell, [argv0, script, *args], False, None, None


def _open(path: str, flags: int) -> int:
    try:
        return os.open(path, flags, 0o644)
    except OSError as exc:
        raise StartFailed(NO_OUTPUT, f"can't open {path}: {exc.strerror}") from None


def limits(launch: Launch) -> list[tuple[int, int, int]]:
    """(resource, soft, hard) of the job's rlimits (``resource.RLIM_INFINITY``: unlimited)."""
    out = []
    for res, soft, hard in ((resource.RLIMIT_AS, launch.s_vmem, launch.h_vmem),
                            (resource.RLIMIT_CPU, launch.s_cpu, launch.h_cpu)):
        if soft is None and hard is None:
            continue
        h = int(hard) if hard is not None else resource.RLIM_INFINITY
        s = int(soft) if soft is not None else h
        out.append((res, min(s, h) if h != resource.RLIM_INFINITY else s, h))
    return out


def _set_limits(launch: Launch) -> None:
    for res, soft, hard in limits(launch):
        resource.setrlimit(res, (soft, hard))


def tmpdir_path(launch: Launch) -> str:
    """The job's TMPDIR as it is named when the name is free."""
    path = os.path.join(launch.tmpdir_base or "/tmp", f"{launch.task_key}.{launch.queue}")
    if launch.pe_task_id:
        path += f".{launch.pe_task_id}"  # the master task's TMPDIR on this host stays its own
    return path


def job_plan(tdir: TaskDir, launch: Launch, ident: identity.Identity, tmpdir: str, conf: dict[str, Any]) -> Plan:
    """What the job child does (StartFailed when the shell is missing): the shepherd's plan,
    which the exec daemon also writes for the lean shepherd (``execd.lean``)."""
    spec = launch.spec
    cwd = str(spec.get("cwd") or ident.home)
    name = job_name(launch)
    ctx = output_paths.PathContext(launch.job_id, launch.task_id, launch.is_array, name, ident.home,
                                   ident.user, launch.host, cwd)
    files = output_paths.plan(list(spec.get("stdout_paths") or []), list(spec.get("stderr_paths") or []),
                              spec.get("stdin_path"), bool(spec.get("join")), ctx)
    script = str(tdir.script_path)
    hostfile = tdir.file(PE_HOSTFILE)
    facts = JobFacts(
        user=ident.user, home=ident.home, cwd=cwd, tmpdir=tmpdir, task_dir=str(tdir.path),
        job_script=str(spec.get("command") or "") if spec.get("binary") else script,
        job_name=name, shell=str(spec.get("shell") or launch.shell or "/bin/sh"),
        stdout=files.stdout, stderr=files.stderr, stdin=files.stdin,
        pe_hostfile=str(hostfile) if hostfile.exists() else None,
        qsys_root=str(conf.get("qsys_root") or ""), cell=str(conf.get("cell") or ""),
        binary_path=str(conf.get("binary_path") or ""),
    )
    login = _login_shell(launch)
    exe, argv, search, fallback, stdin_script = _command(launch, script, ":".join(path_prefix(launch, facts, login)))
    env = build(launch, facts, login)
    env.update(petask.inherit_env(launch, conf))
    return Plan(ident, cwd, files, env, exe, argv, search, fallback, stdin_script, launch)


def _child(plan: Plan, argv: list[str], err_w: int) -> None:
    """In the forked job child: become the job and exec; report a failure on ``err_w``."""
    try:
        os.setpgid(0, 0)
        for sig in (signal.SIGPIPE, signal.SIGUSR1, signal.SIGUSR2, signal.SIGTERM, signal.SIGINT,
                    signal.SIGHUP, signal.SIGXCPU, signal.SIGCHLD):
            signal.signal(sig, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_SETMASK, set())
        try:
            identity.switch(plan.ident)
        except (OSError, identity.IdentityRefused) as exc:
            raise StartFailed(BEFORE_JOB, f"cannot switch to user {plan.ident.user}: {exc}") from None
        try:
            os.chdir(plan.cwd)
        except OSError as exc:
            raise StartFailed(NO_CWD, f"error: can't chdir to {plan.cwd}: {exc.strerror}") from None
        stdin = _open(plan.stdin_script or plan.files.stdin, os.O_RDONLY)
        out = _open(plan.files.stdout, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
        err = out if plan.files.joined else _open(plan.files.stderr, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
        for src, dst in ((stdin, 0), (out, 1), (err, 2)):
            os.dup2(src, dst)
        os.closerange(3, err_w)
        os.closerange(err_w + 1, 65536)
        _set_limits(plan.launch)
        try:
            if plan.search_path:
                os.execvpe(plan.exe, argv, plan.env)
            os.execve(plan.exe, argv, plan.env)
        except OSError as exc:
            if exc.errno == errno.ENOEXEC and plan.fallback:
                os.execve(plan.fallback[0], plan.fallback, plan.env)
            raise StartFailed(BEFORE_JOB, f"cannot execute {plan.exe}: {exc.strerror}") from None
    except StartFailed as exc:
        os.write(err_w, f"{exc.code}\n{exc.text}".encode())
    except BaseException as exc:  # noqa: B036 - nothing may escape a forked child
        os.write(err_w, f"{BEFORE_JOB}\n{type(exc).__name__}: {exc}".encode())
    os._exit(127)


def _spawn(plan: Plan, argv: list[str]) -> tuple[int, float]:
    """Fork the job (or prolog/epilog) child; StartFailed when it failed before exec."""
    err_r, err_w = os.pipe2(os.O_CLOEXEC)
    pid = os.fork()
    if pid == 0:
        os.close(err_r)
        _child(plan, argv, err_w)
    started = time.time()
    os.close(err_w)
    try:
        os.setpgid(pid, pid)
    except OSError:
        pass  # the child did it already (or has exec'ed)
    with os.fdopen(err_r, "rb") as f:
        message = f.read().decode(errors="replace")
    if message:
        os.waitpid(pid, 0)
        code, _, text = message.partition("\n")
        raise StartFailed(int(code), text)
    return pid, started


class Shepherd:
    def __init__(self, tdir: TaskDir, spool_root: Path) -> None:
        self.tdir = tdir
        self.spool_root = spool_root
        self.limit_hit = ""
        self.sampler: GroupSampler | None = None
        self.reaped: dict[int, tuple[int, resource.struct_rusage]] = {}  # job pid reaped early

    # ------------------------------------------------------------ plan

    def _plan(self, launch: Launch, ident: identity.Identity, tmpdir: str) -> Plan:
        self._hand_over(ident, [self.tdir.script_path, self.tdir.file(PE_HOSTFILE)])
        return job_plan(self.tdir, launch, ident, tmpdir, self.tdir.execd_conf())

    @staticmethod
    def _hand_over(ident: identity.Identity, paths: list[Path]) -> None:
        """The files of the task directory the job itself reads (its script, the PE host
        file): the exec daemon writes them for itself only; they become the job user's,
        readable by nobody else."""
        if not ident.switch:
            return
        for path in paths:
            try:
                os.chown(path, ident.uid, ident.gid)
            except FileNotFoundError:
                continue
            except OSError as exc:
                raise StartFailed(BEFORE_JOB, f"cannot hand {path.name} to {ident.user}: {exc.strerror}") from None

    def _make_tmpdir(self, launch: Launch, ident: identity.Identity) -> str:
        base = launch.tmpdir_base or "/tmp"
        path = tmpdir_path(launch)
        try:
            try:
                os.mkdir(path, 0o700)
            except OSError:
                # the name is taken, by another cluster's job on this machine (job numbers
                # are per cluster) or by a run of this one whose shepherd died: neither is
                # ours to remove (the first is in use): a unique name with the same start
                path = tempfile.mkdtemp(prefix=f"{launch.task_key}.{launch.queue}.", dir=base)
            self.tdir.write_tmpdir(path)
            if ident.switch:
                os.chown(path, ident.uid, ident.gid)
        except OSError as exc:
            raise StartFailed(BEFORE_JOB, f"cannot create TMPDIR {path}: {exc.strerror}") from None
        return path

    # ------------------------------------------------------------ prolog / epilog

    def _aux(self, plan: Plan, command: str, code: int) -> None:
        argv = ["/bin/sh", "-c", command]
        aux = Plan(plan.ident, plan.cwd, plan.files, plan.env, "/bin/sh", argv, False, None, None, plan.launch)
        pid, _ = _spawn(aux, argv)
        _, status = os.waitpid(pid, 0)
        if os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0:
            return
        what = {IN_PROLOG: "prolog", IN_PESTART: "start_proc_args", IN_PESTOP: "stop_proc_args",
                IN_CHECKPOINT: "command"}.get(code, "epilog")
        raise StartFailed(code, f"{what} {command!r} failed with status {os.waitstatus_to_exitcode(status)}")

    def _interface(self, plan: Plan, command: str) -> None:
        """A checkpointing interface's command as the job owner; a failure is only traced."""
        try:
            self._aux(plan, command, IN_CHECKPOINT)
        except StartFailed as exc:
            print(f"shepherd: checkpointing command {command!r}: {exc.text}", file=sys.stderr)

    # ------------------------------------------------------------ wait with timers

    def _wait(self, pid: int, started: float, launch: Launch,
              ckpt: Checkpointing | None = None) -> tuple[int, resource.struct_rusage]:
        timers: list[tuple[float, int, str]] = []
        if launch.s_rt is not None:
            timers.append((started + launch.s_rt, signal.SIGUSR1, "s_rt"))
        if launch.h_rt is not None:
            timers.append((started + launch.h_rt, signal.SIGKILL, "h_rt"))
        timers.sort()
        pidfd = os.pidfd_open(pid)
        next_sample = time.time() + 0.5  # a job that ends sooner is measured at its end only
        try:
            while True:
                now = time.time()
                if now >= next_sample:
                    self._sample(now)
                    next_sample = now + SAMPLE_SECONDS
                    # orphans re-parented to us (we are their subreaper) are reaped as they end
                    early = reaper.reap_nohang(pid)
                    if early is not None:
                        return early
                    if ckpt is not None and not ckpt.migrated:
                        if self.tdir.migrate_requested():
                            ckpt.migrate(pid)
                        else:
                            ckpt.tick(now, pid)
                deadline = min([next_sample, *(t[0] for t in timers[:1])])
                ready, _, _ = select.select([pidfd], [], [], max(0.0, deadline - time.time()))
                if ready:
                    done, status, ru = os.wait4(pid, os.WNOHANG)
                    if done:
                        return status, ru
                    continue
                if not timers or time.time() < timers[0][0]:
                    continue
                _, sig, name = timers.pop(0)
                if name == "h_rt":
                    self.limit_hit = "h_rt"
                try:
                    os.killpg(pid, sig)
                except ProcessLookupError:
                    pass
                if sig == signal.SIGKILL and launch.extra_gid is not None:
                    procs.kill_gid(launch.extra_gid)
        finally:
            os.close(pidfd)

    def _sample(self, now: float) -> list[int] | None:
        """Sample the group ID's carriers; the pids found (None: no sample was taken)."""
        if self.sampler is None:
            return None
        self.sampler.carriers = None
        try:
            self.sampler.sample(now)
            self.tdir.write_usage({"time": now, "maxvmem": self.sampler.maxvmem, "mem": self.sampler.mem,
                                   **self.sampler.foreign()})
        except OSError as exc:
            print(f"shepherd: usage sample failed: {exc}", file=sys.stderr)
        return self.sampler.carriers

    # ------------------------------------------------------------ the whole run

    def run(self) -> dict[str, Any]:
        t0 = time.time()
        try:
            launch = self.tdir.launch()
            policy = identity.IdentityPolicy.from_conf(self.tdir.execd_conf())
        except (OSError, ValueError, TypeError) as exc:
            return self._failed(None, BEFORE_JOB_READ, f"cannot read the task directory: {exc}", t0, False)
        audit = self.spool_root / "audit"
        try:
            ident = identity.decide(policy, launch)
        except identity.IdentityRefused as exc:
            identity.audit(audit, launch, None, "refuse", str(exc))
            return self._failed(None, BEFORE_JOB, str(exc), t0, True)
        identity.audit(audit, launch, ident, identity.action_of(ident))
        tmpdir = ""
        try:
            tmpdir = self._make_tmpdir(launch, ident)
            plan = self._plan(launch, ident, tmpdir)
            return self._run_job(launch, plan, t0)
        except StartFailed as exc:
            return self._failed(launch, exc.code, exc.text, t0, True)
        finally:
            if tmpdir:
                shutil.rmtree(tmpdir, ignore_errors=True)

    def _run_job(self, launch: Launch, plan: Plan, t0: float) -> dict[str, Any]:
        if launch.prolog:
            self._aux(plan, launch.prolog, IN_PROLOG)
        if launch.pe_start:
            self._aux(plan, pe_command(launch.pe_start, launch, plan.env), IN_PESTART)
        if self.tdir.kill_signal() is not None:
            report = empty_report(t0, time.time())
            report.update(killed=True, failed=BEFORE_JOB, error="killed before it started")
            return report
        if launch.pe_task_id:
            return petask.run(self, launch, plan)
        if launch.session is not None:
            from execd import startup

            return startup.run_session(self, launch, plan)
        if launch.extra_gid is not None and os.geteuid() == 0:
            self.sampler = GroupSampler(launch.extra_gid, lambda: reaper.shepherd_pids(self.spool_root))
        children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
        io_before = procs.read_io("self")
        pid, started = _spawn(plan, plan.argv)
        self.tdir.write_job_pid(pid)
        sig = self.tdir.kill_signal()  # a KillJob that came before job.pid existed
        if sig is not None:
            try:
                os.killpg(pid, sig)
            except ProcessLookupError:
                pass
        ckpt = (Checkpointing(launch, plan.env.get("JOB_NAME", ""), lambda cmd: self._interface(plan, cmd), started)
                if launch.checkpoint else None)
        status, ru = self._wait(pid, started, launch, ckpt)
        ended = time.time()
        carried = self._sample(ended)  # the foreign processes as they were when the job ended
        # leftovers: the job's process group, every carrier of its group ID, and whatever is
        # still below us (orphans re-parented to the shepherd); all reaped, so their usage counts
        reaper.end_all(pid, launch.extra_gid, carried_after_job=carried)
        children = rusage_delta(resource.getrusage(resource.RUSAGE_CHILDREN), children_before)
        report = report_from_wait(status, ru, started, ended)
        merge_usage(report, children, max(0, procs.read_io("self") - io_before), self.sampler)
        report["killed"] = self.tdir.kill_signal() is not None
        if self.limit_hit == "h_rt":
            report.update(failed=H_RT, error=f"job {launch.task_key} exceeded hard wallclock time h_rt")
        if ckpt is not None and ckpt.migrated:
            report.update(failed=MIGRATING, error=f"job {launch.task_key} migrating", rerun=True)
        elif ckpt is not None:
            ckpt.clean(pid)
        if launch.pe_stop:
            try:
                self._aux(plan, pe_command(launch.pe_stop, launch, plan.env), IN_PESTOP)
            except StartFailed as exc:
                report.update(failed=exc.code, error=exc.text)
        if launch.epilog:
            try:
                self._aux(plan, launch.epilog, IN_EPILOG)
            except StartFailed as exc:
                report.update(failed=exc.code, error=exc.text)
        return report

    def _failed(self, launch: Launch | None, code: int, text: str, t0: float, error_state: bool) -> dict[str, Any]:
        report = empty_report(0.0, time.time())
        report.update(failed=code, error=text, error_state=error_state, exit_status=0)
        self.tdir.write_error(text)
        print(f"shepherd: failed {code} ({FAILURE_TEXT.get(code, '')}): {text}", file=sys.stderr)
        return report


def child_main(task_path: str, spool_root: str | None = None, session_fd: int | None = None) -> int:
    """Run as a fresh shepherd in a forked process: returns the exit code for ``os._exit``.

    ``session_fd`` (interactive jobs) is the listening socket of the session; it is kept as
    fd 3 (``execd.startup.LISTENER_FD``)."""
    os.setsid()
    for sig in (signal.SIGCHLD, signal.SIGINT, signal.SIGTERM, signal.SIGPIPE):
        signal.signal(sig, signal.SIG_DFL)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    tdir = TaskDir(Path(task_path))
    null = os.open(os.devnull, os.O_RDWR)
    try:
        trace = os.open(tdir.file(TRACE), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    except OSError:
        trace = null
    for fd, src in ((0, null), (1, null), (2, trace)):
        os.dup2(src, fd)
    if session_fd is not None:
        os.dup2(session_fd, 3)
        os.closerange(4, 65536)
    else:
        os.closerange(3, 65536)
    sys.stdout = open(1, "w", closefd=False, errors="backslashreplace")  # noqa: SIM115
    sys.stderr = open(2, "w", closefd=False, buffering=1, errors="backslashreplace")  # noqa: SIM115
    tdir.write_shepherd_pid(os.getpid())
    reaper.become_subreaper()
    root = Path(spool_root) if spool_root else tdir.path.parent.parent
    try:
        report = Shepherd(tdir, root).run()
    except BaseException as exc:  # noqa: B036 - the report must be written whatever happened
        report = empty_report(0.0, time.time())
        report.update(failed=BEFORE_JOB_READ, error=f"shepherd error: {type(exc).__name__}: {exc}")
    tdir.write_exit(report)
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m execd.shepherd <task dir>``: run one shepherd in the foreground (tests, debugging)."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m execd.shepherd TASK_DIR", file=sys.stderr)
        return 2
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            code = child_main(args[0])
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


if __name__ == "__main__":
    sys.exit(main())
