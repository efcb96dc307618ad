"""``--json`` of every command: typed records printed in their JSON form.

The form is ``qsys.records.json_form`` (every field, and what the class derives), the one
qsys-restd answers with too; ``qsys.schemas`` describes each object.
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs a command milliseconds at run time
    from typing import Any


def print_json(value: Any) -> int:
    """Print a record (or a list or map of them, or plain data) as one JSON document; 0."""
    import json

    from qsys.records import json_form

    sys.stdout.write(json.dumps(json_form(value), indent=2) + "\n")
    return 0
