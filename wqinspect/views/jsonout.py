# SPDX-License-Identifier: LGPL-2.1-or-later
"""Snapshot values as JSON for the commands' output: every address and 64-bit word as a ``"0x…"`` string.

jq and JavaScript read JSON numbers as doubles, which round 64-bit kernel
addresses; the snapshot file keeps exact integers, the commands' JSON hex strings.
"""

import msgspec
import msgspec.inspect as mi


def hexa(v):
    return None if v is None else f"{v:#x}"


def _is_addr(t) -> bool:
    return isinstance(t, mi.Metadata) and bool(t.extra) and t.extra.get("addr", False)


def _conv(t):
    """A function that rewrites the builtins form of a value of type ``t``, or None if nothing to do."""
    if _is_addr(t):
        return hexa
    if isinstance(t, mi.Metadata):
        t = t.type
    if isinstance(t, mi.UnionType):
        inner = [u for u in t.types if not isinstance(u, mi.NoneType)]
        if len(inner) == 1:
            f = _conv(inner[0])
            return None if f is None else (lambda v: None if v is None else f(v))
        return None
    if isinstance(t, mi.StructType):
        plan = _plan(t.cls)
        return (lambda v: _apply(plan, v)) if plan else None
    if isinstance(t, (mi.ListType, mi.VarTupleType)):
        f = _conv(t.item_type)
        return None if f is None else (lambda v: [f(x) for x in v])
    if isinstance(t, mi.TupleType):
        fs = [_conv(x) for x in t.item_types]
        if not any(fs):
            return None
        return lambda v: [f(x) if f else x for f, x in zip(fs, v)]
    if isinstance(t, mi.DictType):
        f = _conv(t.value_type)
        return None if f is None else (lambda v: {k: f(x) for k, x in v.items()})
    return None


_PLANS: dict[type, list] = {}


def _plan(cls) -> list:
    plan = _PLANS.get(cls)
    if plan is None:
        _PLANS[cls] = []  # (recursive types)
        info = mi.type_info(cls)
        plan = _PLANS[cls] = [(f.encode_name, c) for f in info.fields if (c := _conv(f.type)) is not None]
    return plan


def _apply(plan, d: dict) -> dict:
    for name, f in plan:
        v = d.get(name)
        if v is not None:
            d[name] = f(v)
    return d


def jsonable(obj):
    """``obj`` (a snapshot Struct, or a list or dict of them) as JSON values, addresses in hex."""
    if isinstance(obj, msgspec.Struct):
        return _apply(_plan(type(obj)), msgspec.to_builtins(obj))
    if isinstance(obj, (list, tuple)):
        return [jsonable(x) for x in obj]
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    return msgspec.to_builtins(obj)
