# SPDX-License-Identifier: LGPL-2.1-or-later
"""Snapshot values as JSON for the commands' output: every address and 64-bit word as a ``"0x…"`` string.

jq and JavaScript read JSON numbers as doubles, which round 64-bit kernel
addresses; the snapshot file keeps exact integers, the commands' JSON hex strings.

For each snapshot type, one converter function is generated from its msgspec type
information (the first time it is needed): it builds the JSON values of an object in
one pass, which matters for 100,000 work items.
"""

import msgspec
import msgspec.inspect as mi


def hexa(v):
    return None if v is None else f"{v:#x}"


def _is_addr(t) -> bool:
    """An address or a 64-bit word (jiffies, a timer's expiry, nanoseconds): beyond what a double holds."""
    return isinstance(t, mi.Metadata) and bool(t.extra) and bool(t.extra.get("addr") or t.extra.get("u64"))


def _plain(t) -> bool:
    """Whether values of type ``t`` hold no address and no struct (written as msgspec.to_builtins writes them)."""
    if _is_addr(t):
        return False
    if isinstance(t, mi.Metadata):
        t = t.type
    if isinstance(t, mi.StructType):
        return False
    if isinstance(t, mi.UnionType):
        return all(_plain(u) for u in t.types)
    if isinstance(t, (mi.ListType, mi.VarTupleType, mi.SetType, mi.FrozenSetType)):
        return _plain(t.item_type)
    if isinstance(t, mi.TupleType):
        return all(_plain(u) for u in t.item_types)
    if isinstance(t, mi.DictType):
        return _plain(t.value_type)
    return True


def _scalar(t) -> bool:
    if isinstance(t, mi.Metadata):
        t = t.type
    if isinstance(t, mi.UnionType):
        return all(_scalar(u) for u in t.types)
    return isinstance(t, (mi.IntType, mi.StrType, mi.BoolType, mi.NoneType, mi.FloatType, mi.EnumType,
                          mi.LiteralType))


class _Gen:
    def __init__(self):
        self.env = {"_tb": msgspec.to_builtins, "hex": hex}
        self.n = 0

    def expr(self, t, x: str, depth: int = 0) -> str:
        """A Python expression for the JSON value of ``x`` (an expression of type ``t``)."""
        if _is_addr(t):
            return f"hex({x})"
        if isinstance(t, mi.Metadata):
            t = t.type
        if _plain(t):
            if _scalar(t):
                return x
            if isinstance(t, (mi.ListType, mi.VarTupleType)) and _scalar(t.item_type) and not isinstance(
                    t.item_type, mi.FloatType):
                return f"list({x})"  # (a list of names or numbers: a copy, as msgspec.to_builtins gives)
            return f"_tb({x})"
        y = f"_y{depth}"
        if isinstance(t, mi.UnionType):
            inner = [u for u in t.types if not isinstance(u, mi.NoneType)]
            if len(inner) == 1:
                return f"(None if {x} is None else {self.expr(inner[0], x, depth)})"
            return f"_jsonable({x})"
        if isinstance(t, mi.StructType):
            return f"{self.func(t.cls)}({x})"
        if isinstance(t, (mi.ListType, mi.VarTupleType, mi.SetType, mi.FrozenSetType)):
            return f"[{self.expr(t.item_type, y, depth + 1)} for {y} in {x}]"
        if isinstance(t, mi.TupleType):
            return "[" + ", ".join(self.expr(u, f"{x}[{i}]", depth) for i, u in enumerate(t.item_types)) + "]"
        if isinstance(t, mi.DictType):
            k = f"_k{depth}"
            return f"{{str({k}): {self.expr(t.value_type, y, depth + 1)} for {k}, {y} in {x}.items()}}"
        return f"_jsonable({x})"

    def func(self, cls) -> str:
        name = f"_conv_{cls.__name__}_{id(cls):x}"
        if name in self.env:
            return name
        self.env[name] = None  # (recursive types)
        fields = mi.type_info(cls).fields
        body = ", ".join(f"{f.encode_name!r}: {self.expr(f.type, f'o.{f.name}')}" for f in fields)
        src = f"def {name}(o):\n    return {{{body}}}\n"
        exec(compile(src, f"<jsonable {cls.__name__}>", "exec"), self.env)
        return name


_gen = _Gen()
_CONV: dict[type, object] = {}


def converter(cls):
    """The function that gives the JSON values of a ``cls`` object."""
    f = _CONV.get(cls)
    if f is None:
        _gen.env["_jsonable"] = jsonable
        f = _CONV[cls] = _gen.env[_gen.func(cls)]
    return f


def jsonable(obj):
    """``obj`` (a snapshot Struct, or a list or dict of them) as JSON values, addresses in hex."""
    if isinstance(obj, msgspec.Struct):
        return converter(type(obj))(obj)
    if isinstance(obj, (list, tuple)):
        return [jsonable(x) for x in obj]
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    return msgspec.to_builtins(obj)
