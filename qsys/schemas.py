"""The JSON schemas of what qsys prints and serves: one per object, made from the record types.

The commands' ``--json`` and qsys-restd both give an object as ``qsys.records.json_form``
makes it (every field, plus the values its class derives); this module describes the same
objects from the same records (field annotations, ``__json_derived__`` properties), so a new
field appears in the output and in its schema at once. qsys-restd puts them in its OpenAPI
description (``components.schemas``); ``python -m qsys.schemas`` prints them as one JSON
Schema document (``$defs``).

The accounting records are not typed records: their schema comes from the accounting file's
own field table (``qsys.accounting_file``).
"""

from __future__ import annotations

import json
import sys
from typing import Any

from qsys import protocol, record, records
from qsys.accounting_file import ACCOUNTING_FIELDS, FLOAT_FIELDS, INT_FIELDS
from qsys.jobspec import JobSpec, PeRequest, TaskRange

OPENAPI_REFS = "#/components/schemas/"
JSON_SCHEMA_REFS = "#/$defs/"

# the objects published, by the name their schema has (record types, nested ones included)
OBJECTS: dict[str, type] = {cls.__name__: cls for cls in (
    records.JobRow, records.QueueInstanceRow, records.HostRow, records.HostJob, records.TaskDetail,
    records.JobDetail, records.TaskOutcome, records.ClusterQueueRow, records.Submitted, records.TaskEnd,
    records.MasterMetrics, records.MetricHistogram, records.MetricValue,
    protocol.QueueRows, protocol.JobDetailRows, protocol.Lines, protocol.Names, protocol.ConfText,
    JobSpec, TaskRange, PeRequest,
)}
# fields typed as plain maps on the wire that hold a known object
FIELD_OBJECTS = {("JobDetail", "spec"): "JobSpec"}
# fields an object's JSON form leaves out (JobSpec's client-only options: JobSpec.to_wire) or
# may leave out (qstat -j does not show the job script)
OMITTED = {"JobSpec": JobSpec.CLIENT_ONLY}
OPTIONAL = {"JobSpec": ("script",)}


def _tree_schema(tree: Any, refs: str) -> dict[str, Any]:
    kind = tree[0]
    if kind == "prim":
        return {"type": {"int": "integer", "float": "number", "str": "string", "bool": "boolean",
                         "bytes": "string"}[tree[1]]}
    if kind == "none":
        return {"type": "null"}
    if kind == "record":
        return {"$ref": refs + tree[1].__name__}
    if kind == "list":
        return {"type": "array", "items": _tree_schema(tree[1], refs)}
    if kind == "fixed":
        items = [_tree_schema(t, refs) for t in tree[1]]
        return {"type": "array", "prefixItems": items, "minItems": len(items), "maxItems": len(items)}
    if kind == "dict":
        return {"type": "object", "additionalProperties": _tree_schema(tree[2], refs)}
    if kind == "union":
        options = [_tree_schema(t, refs) for t in tree[1]]
        return {} if {} in options else {"anyOf": options}
    return {}  # any


def _derived_schema(cls: type, name: str, refs: str) -> dict[str, Any]:
    getter = getattr(cls, name).fget
    text = str(getter.__annotations__.get("return", "Any"))
    schema = _tree_schema(record.parse_annotation(text, vars(sys.modules[cls.__module__])), refs)
    schema["readOnly"] = True  # derived from the other fields
    if getter.__doc__:
        schema["description"] = getter.__doc__.strip()
    return schema


def _first_paragraph(doc: str | None) -> str:
    return " ".join((doc or "").strip().split("\n\n")[0].split())


def object_schema(cls: type, refs: str = OPENAPI_REFS) -> dict[str, Any]:
    """The schema of one record type's JSON form (every field is always present)."""
    properties: dict[str, Any] = {}
    for name, tree in record.type_trees(cls).items():
        if name in OMITTED.get(cls.__name__, ()):
            continue
        known = FIELD_OBJECTS.get((cls.__name__, name))
        properties[name] = {"$ref": refs + known} if known else _tree_schema(tree, refs)
    for name in getattr(cls, "__json_derived__", ()):
        properties[name] = _derived_schema(cls, name, refs)
    optional = OPTIONAL.get(cls.__name__, ())
    schema: dict[str, Any] = {"type": "object", "title": cls.__name__, "properties": properties,
                              "required": [name for name in properties if name not in optional]}
    if cls.__doc__:
        schema["description"] = _first_paragraph(cls.__doc__)
    return schema


def accounting_record_schema() -> dict[str, Any]:
    """One record of the accounting file (qacct -j --json, /api/v1/accounting)."""
    def kind(name: str) -> str:
        return "integer" if name in INT_FIELDS else "number" if name in FLOAT_FIELDS else "string"

    properties: dict[str, Any] = {name: {"type": kind(name)} for name in ACCOUNTING_FIELDS}
    properties["devices"] = {"type": "string", "description": "the resource map ids the task held, as qstat -j's "
                             "resource map line shows them (not a field of the file: qacct -j --json only)"}
    return {"type": "object", "title": "AccountingRecord", "properties": properties,
            "required": list(ACCOUNTING_FIELDS),
            "description": "One finished task as the accounting file records it (see accounting(5))."}


def accounting_summary_schema(refs: str = OPENAPI_REFS) -> dict[str, Any]:
    """qacct's summary (qacct --json, /api/v1/accounting/totals): usage per group and in total."""
    usage = {"type": "object", "additionalProperties": {"type": "number"},
             "description": "ru_wallclock ru_utime ru_stime cpu mem io iow, summed"}
    return {"type": "object", "title": "AccountingSummary", "required": ["groups", "total"],
            "description": "Usage summed per group of records (the grouping columns' values, then the "
                           "usage sums), and over all of them.",
            "properties": {"groups": {"type": "array", "items": {
                "type": "object", "additionalProperties": {"type": ["string", "number"]}}},
                "total": usage}}


def components(refs: str = OPENAPI_REFS) -> dict[str, dict[str, Any]]:
    """Every published schema by name (OpenAPI's ``components.schemas``)."""
    found = {name: object_schema(cls, refs) for name, cls in OBJECTS.items()}
    found["AccountingRecord"] = accounting_record_schema()
    found["AccountingSummary"] = accounting_summary_schema(refs)
    return dict(sorted(found.items()))


def document() -> dict[str, Any]:
    """All schemas as one JSON Schema (2020-12) document."""
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "title": "qsys objects",
            "$defs": components(JSON_SCHEMA_REFS)}


if __name__ == "__main__":
    json.dump(document(), sys.stdout, indent=2)
    sys.stdout.write("\n")
