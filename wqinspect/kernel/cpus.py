# SPDX-License-Identifier: LGPL-2.1-or-later
"""CPUs and NUMA nodes: counts checked against the debug info before they drive a loop.

``nr_cpu_ids`` and ``nr_node_ids`` are variables in memory: in a damaged dump
they can say 0x7fffffff, and every per-CPU or per-node loop would then run for
hours.  They are believed only up to the sizes the kernel was built with, which
the debug info gives: ``NR_CPUS`` as the length of ``__per_cpu_offset[]`` (or
of ``struct cpumask``'s bitmap), ``MAX_NUMNODES`` as the length of
``node_data[]`` (or of ``nodemask_t``'s bitmap).  CPU masks are read as raw
words, the per-cpu offsets once per program.
"""

from dataclasses import dataclass, field

from drgn import FaultError, Object, Program, TypeKind

from .structs import bits_set, words

_MASK = (1 << 64) - 1


@dataclass
class Cpus:
    nr_cpu_ids: int
    nr_node_ids: int
    possible: list[int]
    online: list[int]
    #: __per_cpu_offset[cpu] for cpu < nr_cpu_ids; None without CONFIG_SMP.
    per_cpu_offset: list[int] | None
    #: What was wrong with the counts or masks (object, message).
    problems: list[tuple[str, str]] = field(default_factory=list)

    def per_cpu_ptr(self, ptr: int, cpu: int) -> int:
        """``per_cpu_ptr()`` on an address."""
        return ptr if self.per_cpu_offset is None else (ptr + self.per_cpu_offset[cpu]) & _MASK


def _array_length(prog: Program, name: str) -> int | None:
    try:
        t = prog[name].type_.unqualified()
    except (KeyError, LookupError):
        return None
    return t.length if t.kind == TypeKind.ARRAY and t.length else None


def _bitmap_bits(prog: Program, type_name: str) -> int | None:
    try:
        t = prog.type(type_name)
        return t.member("bits").type.length * 64
    except (LookupError, AttributeError, TypeError):
        return None


def _checked(prog: Program, name: str, limit: int | None, default: int, problems: list) -> int:
    try:
        value = prog[name].value_()
    except KeyError:
        return default  # a macro: 1 without SMP or NUMA
    except FaultError as e:
        problems.append((name, f"unreadable ({e}): {default} assumed"))
        return default
    if value < 1 or (limit is not None and value > limit):
        fixed = limit if limit is not None and value > limit else default
        problems.append((name, f"{value:#x} is outside 1..{limit} (the kernel's build limit): damaged; "
                               f"{fixed} assumed"))
        return fixed
    return value


def _mask_address(prog: Program, name: str) -> int:
    """Address of ``__cpu_possible_mask`` / ``__cpu_online_mask`` (or the cpu_*_bits of old kernels)."""
    for var in (f"__cpu_{name}_mask", f"cpu_{name}_bits"):
        try:
            obj = prog[var]
        except KeyError:
            continue
        return obj.address_ if obj.type_.unqualified().kind != TypeKind.POINTER else obj.value_()
    from drgn.helpers.linux import cpumask

    obj: Object = getattr(cpumask, f"cpu_{name}_mask")(prog)
    return obj.value_()


def cpus(prog: Program) -> Cpus:
    """The checked CPU and node counts and masks of ``prog`` (cached per program)."""
    try:
        return prog.cache["wqinspect_cpus"]
    except KeyError:
        pass
    problems: list[tuple[str, str]] = []
    nr_cpus_limit = _array_length(prog, "__per_cpu_offset") or _bitmap_bits(prog, "struct cpumask")
    nr_cpu = _checked(prog, "nr_cpu_ids", nr_cpus_limit, 1, problems)
    nodes_limit = _array_length(prog, "node_data") or _bitmap_bits(prog, "nodemask_t")
    nr_node = _checked(prog, "nr_node_ids", nodes_limit, 1, problems)
    nwords = (nr_cpu + 63) // 64
    masks = {}
    for name in ("possible", "online"):
        try:
            masks[name] = bits_set(words(prog, _mask_address(prog, name), nwords), nr_cpu)
        except (FaultError, LookupError) as e:
            problems.append((f"cpu_{name}_mask", f"unreadable: {e}"))
            masks[name] = [0]
    offsets = None
    if "__per_cpu_offset" in prog:
        try:
            offsets = words(prog, prog["__per_cpu_offset"].address_, nr_cpu)
        except FaultError as e:
            problems.append(("__per_cpu_offset", f"unreadable: {e}"))
            offsets = [0] * nr_cpu
    c = prog.cache["wqinspect_cpus"] = Cpus(nr_cpu, nr_node, masks["possible"], masks["online"], offsets, problems)
    return c


def cpumask_cpus(prog: Program, address: int) -> list[int]:
    """CPUs set in the ``struct cpumask`` at ``address`` (bits below nr_cpu_ids); [] for NULL."""
    if not address:
        return []
    n = cpus(prog).nr_cpu_ids
    return bits_set(words(prog, address, (n + 63) // 64), n)


def cpumask_var_is_pointer(prog: Program) -> bool:
    """Whether ``cpumask_var_t`` is a pointer (CONFIG_CPUMASK_OFFSTACK) or a one-element array."""
    from .layout import layout

    return layout(prog).cpumask_offstack
