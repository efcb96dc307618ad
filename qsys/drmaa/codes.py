"""DRMAA 1.0 numbers the C header defines too: error codes, job states, control actions.

The helper answers every call with one of these error codes; :class:`DrmaaError` carries a
code and the diagnosis text the C library copies into the caller's ``error_diagnosis``.
"""

from __future__ import annotations

from enum import IntEnum


class Errno(IntEnum):
    SUCCESS = 0
    INTERNAL_ERROR = 1
    DRM_COMMUNICATION_FAILURE = 2
    AUTH_FAILURE = 3
    INVALID_ARGUMENT = 4
    NO_ACTIVE_SESSION = 5
    NO_MEMORY = 6
    INVALID_CONTACT_STRING = 7
    DEFAULT_CONTACT_STRING_ERROR = 8
    NO_DEFAULT_CONTACT_STRING_SELECTED = 9
    DRMS_INIT_FAILED = 10
    ALREADY_ACTIVE_SESSION = 11
    DRMS_EXIT_ERROR = 12
    INVALID_ATTRIBUTE_FORMAT = 13
    INVALID_ATTRIBUTE_VALUE = 14
    CONFLICTING_ATTRIBUTE_VALUES = 15
    TRY_LATER = 16
    DENIED_BY_DRM = 17
    INVALID_JOB = 18
    RESUME_INCONSISTENT_STATE = 19
    SUSPEND_INCONSISTENT_STATE = 20
    HOLD_INCONSISTENT_STATE = 21
    RELEASE_INCONSISTENT_STATE = 22
    EXIT_TIMEOUT = 23
    NO_RUSAGE = 24
    NO_MORE_ELEMENTS = 25


class State(IntEnum):
    """``drmaa_job_ps`` values: a pending or running base plus system (1) / user (2) bits."""

    UNDETERMINED = 0x00
    QUEUED_ACTIVE = 0x10
    SYSTEM_ON_HOLD = 0x11
    USER_ON_HOLD = 0x12
    USER_SYSTEM_ON_HOLD = 0x13
    RUNNING = 0x20
    SYSTEM_SUSPENDED = 0x21
    USER_SUSPENDED = 0x22
    USER_SYSTEM_SUSPENDED = 0x23
    DONE = 0x30
    FAILED = 0x40


SYSTEM_BIT = 0x01
USER_BIT = 0x02


class Control(IntEnum):
    SUSPEND = 0
    RESUME = 1
    HOLD = 2
    RELEASE = 3
    TERMINATE = 4


TIMEOUT_WAIT_FOREVER = -1
TIMEOUT_NO_WAIT = 0
JOB_IDS_SESSION_ANY = "DRMAA_JOB_IDS_SESSION_ANY"
JOB_IDS_SESSION_ALL = "DRMAA_JOB_IDS_SESSION_ALL"


class DrmaaError(Exception):
    """A DRMAA error code with its diagnosis (empty: the C library shows drmaa_strerror),
    and the results a call still returns with it (drmaa_wait's job id and stat with
    NO_RUSAGE)."""

    def __init__(self, code: Errno, diagnosis: str = "", values: list[str] | None = None) -> None:
        super().__init__(diagnosis)
        self.code = code
        self.diagnosis = diagnosis
        self.values = values or []
