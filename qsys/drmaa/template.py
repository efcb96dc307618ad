"""DRMAA job templates and how one becomes a qsub submission (a :class:`JobSpec`).

A template holds the attribute values as the program set them. :func:`build_spec` turns one
into a JobSpec through qsub's own option engine (``qsys.cli.options``), so a DRMAA job gets
what ``qsub`` would give it, in Grid Engine's order (later wins): the ``sge_request`` files,
the job category's ``qtask`` options, the native specification, then the template's own
attributes. Like Grid Engine's libdrmaa the command is a binary run without a shell
(``-b y -shell n``) unless the native specification says ``-b n``; without ``drmaa_wd`` the
job runs in the home directory.
"""

from __future__ import annotations

import io
import os
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone, tzinfo

from qsys.cli.options import SUBMIT_OPTIONS, ParseState, parse_submit_args, scan
from qsys.drmaa.codes import DrmaaError, Errno
from qsys.errors import QsysError
from qsys.jobspec import JobSpec, TaskRange

REMOTE_COMMAND = "drmaa_remote_command"
JS_STATE = "drmaa_js_state"
WD = "drmaa_wd"
JOB_NAME = "drmaa_job_name"
INPUT_PATH = "drmaa_input_path"
OUTPUT_PATH = "drmaa_output_path"
ERROR_PATH = "drmaa_error_path"
JOIN_FILES = "drmaa_join_files"
JOB_CATEGORY = "drmaa_job_category"
NATIVE_SPECIFICATION = "drmaa_native_specification"
BLOCK_EMAIL = "drmaa_block_email"
START_TIME = "drmaa_start_time"
V_ARGV = "drmaa_v_argv"
V_ENV = "drmaa_v_env"
V_EMAIL = "drmaa_v_email"

# what drmaa_get_attribute_names / drmaa_get_vector_attribute_names list (Grid Engine's order)
SCALAR_ATTRIBUTES = (REMOTE_COMMAND, JS_STATE, WD, JOB_NAME, INPUT_PATH, OUTPUT_PATH,
                     ERROR_PATH, JOIN_FILES, JOB_CATEGORY, NATIVE_SPECIFICATION, BLOCK_EMAIL,
                     START_TIME)
VECTOR_ATTRIBUTES = (V_ARGV, V_ENV, V_EMAIL)

PLACEHOLDER_INCR = "$drmaa_incr_ph$"
PLACEHOLDER_HD = "$drmaa_hd_ph$"
PLACEHOLDER_WD = "$drmaa_wd_ph$"
ACTIVE, HOLD = "drmaa_active", "drmaa_hold"

_CHOICES = {JS_STATE: (ACTIVE, HOLD), JOIN_FILES: ("y", "n")}


@dataclass
class JobTemplate:
    """The attributes a program set, checked as Grid Engine checks them when they are set."""

    scalars: dict[str, str] = field(default_factory=dict)
    vectors: dict[str, list[str]] = field(default_factory=dict)

    def set(self, name: str, value: str) -> None:
        if name not in SCALAR_ATTRIBUTES:
            raise _unknown(name)
        choices = _CHOICES.get(name)
        if choices and value not in choices:
            raise DrmaaError(Errno.INVALID_ATTRIBUTE_VALUE,
                             f'attribute "{name}" must be either "{choices[0]}" or "{choices[1]}"')
        self.scalars[name] = value

    def get(self, name: str) -> str:
        if name not in SCALAR_ATTRIBUTES:
            raise _unknown(name)
        if name not in self.scalars:
            raise DrmaaError(Errno.INVALID_ATTRIBUTE_VALUE)
        return self.scalars[name]

    def set_vector(self, name: str, values: list[str]) -> None:
        if name not in VECTOR_ATTRIBUTES:
            raise _unknown(name)
        if name == V_ENV and any("=" not in item for item in values):
            raise DrmaaError(Errno.INVALID_ATTRIBUTE_FORMAT,
                             f'attribute "{V_ENV}" takes "name=value" entries')
        self.vectors[name] = list(values)

    def get_vector(self, name: str) -> list[str]:
        if name not in VECTOR_ATTRIBUTES:
            raise _unknown(name)
        if name not in self.vectors:
            raise DrmaaError(Errno.INVALID_ATTRIBUTE_VALUE)
        return list(self.vectors[name])


def _unknown(name: str) -> DrmaaError:
    return DrmaaError(Errno.INVALID_ARGUMENT, f'unknown job template attribute "{name}"')


@dataclass
class Caller:
    """Where the program stands when it submits: its directory and environment (for -cwd,
    -V, -v and the job's SGE_O_* values), and its home directory."""

    cwd: str
    environ: Mapping[str, str]
    home: str


def _denied(message: str) -> DrmaaError:
    return DrmaaError(Errno.DENIED_BY_DRM, message)


def build_spec(template: JobTemplate, caller: Caller, bulk: TaskRange | None = None,
               qtask_files: tuple[str, ...] = ()) -> JobSpec:
    """The JobSpec qsub would build for this template (``bulk``: the task range of
    drmaa_run_bulk_jobs). ``qtask_files``: the cluster's and the user's qtask files."""
    attrs = template.scalars
    command = attrs.get(REMOTE_COMMAND, "")
    if not command:
        raise _denied(f'job template must have "{REMOTE_COMMAND}" attribute set')
    words = _category_words(attrs.get(JOB_CATEGORY), qtask_files)
    try:
        words += shlex.split(attrs.get(NATIVE_SPECIFICATION, ""))
    except ValueError as exc:
        raise DrmaaError(Errno.INVALID_ATTRIBUTE_FORMAT, f"native specification: {exc}") from None
    argv = ["-b", "y", "-shell", "n", *words, command, *template.vectors.get(V_ARGV, [])]
    try:
        _, rest = scan(words, SUBMIT_OPTIONS, program="qsub", cwd=caller.cwd)
        if rest:
            raise _denied(f'invalid option argument "{rest[0]}"')
        spec = parse_submit_args(argv, program="qsub", environ=caller.environ, cwd=caller.cwd,
                                 stdin=io.BytesIO(b""))
        _apply_name(spec, attrs.get(JOB_NAME), caller)
    except QsysError as exc:
        raise _denied(exc.message.removeprefix("qsub: ")) from None
    except SystemExit:  # -help in the native specification
        raise _denied('invalid option argument "-help"') from None
    _apply_attributes(spec, template, caller, bulk is not None)
    if bulk is not None:
        spec.tasks = bulk
    return spec


def bulk_range(start: int, end: int, incr: int) -> TaskRange:
    """drmaa_run_bulk_jobs' indices as an array job's task range."""
    if start < 1 or end < start or incr < 1:
        raise DrmaaError(Errno.INVALID_ARGUMENT,
                         f"invalid bulk job range {start}-{end}:{incr}: expected 1 <= start <= end "
                         "and incr >= 1")
    return TaskRange(start, start + (end - start) // incr * incr, incr)


def _apply_name(spec: JobSpec, name: str | None, caller: Caller) -> None:
    if name is not None:  # checked by qsub's own -N handler
        state = ParseState(spec, program="qsub", environ=caller.environ, cwd=caller.cwd)
        SUBMIT_OPTIONS["-N"].handler(state, "-N", [name])


def _apply_attributes(spec: JobSpec, template: JobTemplate, caller: Caller, bulk: bool) -> None:
    attrs, vectors = template.scalars, template.vectors
    if JS_STATE in attrs:
        spec.hold = attrs[JS_STATE] == HOLD
    if WD in attrs:
        spec.cwd = _working_directory(attrs[WD], caller.home)
    job_dir = spec.cwd or "$HOME"
    if INPUT_PATH in attrs:
        spec.stdin_path = _path(INPUT_PATH, attrs[INPUT_PATH], job_dir, bulk)
    if OUTPUT_PATH in attrs:
        spec.stdout_paths = [_path(OUTPUT_PATH, attrs[OUTPUT_PATH], job_dir, bulk)]
    if ERROR_PATH in attrs:
        spec.stderr_paths = [_path(ERROR_PATH, attrs[ERROR_PATH], job_dir, bulk)]
    if JOIN_FILES in attrs:
        spec.join = attrs[JOIN_FILES] == "y"
    if attrs.get(BLOCK_EMAIL) == "1":
        spec.mail_options = "n"
    if START_TIME in attrs:
        spec.start_time = parse_start_time(attrs[START_TIME])
    if V_EMAIL in vectors:
        spec.mail_list = list(vectors[V_EMAIL])
    for item in vectors.get(V_ENV, []):
        key, _, value = item.partition("=")
        spec.env[key] = value


def _working_directory(value: str, home: str) -> str:
    if PLACEHOLDER_INCR in value or PLACEHOLDER_WD in value:
        raise DrmaaError(Errno.INVALID_ATTRIBUTE_VALUE,
                         f'"{WD}" may hold only the placeholder {PLACEHOLDER_HD}')
    if value.startswith(PLACEHOLDER_HD):
        return home + value[len(PLACEHOLDER_HD):]
    return value


def _path(name: str, value: str, job_dir: str, bulk: bool) -> str:
    """``[hostname]:path`` with placeholders as qsub's ``[host:]path`` with pseudo variables."""
    host, colon, path = value.partition(":")
    if not colon:
        raise DrmaaError(Errno.INVALID_ARGUMENT,
                         f'The "{name}" attribute must have the form [hostname]:path')
    if PLACEHOLDER_INCR in path and not bulk:
        raise _denied(f'increment placeholder "{PLACEHOLDER_INCR}" is only allowed in paths '
                      "for bulk jobs")
    path = path.replace(PLACEHOLDER_INCR, "$TASK_ID")
    if path.startswith(PLACEHOLDER_HD):
        path = "$HOME" + path[len(PLACEHOLDER_HD):]
    elif path.startswith(PLACEHOLDER_WD):
        path = job_dir + path[len(PLACEHOLDER_WD):]
    return f"{host}:{path}" if host else path


# --------------------------------------------------------------------------- job categories


def qtask_files(common_dir: str, home: str) -> tuple[str, str]:
    """The cluster's qtask file and the user's (Grid Engine's qtask(5) locations)."""
    return os.path.join(common_dir, "qtask"), os.path.join(home, ".qtask")


def _category_words(category: str | None, files: tuple[str, ...]) -> list[str]:
    """The options the qtask files give a job category; an unknown category is refused.

    A line is ``[!]name options``; a later file (the user's) overrides an earlier one unless
    the cluster's line starts with ``!``.
    """
    if not category:
        return []
    found: list[str] | None = None
    locked = False
    for path in files:
        try:
            with open(path, encoding="utf-8", errors="replace") as handle:
                lines = handle.read().splitlines()
        except OSError:
            continue
        for line in lines:
            words = shlex.split(line, comments=True)
            if not words or words[0].lstrip("!") != category or (locked and found is not None):
                continue
            found = words[1:]
            locked = words[0].startswith("!")
    if found is None:
        raise _denied("Unknown job category")
    return found


# --------------------------------------------------------------------------- start time

_TIME = re.compile(
    r"^(?:(?:(?:(?P<year>\d{4}|\d{2})/)?(?P<month>\d{1,2})/)?(?P<day>\d{1,2})\s+)?"
    r"(?P<hour>\d{1,2}):(?P<minute>\d{2})(?::(?P<second>\d{2}))?"
    r"(?:\s*(?P<sign>[+-])(?P<oh>\d{2}):(?P<om>\d{2}))?$"
)


def parse_start_time(text: str, now: datetime | None = None) -> float:
    """DRMAA's ``[[[[CC]YY/]MM/]DD] hh:mm[:ss] [{-|+}UU:uu]`` as epoch seconds.

    Fields left out are today's; a time that falls in the past moves on by the largest field
    left out (a day, a month or a year), as the DRMAA specification asks.
    """
    match = _TIME.match(text.strip())
    if not match:
        raise _denied("Error parsing DRMAA date string")
    parts = match.groupdict()
    tz: tzinfo | None
    if parts["sign"]:
        offset = timedelta(hours=int(parts["oh"]), minutes=int(parts["om"]))
        tz = timezone(-offset if parts["sign"] == "-" else offset)
        current = (now or datetime.now(tz)).astimezone(tz)
    else:
        current = (now or datetime.now()).astimezone()
        tz = current.tzinfo
    year = parts["year"]
    full_year = (current.year // 100 * 100 + int(year) if year and len(year) == 2
                 else int(year) if year else current.year)
    try:
        when = datetime(full_year, int(parts["month"] or current.month),
                        int(parts["day"] or current.day), int(parts["hour"]),
                        int(parts["minute"]), int(parts["second"] or 0), tzinfo=tz)
        if when < current:
            when = _next_period(when, parts)
    except ValueError:
        raise _denied("Error parsing DRMAA date string") from None
    return when.timestamp()


def _next_period(when: datetime, parts: dict[str, str | None]) -> datetime:
    if parts["day"] is None:
        return when + timedelta(days=1)
    if parts["month"] is None:
        return when.replace(year=when.year + when.month // 12, month=when.month % 12 + 1)
    if parts["year"] is None:
        return when.replace(year=when.year + 1)
    return when
