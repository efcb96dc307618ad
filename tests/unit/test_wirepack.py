"""The plain-Python msgpack of a command's small frames (``qsys.wirepack``) makes the bytes
msgpack's C packer makes of the same value, and reads back what either wrote; a qsub's
frames go through it without msgpack being imported."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qsys import protocol, wirepack
from qsys.jobspec import JobSpec
from tests.clusterlib import REPO

KEYS = st.one_of(st.text(max_size=40), st.integers(min_value=-(2**63), max_value=2**64 - 1))
ATOMS = st.one_of(
    st.none(), st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**64 - 1),
    st.sampled_from([0, 127, 128, 255, 256, 65535, 65536, 2**32 - 1, 2**32, -32, -33, -128, -129,
                     -32768, -32769, -(2**31), -(2**31) - 1]),
    st.floats(allow_nan=False), st.text(max_size=300), st.binary(max_size=300),
    st.text(alphabet=st.characters(min_codepoint=0xDC80, max_codepoint=0xDCFF), max_size=5),  # surrogateescape
)
VALUES = st.recursive(ATOMS, lambda inner: st.one_of(st.lists(inner, max_size=20),
                                                      st.dictionaries(KEYS, inner, max_size=20)), max_leaves=60)


def native(value: object) -> bytes:
    return msgpack.packb(value, use_bin_type=True, unicode_errors="surrogateescape")


def native_back(data: bytes) -> object:
    return msgpack.unpackb(data, raw=False, strict_map_key=False, unicode_errors="surrogateescape")


@settings(max_examples=400, deadline=None)
@given(VALUES)
def test_the_same_bytes_as_msgpack_and_back(value: object) -> None:
    packed = wirepack.packb(value, lambda o: o)
    assert packed == native(value)
    assert wirepack.unpackb(packed) == native_back(packed)


@pytest.mark.parametrize("n", [15, 16, 31, 32, 255, 256, 65535, 65536])
def test_every_length_form(n: int) -> None:
    for value in ("x" * n, b"x" * n, [0] * n, {i: 0 for i in range(n)}):
        packed = native(value)
        assert wirepack.packb(value, lambda o: o, budget=10**6) == packed
        assert wirepack.unpackb(packed) == native_back(packed)


def test_tuples_are_arrays_and_float32_reads() -> None:
    assert wirepack.packb((1, "a"), lambda o: o) == native([1, "a"])
    assert wirepack.unpackb(b"\xca\x3f\x80\x00\x00") == 1.0


_EDGES = (0x20, 0x80, 0x100, 0x8000, 0x10000, 0x80000000, 0x100000000, 2**63)


@pytest.mark.parametrize("n", sorted({s * e + d for e in _EDGES for s in (1, -1) for d in (-1, 0, 1)
                                      if -(2**63) <= s * e + d < 2**64}))
def test_every_integer_width_at_its_edges(n: int) -> None:
    assert wirepack.packb(n, lambda o: o) == msgpack.packb(n)
    assert wirepack.unpackb(wirepack.packb(n, lambda o: o)) == n


def test_what_it_cannot_pack_or_read() -> None:
    with pytest.raises(OverflowError):
        wirepack.packb(2**64, lambda o: o)
    with pytest.raises(OverflowError):
        wirepack.packb(-(2**63) - 1, lambda o: o)
    with pytest.raises(TypeError):
        wirepack.packb(object(), lambda o: o)
    with pytest.raises(wirepack.TooLarge):
        wirepack.packb(list(range(100)), lambda o: o, budget=50)
    for bad in (b"\x92\x01", b"\xd9\x05ab", b"\x01\x02", b"\xc1", b"\xd4\x01\x00", b"\xcd\x01"):
        with pytest.raises(ValueError):
            wirepack.unpackb(bad)
    with pytest.raises(TypeError):
        wirepack.unpackb(native({1: 2})[:1] + b"\x91\x01\x02")  # a list as a map key


def test_a_large_frame_goes_through_the_c_codec_unchanged() -> None:
    many = protocol.SubmitMany([JobSpec(command="/bin/true", binary=True, args=[str(i)]) for i in range(2000)])
    frame = protocol.encode(many, lean=True)
    assert frame == protocol.encode(many)
    assert protocol.decode(frame[4:], lean=True) == many


# the messages of a qsub, made alike here and in a fresh interpreter
MESSAGES = """
from qsys import protocol
from qsys.jobspec import JobSpec
from qsys.records import Submitted
spec = JobSpec(command="/bin/true", args=["a", "\\udcff"], binary=True, submit_env={"HOME": "/root"})
messages = [protocol.Hello(credential=None, client=""), protocol.Submit(spec), protocol.Challenge(nonce=b"n"),
            protocol.Welcome(user="u"), Submitted(job_id=1, name="true", tasks=[1, 4, 1])]
"""


def test_a_submissions_frames_are_the_c_codecs_and_need_no_msgpack_import() -> None:
    # in a fresh interpreter (this one imported msgpack: protocol would use it from then on)
    code = MESSAGES + (
        "import sys\n"
        "frames = [protocol.encode(m, lean=True) for m in messages]\n"
        "assert [protocol.decode(f[4:], lean=True) for f in frames] == messages\n"
        "try:\n"
        "    protocol.decode(b'\\x82\\xa1t', lean=True)\n"
        "except protocol.MalformedMessage as exc:\n"
        "    error = exc.message\n"
        "imported = sorted({'msgpack', 'datetime', 'collections'} & set(sys.modules))\n"
        "import json\n"
        "print(json.dumps([[f.hex() for f in frames], error, imported]))\n")
    proc = subprocess.run([sys.executable, "-S", "-c", code], capture_output=True, text=True, timeout=60,
                          env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"}, cwd="/")
    assert proc.returncode == 0, proc.stderr
    frames, error, imported = json.loads(proc.stdout)
    here: dict[str, Any] = {}
    exec(MESSAGES, here)
    assert frames == [protocol.encode(m).hex() for m in here["messages"]]
    assert error == "malformed message: Unpack failed: incomplete input"
    assert imported == []
