"""msgpack in plain Python, for the few small frames of a command.

Importing the msgpack package is the dearest thing a command's start-up did: its ``ext``
module imports ``datetime`` and ``collections``, 14 of a ``qsub -h -b y /bin/true``'s 64
million instructions (~4 ms). A command sends and receives a handful of frames of a few
hundred bytes; packing and unpacking those by hand costs a fraction of that import. Large
frames (a qstat of thousands of rows, a bulk submission) stay with msgpack's C codec, which
is many times faster per item: :func:`packb` gives up with :class:`TooLarge` past its
budget of items, and ``qsys.protocol`` unpacks only small frames here.

The subset qsys's messages are made of -- nil, booleans, integers, floats, strings, bytes,
arrays and maps -- in the forms msgpack's own packer picks with ``use_bin_type=True`` (the
shortest integer form, floats as float 64, text as UTF-8 with lone surrogates as the bytes
they stand for), so both codecs make the same bytes of the same value. Extension types are
not part of the protocol and are refused.
"""

from __future__ import annotations

import struct

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

_TEXT_ERRORS = "surrogateescape"
_B2, _B4, _B8 = struct.Struct(">H"), struct.Struct(">I"), struct.Struct(">Q")
_S1, _S2, _S4, _S8 = struct.Struct(">b"), struct.Struct(">h"), struct.Struct(">i"), struct.Struct(">q")
_F4, _F8 = struct.Struct(">f"), struct.Struct(">d")


class TooLarge(Exception):
    """More items than the plain-Python packer takes on: the C one is the faster there."""


def packb(obj: Any, default: Callable[[Any], Any], budget: int = 4096) -> bytes:
    """``obj`` as msgpack (``default`` turns what is none of the types above into one);
    TooLarge after ``budget`` items."""
    buf = bytearray()
    _pack(obj, buf, default, [budget])
    return bytes(buf)


def _pack(obj: Any, buf: bytearray, default: Callable[[Any], Any], left: list[int], converted: bool = False) -> None:
    left[0] -= 1
    if left[0] < 0:
        raise TooLarge
    if obj is None:
        buf.append(0xC0)
    elif obj is True or obj is False:
        buf.append(0xC3 if obj else 0xC2)
    elif isinstance(obj, int):
        _pack_int(obj, buf)
    elif isinstance(obj, float):
        buf.append(0xCB)
        buf += _F8.pack(obj)
    elif isinstance(obj, (bytes, bytearray, memoryview)):
        data = bytes(obj)
        _header(buf, len(data), None, 0xC4, 0xC5, 0xC6)
        buf += data
    elif isinstance(obj, str):
        data = obj.encode("utf-8", _TEXT_ERRORS)
        _header(buf, len(data), (32, 0xA0), 0xD9, 0xDA, 0xDB)
        buf += data
    elif isinstance(obj, dict):
        _header(buf, len(obj), (16, 0x80), None, 0xDE, 0xDF)
        for key, value in obj.items():
            _pack(key, buf, default, left)
            _pack(value, buf, default, left)
    elif isinstance(obj, (list, tuple)):
        _header(buf, len(obj), (16, 0x90), None, 0xDC, 0xDD)
        for item in obj:
            _pack(item, buf, default, left)
    elif not converted:
        _pack(default(obj), buf, default, left, converted=True)
    else:
        raise TypeError(f"can not serialize {type(obj).__name__!r} object")


def _header(buf: bytearray, n: int, fixed: tuple[int, int] | None, one: int | None, two: int, four: int) -> None:
    """The type byte and length of a string, bytes, array or map of ``n``."""
    if fixed is not None and n < fixed[0]:
        buf.append(fixed[1] | n)
    elif one is not None and n < 0x100:
        buf.append(one)
        buf.append(n)
    elif n < 0x10000:
        buf.append(two)
        buf += _B2.pack(n)
    elif n < 0x100000000:
        buf.append(four)
        buf += _B4.pack(n)
    else:
        raise ValueError(f"too long to pack: {n}")


# the smallest msgpack int that holds a value beyond the fixints: (bound, type byte, struct)
_UNSIGNED = ((0x100, 0xCC, struct.Struct(">B")), (0x10000, 0xCD, _B2), (0x100000000, 0xCE, _B4),
             (0x10000000000000000, 0xCF, _B8))
_SIGNED = ((-0x80, 0xD0, _S1), (-0x8000, 0xD1, _S2), (-0x80000000, 0xD2, _S4), (-0x8000000000000000, 0xD3, _S8))


def _pack_int(n: int, buf: bytearray) -> None:
    if 0 <= n < 0x80 or -0x20 <= n < 0:
        buf.append(n & 0xFF)
        return
    if n >= 0:
        widths = ((code, fmt) for bound, code, fmt in _UNSIGNED if n < bound)
    else:
        widths = ((code, fmt) for bound, code, fmt in _SIGNED if n >= bound)
    code, fmt = next(widths, (0, None))
    if fmt is None:
        raise OverflowError("Integer value out of range")
    buf.append(code)
    buf += fmt.pack(n)


def unpackb(data: bytes) -> Any:
    """The value ``data`` holds (arrays as lists, text as str, bin as bytes); ValueError when
    it is not exactly one msgpack value, TypeError for a map key that cannot be one."""
    try:
        value, end = _unpack(data, 0)
    except (IndexError, struct.error):
        raise ValueError("Unpack failed: incomplete input") from None
    if end != len(data):
        raise ValueError("Unpack failed: extra data")
    return value


# type byte -> (struct, size) of the lengths and numbers that follow it
_SIZED = {0xC4: (None, 1), 0xC5: (_B2, 2), 0xC6: (_B4, 4), 0xD9: (None, 1), 0xDA: (_B2, 2), 0xDB: (_B4, 4),
          0xDC: (_B2, 2), 0xDD: (_B4, 4), 0xDE: (_B2, 2), 0xDF: (_B4, 4)}
_NUMBERS = {0xCA: (_F4, 4), 0xCB: (_F8, 8), 0xCC: (None, 1), 0xCD: (_B2, 2), 0xCE: (_B4, 4), 0xCF: (_B8, 8),
            0xD0: (_S1, 1), 0xD1: (_S2, 2), 0xD2: (_S4, 4), 0xD3: (_S8, 8)}


def _unpack(data: bytes, pos: int) -> tuple[Any, int]:
    byte = data[pos]
    pos += 1
    if byte < 0x80:
        return byte, pos
    if byte >= 0xE0:
        return byte - 0x100, pos
    if 0xA0 <= byte < 0xC0:
        return _text(data, pos, byte & 0x1F)
    if 0x90 <= byte < 0xA0:
        return _array(data, pos, byte & 0x0F)
    if 0x80 <= byte < 0x90:
        return _map(data, pos, byte & 0x0F)
    if byte == 0xC0:
        return None, pos
    if byte in (0xC2, 0xC3):
        return byte == 0xC3, pos
    number = _NUMBERS.get(byte)
    if number is not None:
        form, size = number
        end = pos + size
        if end > len(data):
            raise IndexError
        return (data[pos] if form is None else form.unpack_from(data, pos)[0]), end
    sized = _SIZED.get(byte)
    if sized is None:
        raise ValueError(f"Unpack failed: type byte 0x{byte:02x} is not one qsys sends")
    form, size = sized
    if pos + size > len(data):
        raise IndexError
    n = data[pos] if form is None else form.unpack_from(data, pos)[0]
    pos += size
    if byte <= 0xC6:
        end = pos + n
        if end > len(data):
            raise IndexError
        return data[pos:end], end
    if byte <= 0xDB:
        return _text(data, pos, n)
    return _array(data, pos, n) if byte <= 0xDD else _map(data, pos, n)


def _text(data: bytes, pos: int, n: int) -> tuple[str, int]:
    end = pos + n
    if end > len(data):
        raise IndexError
    return data[pos:end].decode("utf-8", _TEXT_ERRORS), end


def _array(data: bytes, pos: int, n: int) -> tuple[list[Any], int]:
    items = []
    for _ in range(n):
        item, pos = _unpack(data, pos)
        items.append(item)
    return items, pos


def _map(data: bytes, pos: int, n: int) -> tuple[dict[Any, Any], int]:
    out = {}
    for _ in range(n):
        key, pos = _unpack(data, pos)
        value, pos = _unpack(data, pos)
        out[key] = value
    return out, pos
