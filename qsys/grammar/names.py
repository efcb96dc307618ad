"""Grid Engine's rules for job names and account strings, with its messages.

SGE 8.1.9 checks a job name (qsub/qrsh/qlogin -N, or the default taken from the script or
command) in this order: shorter than 512 characters; not starting with a digit; none of
newline, tab, carriage return, ``/ : @ \\ * ?`` (looked for in that order); not a keyword
(NONE, ALL, TEMPLATE in any case). It also refuses blanks, control characters and anything
beyond printable ASCII, though only with a garbled "Error reading answer list": qsys names
the character instead (this is what stops U+202E, which turns text around on a terminal,
and U+FEFF, which cannot be seen). Account strings (``-A``) get the character rules.
"""

from __future__ import annotations

__all__ = ["MAX_JOB_NAME", "account_problem", "job_name_problem"]

MAX_JOB_NAME = 511  # SGE refuses 512 characters, saying "maximum allowed length is 512"
_FORBIDDEN = (
    ("\n", "Return"),
    ("\t", "Tab"),
    ("\r", "Carriage return"),
    ("/", "Slash ('/')"),
    (":", "Colon (':')"),
    ("@", "At ('@')"),
    ("\\", "Backslash ('\\')"),
    ("*", "Asterisk ('*')"),
    ("?", "Questionmark ('?')"),
)
_KEYWORDS = frozenset({"NONE", "ALL", "TEMPLATE"})


def _character_problem(text: str) -> str | None:
    for char, what in _FORBIDDEN:
        if char in text:
            return f"{what} not allowed in objectname"
    if text.isascii() and text.isprintable() and " " not in text:
        return None
    for char in text:
        if char == " ":
            return "Space (' ') not allowed in objectname"
        if not (char.isascii() and char.isprintable()):
            code = ord(char)
            shown = f"byte 0x{code - 0xDC00:02X}" if 0xDC80 <= code <= 0xDCFF else f"U+{code:04X}"
            return f"Character {shown} not allowed in objectname"
    return None


def job_name_problem(name: str) -> str | None:
    """Why Grid Engine refuses ``name`` as a job name, in its words; None if it does not."""
    if len(name) > MAX_JOB_NAME:
        return f"job name too long, maximum allowed length is {MAX_JOB_NAME + 1} characters"
    if not name:
        return "job rejected cause there is no job_name in the request"
    if "0" <= name[0] <= "9":
        return f'denied: "{name}" is not a valid object name (cannot start with a digit)'
    problem = _character_problem(name)
    if problem is None and name.upper() in _KEYWORDS:
        problem = f'Keyword ("{name.upper()}") not allowed as objectname'
    return problem


def account_problem(account: str) -> str | None:
    """Why Grid Engine refuses ``account`` as an account string; None if it does not."""
    return _character_problem(account)
