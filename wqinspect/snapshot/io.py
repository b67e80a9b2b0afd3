# SPDX-License-Identifier: LGPL-2.1-or-later
"""Snapshot files: written and read with msgspec, validated while decoding.

A file that does not match the schema is refused as a whole, with one line
that names the path of the first bad value (``snapshot.works[3].where: ...``).
Schema 1 files (addresses as hex strings) are upgraded on the way in.
"""

import contextlib
import datetime
import gc
import re

import msgspec
import msgspec.inspect as mi

from ..text import escape
from .types import SCHEMA_VERSION, Snapshot


_U64_MAX = (1 << 64) - 1
_I64_MIN = -(1 << 63)


class SnapshotError(Exception):
    pass


class _Head(msgspec.Struct):
    schema: object = None


_decoder = msgspec.json.Decoder(Snapshot)
_head = msgspec.json.Decoder(_Head)
_encoder = msgspec.json.Encoder()


def dumps_bytes(snap: Snapshot, indent: int | None = 1) -> bytes:
    data = _encoder.encode(snap)
    return msgspec.json.format(data, indent=indent) if indent else data


def dumps(snap: Snapshot, indent: int | None = 1) -> str:
    return dumps_bytes(snap, indent).decode()


#: Snapshot files of up to this many work items are indented (a value a line: readable, diffable); larger
#: ones are compact, a third smaller and faster to write and to load, and written in pieces.
INDENT_MAX_WORKS = 10_000
#: Work items encoded at a time in a large file.
_CHUNK = 4096


#: The snapshot's lists that are encoded in pieces (no other type has a list field of these names).
_PIECES = ("workqueues", "works")


def write(snap: Snapshot, f) -> None:
    """Write ``snap`` as a snapshot file to the binary stream ``f``, with a final newline.

    A large snapshot is never held encoded as a whole: its workqueues and work items are encoded a
    chunk at a time into the compact encoding of the rest (the bytes are those of :func:`dumps_bytes`
    without indent).
    """
    if len(snap.works) <= INDENT_MAX_WORKS:
        f.write(dumps_bytes(snap) + b"\n")
        return
    rest = _encoder.encode(msgspec.structs.replace(snap, **dict.fromkeys(_PIECES, [])))
    # Keys are never escaped and a quote inside a string always is: each key with an empty list is
    # there once, as the snapshot's own field.
    places = []
    for name in _PIECES:
        mark = f'"{name}":[]'.encode()
        at = rest.find(mark)
        if at < 0 or rest.find(mark, at + 1) >= 0:
            f.write(_encoder.encode(snap) + b"\n")
            return
        places.append((at + len(mark) - 1, getattr(snap, name)))
    pos = 0
    for at, items in sorted(places, key=lambda x: x[0]):
        f.write(memoryview(rest)[pos:at])
        for i in range(0, len(items), _CHUNK):
            chunk = _encoder.encode(items[i:i + _CHUNK])
            if i:
                f.write(b",")
            f.write(memoryview(chunk)[1:-1])
        pos = at
    f.write(memoryview(rest)[pos:])
    f.write(b"\n")


def _invalid(e: Exception) -> SnapshotError:
    text = str(e)
    msg, _, path = text.rpartition(" - at `")
    if not path:
        msg, path = text, "$"
    text = f"snapshot{path.rstrip('`').removeprefix('$')}: {msg[:1].lower()}{msg[1:]}"
    return SnapshotError(f"not a valid wqinspect snapshot: {escape(text)}")


#: A CPU mask as the kernel prints it in sysfs (%*pb): hex words separated by commas.
_SYSFS_MASK = re.compile(r"[0-9a-fA-F]+(,[0-9a-fA-F]+)*")


def _check_sysfs(snap: Snapshot) -> None:
    """The sysfs masks are parsed (wqinspect.sysfs.mask_cpus): refuse one that is not a mask."""
    if snap.sysfs is None:
        return
    places = [("global_attrs", snap.sysfs.global_attrs)]
    places += [(f"workqueues.{name}", attrs) for name, attrs in snap.sysfs.workqueues.items()]
    for where, attrs in places:
        for key, text in attrs.items():
            # at most 65,536 CPUs (KernelInfo.nr_cpu_ids): 16,384 hex digits and a comma per 8
            if key.startswith("cpumask") and (len(text) > 18_432 or not _SYSFS_MASK.fullmatch(text)):
                raise SnapshotError(f"not a valid wqinspect snapshot: snapshot.sysfs.{escape(where)}.{escape(key)}: "
                                    f"{escape(repr(text[:40]))} is not a CPU mask in hex")


def _checked(snap: Snapshot) -> Snapshot:
    """What the types cannot say."""
    _check_sysfs(snap)
    at = snap.target.captured_at
    if at:
        try:
            t = datetime.datetime.fromisoformat(at)
            if t.tzinfo is None:
                raise ValueError("no UTC offset")
            t.timestamp()
            t.astimezone(datetime.timezone.utc)  # the views show it in UTC: year 1 at +12:00 is year 0 there
        except (ValueError, OverflowError) as e:
            raise SnapshotError(f"not a valid wqinspect snapshot: snapshot.target.captured_at: "
                                f"{escape(repr(at))} is not an ISO 8601 time with a UTC offset ({e})") from None
    return snap


def _schema_error(schema) -> SnapshotError:
    return SnapshotError(f"snapshot schema {escape(repr(schema))[:40]} is not supported (this wqinspect reads "
                         f"schemas 1 and {SCHEMA_VERSION})")


#: msgspec bounds integers only within int64, so its decoder passes an Addr or U64 over 2^64 - 1 (and any
#: value of an unbounded int field).  Its MessagePack encoder refuses exactly the integers outside
#: [-2^63, 2^64 - 1]: one encode, in C, finds whether a decoded snapshot holds one (60 ms at 100,000
#: items), and only then is the path looked for.
_MSGPACK = msgspec.msgpack.Encoder()


def _refuse_over_64_bits(snap: Snapshot) -> None:
    try:
        _MSGPACK.encode(snap)
    except OverflowError:
        bad = _too_large(mi.type_info(Snapshot), snap, "snapshot")  # (None: not found, as a last resort)
        raise SnapshotError(f"not a valid wqinspect snapshot: {escape(bad or 'snapshot')}: more than 64 bits") \
            from None


def _too_large(t, v, path: str) -> str | None:
    """The path of the first integer in ``v`` (of type info ``t``) that takes more than 64 bits: over
    2^64 - 1 or under -2^63, if any."""
    if isinstance(v, int) and not isinstance(v, bool):
        return path if v > _U64_MAX or v < _I64_MIN else None
    if isinstance(t, mi.Metadata):
        t = t.type
    if isinstance(t, mi.UnionType):
        t = next((u for u in t.types if not isinstance(u, mi.NoneType)), t)
        t = t.type if isinstance(t, mi.Metadata) else t
    if isinstance(t, mi.StructType):
        for f in t.fields:
            bad = _too_large(f.type, getattr(v, f.name, None), f"{path}.{f.encode_name}")
            if bad:
                return bad
    elif isinstance(v, (list, tuple)):
        items = t.item_types if isinstance(t, mi.TupleType) else [getattr(t, "item_type", None)] * len(v)
        for i, (it, x) in enumerate(zip(items, v)):
            bad = _too_large(it, x, f"{path}[{i}]")
            if bad:
                return bad
    elif isinstance(v, dict):
        for k, x in v.items():
            bad = _too_large(getattr(t, "value_type", None), x, f"{path}.{k}")
            if bad:
                return bad
    return None


@contextlib.contextmanager
def no_gc_pauses():
    """Build a large object graph without the cyclic collector's pauses, then keep it out of later
    collections.  Snapshot objects form no cycles; without this, the collections that the allocations
    trigger cost 3-4 times the decoding itself on 100,000 work items."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if enabled:
            gc.enable()


def decode(buf: bytes) -> Snapshot:
    with no_gc_pauses():
        return _decode(buf)


def _decode(buf: bytes) -> Snapshot:
    try:
        try:
            # The common case first: one pass decodes and validates a current snapshot.
            snap = _decoder.decode(buf)
        except msgspec.ValidationError:
            snap = None
        if snap is not None and snap.schema == SCHEMA_VERSION:
            _refuse_over_64_bits(snap)
            return _checked(snap)
        try:
            schema = _head.decode(buf).schema
        except msgspec.ValidationError:
            msgspec.json.decode(buf)  # a syntax error says more than "not an object"
            raise
        if schema == SCHEMA_VERSION and not isinstance(schema, bool):
            _decoder.decode(buf)  # raises the validation error met above, with its path
        if schema != 1 or isinstance(schema, bool):
            raise _schema_error(schema)
        return from_dict(msgspec.json.decode(buf))
    except msgspec.ValidationError as e:
        raise _invalid(e) from None
    except msgspec.DecodeError as e:
        raise SnapshotError(f"not JSON: {escape(str(e))}") from None
    except RecursionError:
        raise SnapshotError("not a valid wqinspect snapshot: values are nested deeper than its schema") from None


def from_dict(data) -> Snapshot:
    """A snapshot from JSON values (schema 1 or 2)."""
    schema = data.get("schema") if isinstance(data, dict) else None
    if isinstance(schema, bool) or schema not in (1, SCHEMA_VERSION):
        raise _schema_error(schema)
    try:
        if schema == 1:
            data = upgrade_v1(data)
        snap = msgspec.convert(data, Snapshot)
        _refuse_over_64_bits(snap)
        return _checked(snap)
    except msgspec.ValidationError as e:
        raise _invalid(e) from None
    except RecursionError:
        raise SnapshotError("not a valid wqinspect snapshot: values are nested deeper than its schema") from None


def load(path: str) -> Snapshot:
    try:
        with open(path, "rb") as f:
            buf = f.read()
    except OSError as e:
        raise SnapshotError(f"cannot read {escape(path)}: {e.strerror}") from None
    try:
        snap = decode(buf)
    except SnapshotError as e:
        if str(e).startswith("not JSON"):
            raise SnapshotError(f"{escape(path)} is {e}") from None
        raise
    snap.loaded_from = path
    return snap


# ---- schema 1

def _is_addr(t) -> bool:
    return isinstance(t, mi.Metadata) and bool(t.extra) and t.extra.get("addr", False)


def _up(t, v):
    if _is_addr(t):
        if isinstance(v, str):
            try:
                return int(v, 16)
            except ValueError:
                return v  # refused by the validation that follows
        return v
    if isinstance(t, mi.UnionType):
        for u in t.types:
            if _is_addr(u) and isinstance(v, str):
                return _up(u, v)
        inner = [u for u in t.types if not isinstance(u, mi.NoneType)]
        return _up(inner[0], v) if len(inner) == 1 and v is not None else v
    if isinstance(t, mi.Metadata):
        t = t.type
    if isinstance(t, mi.StructType) and isinstance(v, dict):
        for f in t.fields:
            if f.encode_name in v:
                v[f.encode_name] = _up(f.type, v[f.encode_name])
        return v
    if isinstance(t, (mi.ListType, mi.VarTupleType)) and isinstance(v, list):
        return [_up(t.item_type, x) for x in v]
    if isinstance(t, mi.TupleType) and isinstance(v, list) and len(v) == len(t.item_types):
        return [_up(it, x) for it, x in zip(t.item_types, v)]
    if isinstance(t, mi.DictType) and isinstance(v, dict):
        return {k: _up(t.value_type, x) for k, x in v.items()}
    return v


_SNAPSHOT_TYPE = None


def upgrade_v1(data: dict) -> dict:
    """Schema 1 -> 2: hex strings become integers; empty [start, end) pairs become null."""
    global _SNAPSHOT_TYPE
    if _SNAPSHOT_TYPE is None:
        _SNAPSHOT_TYPE = mi.type_info(Snapshot)
    data = dict(data)
    kernel = data.get("kernel")
    if isinstance(kernel, dict):
        kernel = data["kernel"] = dict(kernel)
        if kernel.get("module_area") == []:
            kernel["module_area"] = None
    if data.get("kernel_image") == []:
        data["kernel_image"] = None
    data = _up(_SNAPSHOT_TYPE, data)
    data["schema"] = SCHEMA_VERSION
    return data
