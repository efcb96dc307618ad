"""libdrmaa.so against a real personal cluster: a plain C program, and drmaa-python running
the examples of its documentation (session, run, wait, bulk jobs, control, job status)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.clusterlib import REPO, Cluster, wait_until
from tests.drmaalib import drmaa_env


def helpers_of(cluster: Cluster) -> list[int]:
    """Running DRMAA helper processes of this cluster (zombies do not count)."""
    found = []
    for pid in cluster.leftover_processes():
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmdline = f.read()
            with open(f"/proc/{pid}/stat", "rb") as f:
                state = f.read().rsplit(b")", 1)[1].split()[0]
        except OSError:
            continue
        if b"qsys.drmaa.helper" in cmdline and state != b"Z":
            found.append(pid)
    return found


def run_python(cluster: Cluster, libdrmaa: Path, code: str, cwd: Path,
               timeout: float = 180) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=drmaa_env(cluster, libdrmaa),
                          cwd=cwd, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


# --------------------------------------------------------------------------- a C program


def test_plain_c_program(cluster: Cluster, libdrmaa: Path, workdir: Path) -> None:
    program = workdir / "drmaa_check"
    subprocess.run(["gcc", "-Wall", "-Werror", "-I", str(REPO / "drmaa"), "-o", str(program),
                    str(REPO / "tests" / "helpers" / "drmaa_check.c"), f"-L{libdrmaa.parent}",
                    "-ldrmaa", f"-Wl,-rpath,{libdrmaa.parent}"], check=True)
    proc = subprocess.run([str(program), str(workdir)], env=cluster.env, cwd=workdir,
                          capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    seen = dict(line.split("=", 1) for line in proc.stdout.splitlines() if "=" in line)
    assert seen["version"] == "1.0"
    assert seen["before_init"] == "5"  # NO_ACTIVE_SESSION
    assert seen["init_twice"] == "11"  # ALREADY_ACTIVE_SESSION
    assert seen["contact"].startswith("session=") and seen["drm_system"].startswith("qsys ")
    assert seen["bad_attribute"] == "4"  # INVALID_ARGUMENT
    assert seen["bad_attribute_text"] == "The input value for an argument is invalid."
    assert (seen["single_id_same"], seen["single_exited"], seen["single_status"]) == ("1", "1", "7")
    assert int(seen["rusage_entries"]) == 35 and seen["rusage_exit_status"] == "7.0000"
    assert "rusage_ru_wallclock" in seen and seen["rusage_end"] == "25"  # NO_MORE_ELEMENTS
    assert seen["wait_reaped"] == "18"  # INVALID_JOB once reaped
    assert (workdir / "single.out").read_text() == "hello from single\n"
    assert seen["bulk_count"] == "3"
    tasks = [line for line in proc.stdout.splitlines() if line.startswith("bulk_task=")]
    assert [t.split()[1:] for t in tasks] == [["ps=48", "exited=1"]] * 3  # DONE
    assert [t.split()[0].rsplit(".", 1)[1] for t in tasks] == ["1", "3", "5"]
    for task in (1, 3, 5):
        assert (workdir / f"bulk.{task}").read_text() == f"task {task}\n"
    assert seen["held_ps"] == str(0x12) and seen["wait_timeout"] == "23"  # EXIT_TIMEOUT
    assert seen["running_ps"] == str(0x20) and seen["suspended_ps"] == str(0x22)
    assert seen["suspend_twice"] == "20" and seen["resumed_ps"] == str(0x20)
    assert (seen["terminated_same"], seen["terminated_aborted"]) == ("1", "1")
    assert seen["wait_any_none_left"] == "18"
    assert (seen["signaled"], seen["signal"]) == ("1", "SIGTERM")
    assert seen["ps_bad_id"] == "4" and seen["ps_bad_id_diag"] == 'Job id, "abc", is not a valid job id'
    assert seen["ps_unknown"] == "18"
    assert seen["strerror_no_more"] == "no more elements are contained in the opaque string vector"
    assert seen["strerror_out_of_range"] == "null"
    assert seen["exit_twice"] == "5"
    wait_until(lambda: not helpers_of(cluster), 10, "the helper to end after drmaa_exit")


def test_init_reports_an_unreachable_master_or_a_missing_helper(qsys_root: Path, libdrmaa: Path) -> None:
    code = """
        import drmaa
        try:
            drmaa.Session().initialize()
        except drmaa.errors.DrmsInitException as exc:
            print(exc)
        """
    env = dict(os.environ, QSYS_ROOT=str(qsys_root), DRMAA_LIBRARY_PATH=str(libdrmaa),
               PYTHONPATH=str(REPO))
    env.pop("QSYS_MASTER", None)
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env, capture_output=True,
                         text=True, timeout=60).stdout
    assert out.startswith("code 10: error: no qsys cluster in")
    env["QSYS_DRMAA_PYTHON"] = "/nonexistent/python"
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env, capture_output=True,
                         text=True, timeout=60).stdout
    assert "code 10: the qsys DRMAA helper did not start" in out and "/nonexistent/python" in out


def test_helper_ends_with_the_program(cluster: Cluster, libdrmaa: Path, workdir: Path) -> None:
    """A program that never calls drmaa_exit leaves no helper behind."""
    run_python(cluster, libdrmaa, """
        import drmaa
        s = drmaa.Session()
        s.initialize()
        print(s.contact)
        """, workdir)
    wait_until(lambda: not helpers_of(cluster), 10, "the helper to end with its program")


# --------------------------------------------------------------------------- drmaa-python's examples

SLEEPER = """#!/bin/bash
echo "Hello world, the answer is $1"
sleep ${3:-1}
echo "$2 Bye world!"
"""

STATUS_TEXT = """
    import drmaa
    decodestatus = {
        drmaa.JobState.UNDETERMINED: 'process status cannot be determined',
        drmaa.JobState.QUEUED_ACTIVE: 'job is queued and active',
        drmaa.JobState.SYSTEM_ON_HOLD: 'job is queued and in system hold',
        drmaa.JobState.USER_ON_HOLD: 'job is queued and in user hold',
        drmaa.JobState.USER_SYSTEM_ON_HOLD: 'job is queued and in user and system hold',
        drmaa.JobState.RUNNING: 'job is running',
        drmaa.JobState.SYSTEM_SUSPENDED: 'job is system suspended',
        drmaa.JobState.USER_SUSPENDED: 'job is user suspended',
        drmaa.JobState.DONE: 'job finished normally',
        drmaa.JobState.FAILED: 'job finished, but failed',
    }
"""


@pytest.fixture
def sleeper(workdir: Path) -> Path:
    script = workdir / "sleeper.sh"
    script.write_text(SLEEPER)
    script.chmod(0o755)
    return script


def test_python_session_and_drm_information(cluster: Cluster, libdrmaa: Path, workdir: Path) -> None:
    out = run_python(cluster, libdrmaa, """
        import drmaa
        s = drmaa.Session()
        print('Before: contact %r, DRM %s, implementation %s' % (s.contact, s.drmsInfo, s.drmaaImplementation))
        s.initialize()
        print('A session was started successfully')
        print('Supported contact strings: %s' % s.contact)
        print('Supported DRM systems: %s' % s.drmsInfo)
        print('Supported DRMAA implementations: %s' % s.drmaaImplementation)
        print('Version {}'.format(s.version))
        s.exit()
        with drmaa.Session() as again:
            print('A session was started successfully')
        """, workdir).stdout
    assert "Before: contact '', DRM qsys " in out
    assert out.count("A session was started successfully") == 2
    assert "Supported contact strings: session=" in out and "Version 1.0" in out


def test_python_run_and_wait(cluster: Cluster, libdrmaa: Path, workdir: Path, sleeper: Path) -> None:
    out = run_python(cluster, libdrmaa, """
        import drmaa, os
        with drmaa.Session() as s:
            jt = s.createJobTemplate()
            jt.remoteCommand = os.path.join(os.getcwd(), 'sleeper.sh')
            jt.args = ['42', 'Simon says:']
            jt.joinFiles = True
            jt.outputPath = ':' + os.path.join(os.getcwd(), 'sleeper.out')
            print('attributes', jt.attributeNames)
            jobid = s.runJob(jt)
            print('Your job has been submitted with ID %s' % jobid)
            retval = s.wait(jobid, drmaa.Session.TIMEOUT_WAIT_FOREVER)
            print('Job: {0} finished with status {1}'.format(retval.jobId, retval.hasExited))
            print('exit', retval.exitStatus, 'cpu' in retval.resourceUsage, retval.resourceUsage['exit_status'])
            s.deleteJobTemplate(jt)
        """, workdir).stdout
    job_id = out.split("submitted with ID ")[1].split()[0]
    assert f"Job: {job_id} finished with status True" in out
    assert "exit 0 True 0.0000" in out and "'drmaa_native_specification'" in out
    assert (workdir / "sleeper.out").read_text() == "Hello world, the answer is 42\nSimon says: Bye world!\n"


def test_python_bulk_jobs(cluster: Cluster, libdrmaa: Path, workdir: Path, sleeper: Path) -> None:
    out = run_python(cluster, libdrmaa, """
        import drmaa, os
        with drmaa.Session() as s:
            jt = s.createJobTemplate()
            jt.remoteCommand = os.path.join(os.getcwd(), 'sleeper.sh')
            jt.args = ['$drmaa_incr_ph$', 'Task', '0']
            jt.outputPath = ':' + os.getcwd() + '/' + drmaa.JobTemplate.PARAMETRIC_INDEX + '.out'
            jt.joinFiles = True
            joblist = s.runBulkJobs(jt, 1, 9, 4)
            print('Your jobs have been submitted with IDs %s' % ' '.join(joblist))
            s.synchronize(joblist, drmaa.Session.TIMEOUT_WAIT_FOREVER, False)
            for curjob in joblist:
                print('Collecting job ' + curjob)
                retval = s.wait(curjob, drmaa.Session.TIMEOUT_WAIT_FOREVER)
                print('Job: {0} finished with status {1}'.format(retval.jobId, retval.hasExited))
            again = s.runBulkJobs(jt, 1, 2, 1)
            s.synchronize([drmaa.Session.JOB_IDS_SESSION_ALL], drmaa.Session.TIMEOUT_WAIT_FOREVER, True)
            try:
                s.wait(again[0], drmaa.Session.TIMEOUT_NO_WAIT)
            except drmaa.errors.InvalidJobException:
                print('disposed')
        """, workdir).stdout
    ids = out.split("submitted with IDs ")[1].split("\n")[0].split()
    assert [i.rsplit(".", 1)[1] for i in ids] == ["1", "5", "9"]
    for job_id in ids:
        assert f"Job: {job_id} finished with status True" in out
    assert "disposed" in out
    # the argument was not a placeholder for the job, only paths are: it came through as is
    assert (workdir / "5.out").read_text() == "Hello world, the answer is $drmaa_incr_ph$\nTask Bye world!\n"


def test_python_control_and_job_status(cluster: Cluster, libdrmaa: Path, workdir: Path,
                                       sleeper: Path) -> None:
    out = run_python(cluster, libdrmaa, STATUS_TEXT + """
    import os, time

    def until(session, jobid, state):
        deadline = time.monotonic() + 30
        while session.jobStatus(jobid) != state and time.monotonic() < deadline:
            time.sleep(0.05)
        return session.jobStatus(jobid)

    with drmaa.Session() as s:
        jt = s.createJobTemplate()
        jt.workingDirectory = os.getcwd()  # the default output files go there
        jt.remoteCommand = os.path.join(os.getcwd(), 'sleeper.sh')
        jt.args = ['42', 'Simon says:', '300']
        jt.jobSubmissionState = drmaa.JobSubmissionState.HOLD_STATE
        jobid = s.runJob(jt)
        print('held:', decodestatus[s.jobStatus(jobid)])
        s.control(jobid, drmaa.JobControlAction.RELEASE)
        print('released:', decodestatus[until(s, jobid, drmaa.JobState.RUNNING)])
        s.control(jobid, drmaa.JobControlAction.SUSPEND)
        print('suspended:', decodestatus[until(s, jobid, drmaa.JobState.USER_SUSPENDED)])
        s.control(jobid, drmaa.JobControlAction.RESUME)
        print('resumed:', decodestatus[until(s, jobid, drmaa.JobState.RUNNING)])
        s.control(jobid, drmaa.JobControlAction.TERMINATE)
        print('Job %s deleted' % jobid)
        print('Job status:', decodestatus[until(s, jobid, drmaa.JobState.FAILED)])
        info = s.wait(jobid, drmaa.Session.TIMEOUT_WAIT_FOREVER)
        print('aborted', info.wasAborted)
        try:
            s.control('999999', drmaa.JobControlAction.TERMINATE)
        except drmaa.errors.InvalidJobException as exc:
            print('unknown job:', exc)
    """, workdir).stdout
    assert "held: job is queued and in user hold" in out
    assert "released: job is running" in out and "resumed: job is running" in out
    assert "suspended: job is user suspended" in out
    assert "Job status: job finished, but failed" in out and "aborted True" in out
    assert 'unknown job: code 18: denied: job "999999" does not exist' in out


def test_python_threads_wait_while_others_submit(cluster: Cluster, libdrmaa: Path, workdir: Path) -> None:
    """A thread blocked in wait (forever) does not hold up another thread's calls."""
    out = run_python(cluster, libdrmaa, """
        import drmaa, os, threading
        with drmaa.Session() as s:
            jt = s.createJobTemplate()
            jt.workingDirectory = os.getcwd()  # the default output files go there
            jt.remoteCommand = '/bin/sleep'
            jt.args = ['300']
            long_job = s.runJob(jt)
            result = {}
            waiter = threading.Thread(target=lambda: result.update(info=s.wait(long_job, -1)))
            waiter.start()
            jt.args = ['0']
            short_job = s.runJob(jt)
            print('short', s.wait(short_job, 120).hasExited, s.jobStatus(long_job))
            s.control(long_job, drmaa.JobControlAction.TERMINATE)
            waiter.join(120)
            print('long', result['info'].jobId == long_job, result['info'].wasAborted)
        """, workdir).stdout
    assert "short True running" in out and "long True True" in out


def test_python_wait_forever_for_a_job_deleted_while_pending(cluster: Cluster, libdrmaa: Path,
                                                            workdir: Path) -> None:
    """The master wakes no WaitJobs waiter for a job deleted before it started: the wait
    notices on its own."""
    out = run_python(cluster, libdrmaa, """
        import drmaa, os, threading
        with drmaa.Session() as s:
            jt = s.createJobTemplate()
            jt.workingDirectory = os.getcwd()  # the default output files go there
            jt.remoteCommand = '/bin/true'
            jt.jobSubmissionState = drmaa.JobSubmissionState.HOLD_STATE
            held = s.runJob(jt)
            result = []
            def wait():
                try:
                    s.wait(held, drmaa.Session.TIMEOUT_WAIT_FOREVER)
                except Exception as exc:
                    result.append(str(exc))
            waiter = threading.Thread(target=wait)
            waiter.start()
            s.control(held, drmaa.JobControlAction.TERMINATE)
            waiter.join(60)
            print('waited:', result)
        """, workdir).stdout
    assert "waited: ['code 24: no usage information was returned for the completed job']" in out


def test_python_array_task_finishes_before_its_siblings(cluster: Cluster, libdrmaa: Path,
                                                        workdir: Path) -> None:
    """A bulk task that ends early is waited for (and DONE) while its siblings run on."""
    out = run_python(cluster, libdrmaa, """
        import drmaa, os
        with drmaa.Session() as s:
            jt = s.createJobTemplate()
            jt.workingDirectory = os.getcwd()  # the default output files go there
            jt.remoteCommand = '/bin/sh'
            jt.args = ['-c', 'test $SGE_TASK_ID = 1 && exit 4; exec sleep 300']
            first, second = s.runBulkJobs(jt, 1, 2, 1)
            info = s.wait(drmaa.Session.JOB_IDS_SESSION_ANY, 120)
            print('first', info.jobId == first, info.exitStatus, info.resourceUsage['exit_status'])
            print('second', s.jobStatus(second))
            s.control(second, drmaa.JobControlAction.TERMINATE)
            print('second', s.wait(second, 120).wasAborted)
        """, workdir).stdout
    assert "first True 4 4.0000" in out and "second running" in out and "second True" in out
    assert len(list(workdir.glob("sh.o*.1"))) == 1  # drmaa_wd: the default output file is there


def test_python_native_specification_and_errors(cluster: Cluster, libdrmaa: Path, workdir: Path) -> None:
    out = run_python(cluster, libdrmaa, """
        import drmaa, os
        with drmaa.Session() as s:
            jt = s.createJobTemplate()
            jt.workingDirectory = os.getcwd()  # the default output files go there
            jt.remoteCommand = '/bin/true'
            jt.nativeSpecification = '-N from_native -l no_such_resource=1'
            try:
                s.runJob(jt)
            except drmaa.errors.DeniedByDrmException as exc:
                print('denied:', exc)
            jt.nativeSpecification = '-N from_native -h'
            jobid = s.runJob(jt)
            print('native hold:', s.jobStatus(jobid))
            s.control(jobid, drmaa.JobControlAction.TERMINATE)
            try:
                s.wait(jobid, 60)
            except Exception as exc:  # NO_RUSAGE (drmaa-python has no class for it): it never ran
                print('never ran:', exc)
            try:
                jt.outputPath = '/no/colon'
                s.runJob(jt)
            except drmaa.errors.InvalidArgumentException as exc:
                print('path:', exc)
        """, workdir).stdout
    assert "denied: code 17:" in out and "no_such_resource" in out
    assert "native hold: user_on_hold" in out
    assert "never ran: code 24: no usage information was returned for the completed job" in out
    assert "path: code 4:" in out
    jobs = cluster.run("qacct", "-j", "from_native")
    assert "from_native" not in jobs.stdout  # the held job never ran


# --------------------------------------------------------------------------- service mode


def run_python_as(cluster: Cluster, user: str, libdrmaa: Path, code: str) -> str:
    env = cluster.env
    pairs = [f"{key}={env[key]}" for key in ("QSYS_ROOT", "QSYS_CELL", "PATH", "PYTHONPATH")]
    proc = subprocess.run(["runuser", "-u", user, "--", "env", *pairs, f"DRMAA_LIBRARY_PATH={libdrmaa}",
                           sys.executable, "-c", textwrap.dedent(code)],
                          capture_output=True, text=True, timeout=180, cwd="/tmp")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def test_service_mode_users_and_their_rights(qsys_root: Path, users: tuple[str, str], libdrmaa: Path) -> None:
    """Each DRMAA program acts as the user who runs it: jobs run as their owner, another
    user may look at them but not touch them."""
    alice, bob = users
    with Cluster(qsys_root / "cell", hosts=["node1"], slots=4, mode="service") as cluster:
        job_id = run_python_as(cluster, alice, libdrmaa, """
            import drmaa
            s = drmaa.Session()
            s.initialize()
            jt = s.createJobTemplate()
            jt.remoteCommand = '/bin/sh'
            jt.args = ['-c', 'id -un']
            jt.outputPath = ':/tmp/$USER.drmaa.$JOB_ID'
            jt.jobSubmissionState = drmaa.JobSubmissionState.HOLD_STATE
            print(s.runJob(jt))
            """).strip()
        out = run_python_as(cluster, bob, libdrmaa, f"""
            import drmaa
            with drmaa.Session() as s:
                print('status', s.jobStatus('{job_id}'))
                for action in (drmaa.JobControlAction.RELEASE, drmaa.JobControlAction.TERMINATE):
                    try:
                        s.control('{job_id}', action)
                    except drmaa.errors.AuthorizationException as exc:
                        print('refused', exc)
                try:
                    s.wait('{job_id}', 0)
                except drmaa.errors.InvalidJobException:
                    print('not of this session')
            """)
        assert "status user_on_hold" in out and "not of this session" in out
        assert out.count(f'refused code 3: {bob} - you do not have the necessary privileges') == 2
        out = run_python_as(cluster, alice, libdrmaa, f"""
            import drmaa, time
            with drmaa.Session() as s:  # a new session: the job is not one of its own
                s.control('{job_id}', drmaa.JobControlAction.RELEASE)
                deadline = time.monotonic() + 60
                while time.monotonic() < deadline:
                    try:
                        s.jobStatus('{job_id}')
                    except drmaa.errors.InvalidJobException:
                        print('finished: unknown to this session')
                        break
                    time.sleep(0.05)
            """)
        assert "finished: unknown to this session" in out
        result = Path(f"/tmp/{alice}.drmaa.{job_id}")
        wait_until(result.exists, 30, "the job's output")
        assert result.read_text() == f"{alice}\n" and result.owner() == alice
        result.unlink()
