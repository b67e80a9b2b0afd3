# SPDX-License-Identifier: LGPL-2.1-or-later
"""Writing views: plain-text tables and trees for people, streamed JSON for programs.

Every string that reaches a terminal goes through :func:`wqinspect.text.escape`
here, in one place: cells, notes, tree lines and warnings.  JSON keeps the exact
text (the encoder escapes it).

Tables are laid out from a cheap first pass over the row tuples (column widths),
then written line by line: nothing keeps the whole rendered table.  On a terminal
they fit its width without ever breaking a name: text columns wrap at spaces and
commas, name columns are shortened from the left (as the kernel's wq_monitor.py
does), and only when that is not enough are columns left out, with a note that
``-w`` shows them.  Piped, a table has its natural widths and no trailing spaces.
"""

import json
import os
import re
import sys
from collections.abc import Iterable, Iterator
from itertools import chain, islice
from dataclasses import dataclass, field

import msgspec

from ..text import escape

#: SGR codes of the few styles the views use.
_SGR = {"bold": "1", "dim": "2", "italic": "3", "red": "31", "green": "32", "yellow": "33", "magenta": "35",
        "cyan": "36"}

#: Name columns are never shortened below this (wq_monitor.py keeps 24 characters of a name).
NAME_MIN = 24
#: Text columns wrap, but not below this; the last column keeps this much before names are shortened.
WRAP_MIN = 16
COMFORT = 40
GAP = "  "
#: Piped, a table of more rows than this is written as its rows are made (Writer._stream).
STREAM_ROWS = 1000


@dataclass
class Options:
    """How to write: decided once per command from the options and the output stream."""

    #: stdout is a terminal: fit its width, group long lists.
    terminal: bool = False
    width: int = 80
    color: bool = False
    #: -w/--wide: every column, nothing shortened or wrapped.
    wide: bool = False
    #: works: --all lists every item (no grouping); --limit N the first N.
    all: bool = False
    limit: int | None = None
    #: -v: object addresses in the tables.
    verbose: bool = False
    #: --cpu N: only pools, workers and works of that CPU.
    cpu: int | None = None

    @classmethod
    def for_stream(cls, stream=None, **kw) -> "Options":
        stream = stream if stream is not None else sys.stdout
        terminal = bool(getattr(stream, "isatty", lambda: False)())
        width = 80
        if terminal:
            try:
                width = os.get_terminal_size(stream.fileno()).columns
            except (OSError, ValueError, AttributeError):
                width = 80
        cols = os.environ.get("COLUMNS", "")
        if terminal and cols.isdigit() and int(cols) > 0:
            width = int(cols)
        if width < 20:  # (a pseudo-terminal that says 0 columns)
            width = 80
        return cls(terminal=terminal, width=width, color=terminal and color_allowed(), **kw)


def color_allowed() -> bool:
    """NO_COLOR (any value, https://no-color.org) and TERM=dumb turn every style off."""
    return "NO_COLOR" not in os.environ and os.environ.get("TERM", "") != "dumb"


class Styled(str):
    """A cell or note with a style (bold, red, ...), shown only where colour is allowed."""

    style: str = ""

    def __new__(cls, text: str, style: str = ""):
        s = super().__new__(cls, text)
        s.style = style
        return s


def styled(text: str, style: str, opts: Options) -> str:
    if not opts.color or not style or not text:
        return text
    codes = ";".join(_SGR[s] for s in style.split() if s in _SGR)
    return f"\x1b[{codes}m{text}\x1b[0m" if codes else text


# -- blocks a view is made of ---------------------------------------------------------------------------------------


@dataclass
class Column:
    name: str
    right: bool = False
    #: "name": shortened from the left; "wrap": wrapped at spaces and commas; "fixed": never narrower.
    fit: str = "fixed"
    #: Shown even when every cell is empty.
    keep: bool = False


@dataclass
class Table:
    title: str
    columns: list[Column]
    #: Tuples of cells (str or Styled); "" or "-" is an empty cell.
    rows: Iterable[tuple]
    #: A note after the table (e.g. how many rows were left out).
    footer: Iterable[str] = ()


@dataclass
class Note:
    text: str
    style: str = ""


@dataclass
class Node:
    """A tree node: one line of text, then its children indented under it."""

    text: str
    style: str = ""
    children: list["Node"] = field(default_factory=list)

    def add(self, text: str, style: str = "") -> "Node":
        n = Node(text, style)
        self.children.append(n)
        return n


# -- text -----------------------------------------------------------------------------------------------------------


def cell_len(s: str) -> int:
    if s.isascii():
        return len(s)
    from rich.cells import cell_len as cl

    return cl(s)


def _words(s: str) -> list[str]:
    """Pieces a wrapped cell may break between: after a space or a comma."""
    return re.findall(r"[^ ,]*,|[^ ,]+ ?| ", s) or [""]


def wrap(s: str, width: int) -> list[str]:
    """``s`` in lines of at most ``width`` cells, broken only after spaces and commas (a longer word is
    shortened from the left)."""
    if cell_len(s) <= width:
        return [s]
    lines, cur = [], ""
    for w in _words(s):
        if cur and cell_len(cur + w.rstrip()) > width:
            lines.append(cur.rstrip())
            cur = w.lstrip() if w != " " else ""
        else:
            cur += w
        if cell_len(cur.rstrip()) > width:  # one word longer than the column: shortened, never split
            lines.append(shorten(cur.rstrip(), width))
            cur = ""
    if cur.strip():
        lines.append(cur.rstrip())
    return lines or [""]


def shorten(s: str, width: int) -> str:
    """``s`` cut from the left to ``width`` cells, marked with an ellipsis."""
    if cell_len(s) <= width:
        return s
    if width <= 1:
        return s[-width:] if width else ""
    out = s[-(width - 1):]
    while cell_len(out) > width - 1:
        out = out[1:]
    return "…" + out


def _pad(s: str, width: int, right: bool) -> str:
    n = width - cell_len(s)
    return (" " * n + s) if right else (s + " " * n)


class Writer:
    """Writes the blocks of a view to a text stream."""

    def __init__(self, out, opts: Options):
        self.out = out
        self.opts = opts

    def write(self, blocks: Iterable) -> None:
        for b in blocks:
            if isinstance(b, Table):
                self.table(b)
            elif isinstance(b, Node):
                self.tree(b)
            elif isinstance(b, Note):
                self.note(b.text, b.style)
            elif isinstance(b, str):
                self.note(b, getattr(b, "style", ""))
            elif b is not None:
                raise TypeError(f"not a view block: {type(b).__name__}")

    def note(self, text: str, style: str = "") -> None:
        lines = escape_lines(text)
        if self.opts.terminal and not self.opts.wide:
            lines = [x for line in lines for x in wrap(line, self.opts.width)]
        self.out.write("".join(styled(line, style, self.opts) + "\n" for line in lines))

    # -- tables
    def table(self, t: Table) -> None:
        o = self.opts
        ncol = len(t.columns)
        if o.terminal:
            rows = list(t.rows)
        else:
            it = iter(t.rows)
            rows = list(islice(it, STREAM_ROWS + 1))
            if len(rows) > STREAM_ROWS:
                self._stream(t, rows, it)
                return
        data = [list(c) for c in zip(*rows)] if rows else [[] for _ in range(ncol)]
        changed = False
        for i, col in enumerate(data):  # one test per column; escape() keeps a printable (Styled) cell as it is
            if not "".join(col).isprintable():
                data[i], changed = [escape(c) for c in col], True
        if not o.terminal:  # piped: an empty cell in the middle of a line would shift the columns after it
            for i, col in enumerate(data[:-1]):
                if "" in col:
                    data[i], changed = ["-" if c == "" else c for c in col], True
        cols = list(range(ncol))
        if not o.wide:  # columns empty for every row say nothing
            cols = [i for i in cols if t.columns[i].keep or i == 0 or not set(data[i]) <= {"", "-"}]
        if len(cols) != ncol or changed:
            rows = list(zip(*(data[i] for i in cols))) if rows else []
        columns = [t.columns[i] for i in cols]
        data = [data[i] for i in cols]
        names = [c.name for c in columns]
        ascii_ = ["".join(col).isascii() for col in data]
        widths = [max(cell_len(n), max(map(len if a else cell_len, col), default=0))
                  for n, col, a in zip(names, data, ascii_)]
        hidden = 0
        simple = True  # every row is one line, every cell fits its column: rows go through str.format
        if o.terminal and not o.wide:
            natural = widths
            widths, keep = self._fit(columns, widths, data)
            hidden = len(cols) - keep
            for j in range(keep):
                if natural[j] <= widths[j]:
                    continue
                if columns[j].fit == "name":  # shortened from the left, once per column
                    w = widths[j]
                    data[j] = [c if cell_len(c) <= w else shorten(c, w) for c in data[j]]
                else:
                    simple = False
            if o.color and any(isinstance(c, Styled) and c.style for col in data[:keep] for c in col):
                simple = False
            columns, widths, names, data = columns[:keep], widths[:keep], names[:keep], data[:keep]
            rows = list(zip(*data)) if rows else []
        del data
        title = escape(t.title)
        if title:
            self.out.write(styled(title, "bold italic" if o.terminal else "", o) + "\n")
        right = [c.right for c in columns]
        fits = [c.fit for c in columns]
        self.out.write(styled(self._line(names, widths, right), "bold", o) + "\n")
        write = self.out.write
        last = len(columns) - 1
        if simple and all(a for j, a in enumerate(ascii_[:len(columns)]) if j < last or right[j]):
            # (str.format pads by characters: right for every padded column here)
            fmt = GAP.join(("{:>%d}" if right[j] else "{:<%d}") % widths[j] if (j < last or right[j]) else "{}"
                           for j in range(len(columns)))
            for k in range(0, len(rows), 1024):
                write("\n".join([fmt.format(*r).rstrip() for r in rows[k:k + 1024]]) + "\n")
        else:
            buf = []
            padded_ascii = all(a for j, a in enumerate(ascii_[:len(columns)]) if j < last or right[j])
            fmt = GAP.join(("{:>%d}" if right[j] else "{:<%d}") % widths[j] if (j < last or right[j]) else "{}"
                           for j in range(len(columns)))
            check = [j for j in range(len(columns)) if fits[j] == "wrap"]
            plain = not (o.color and any(isinstance(c, Styled) for r in rows for c in r))
            for r in rows:
                if not o.terminal:
                    buf.append(self._line(r, widths, right))
                elif plain and padded_ascii and all(len(r[j]) <= widths[j] for j in check):
                    buf.append(fmt.format(*r).rstrip())  # (this row fits as it is)
                else:
                    st = [getattr(c, "style", "") for c in r] if o.color else None
                    buf.extend(self._cell_lines(r, widths, right, fits, st))
                if len(buf) >= 512:
                    write("\n".join(buf) + "\n")
                    buf.clear()
            if buf:
                write("\n".join(buf) + "\n")
        for f in t.footer:
            self.note(f, "dim")
        if hidden:
            self.note(f"({hidden} column(s) left out to fit {o.width} columns: -w shows them)", "dim")

    def _stream(self, t: Table, head: list[tuple], rest: Iterator[tuple]) -> None:
        """A piped table of more than STREAM_ROWS rows, written as its rows are made: its widths are
        those of its first rows (a wider cell later pushes the rest of its line right; nothing is cut),
        and it keeps every column (whether one stays empty is not known before the end)."""
        last = len(t.columns) - 1

        def clean(r: tuple) -> tuple:
            return tuple("-" if c == "" and j < last else c if c.isprintable() else escape(c) for j, c in enumerate(r))

        first = [r if "".join(r).isprintable() and "" not in r[:last] else clean(r) for r in head]
        names = [c.name for c in t.columns]
        widths = [max(cell_len(n), max((cell_len(r[j]) for r in first[:STREAM_ROWS]), default=0))
                  for j, n in enumerate(names)]
        right = [c.right for c in t.columns]
        if t.title:
            self.out.write(escape(t.title) + "\n")
        write, line = self.out.write, self._line
        write(line(names, widths, right) + "\n")
        # str.format pads ASCII cells as _line() does (a wider cell is not cut); other rows go through _line().
        fmt = GAP.join(("{:>%d}" if right[j] else "{:<%d}") % widths[j] if (j < last or right[j]) else "{}"
                       for j in range(last + 1)).format
        rows = chain(first, rest)
        while True:
            block = []
            for r in islice(rows, 1024):
                text = "".join(r)
                if not text.isprintable() or "" in r[:last]:
                    r = clean(r)
                    text = "".join(r)
                # (most rows: ASCII, padded by str.format as _line() pads them)
                block.append(fmt(*r).rstrip() if text.isascii() else line(r, widths, right))
            if not block:
                break
            write("\n".join(block) + "\n")
        for f in t.footer:
            self.note(f, "dim")

    def _line(self, cells, widths, right) -> str:
        last = len(cells) - 1
        parts = [c if (j == last and not right[j]) else _pad(c, widths[j], right[j]) for j, c in enumerate(cells)]
        return GAP.join(parts).rstrip()

    def _cell_lines(self, cells, widths, right, fits, st) -> list[str]:
        o = self.opts
        cols = []
        for j, c in enumerate(cells):
            w = widths[j]
            if o.wide or cell_len(c) <= w:
                cols.append([c])
            elif fits[j] == "name":
                cols.append([shorten(c, w)])
            else:
                cols.append(wrap(c, w))
        height = max(len(c) for c in cols)
        out = []
        last = len(cells) - 1
        for h in range(height):
            parts = []
            for j, c in enumerate(cols):
                text = c[h] if h < len(c) else ""
                padded = text if (j == last and not right[j]) else _pad(text, widths[j], right[j])
                if st and st[j] and text:
                    padded = padded.replace(text, styled(text, st[j], o), 1)
                parts.append(padded)
            out.append(GAP.join(parts).rstrip())
        return out

    def _fit(self, columns: list[Column], widths: list[int], cells: list[list[str]]) -> tuple[list[int], int]:
        """Widths that fit the terminal, and how many columns (from the left) are shown."""
        width = self.opts.width
        widths = list(widths)

        def total(n=None):
            ws = widths[:n] if n else widths
            return sum(ws) + len(GAP) * (len(ws) - 1)

        if total() <= width:
            return widths, len(widths)
        mins = []
        for c, w in zip(columns, widths):
            head = cell_len(c.name)
            if c.fit == "wrap":  # (a word longer than that is shortened from the left, as names are)
                mins.append(min(w, max(head, WRAP_MIN)))
            elif c.fit == "name":
                mins.append(min(w, max(head, NAME_MIN)))
            else:
                mins.append(w)
        last = len(widths) - 1
        # Which columns give up room, in turn: the text columns before the last (they wrap), the last one
        # down to a readable width, the names (shortened from the left), then the last one down to its least.
        steps = [([j for j in range(last) if columns[j].fit == "wrap"], mins),
                 ([last] if columns[last].fit == "wrap" else [], [max(m, COMFORT) for m in mins]),
                 ([j for j in range(last + 1) if columns[j].fit == "name"], mins),
                 ([last] if columns[last].fit == "wrap" else [], mins)]
        for which, floor in steps:
            for j in sorted(which, key=lambda j: -widths[j]):
                excess = total() - width
                if excess <= 0:
                    return widths, len(widths)
                widths[j] = max(min(floor[j], widths[j]), widths[j] - excess)
        if total() <= width:
            return widths, len(widths)
        n = len(widths)
        while n > 1 and total(n) > width:
            n -= 1
        return widths, n

    # -- trees
    def tree(self, root: Node) -> None:
        self._node(root, "", "", True)

    def _node(self, node: Node, lead: str, cont: str, top: bool) -> None:
        lines = escape_lines(node.text)
        o = self.opts
        if o.terminal and not o.wide:
            room = max(o.width - cell_len(lead), 20)
            lines = [x for line in lines for x in wrap(line, room)]
        self.out.write(lead + styled(lines[0], node.style, o) + "\n")
        for line in lines[1:]:
            self.out.write((cont + ("    " if not node.children else "│   ") + line).rstrip() + "\n")
        for i, ch in enumerate(node.children):
            last = i == len(node.children) - 1
            self._node(ch, cont + ("└── " if last else "├── "), cont + ("    " if last else "│   "), False)


def escape_lines(text: str) -> list[str]:
    """``text`` escaped, as one line: a newline in it (a comm set with PR_SET_NAME, a name in a doctored
    snapshot) is shown as an escape and never starts a line of its own; the views break lines themselves."""
    return [escape(text)]


# -- JSON -----------------------------------------------------------------------------------------------------------

_enc = msgspec.json.Encoder()


def encode(value) -> bytes:
    """One JSON value; strings exact (a lone surrogate, which UTF-8 cannot carry, as its \\u escape)."""
    try:
        return _enc.encode(value)
    except UnicodeEncodeError:
        return json.dumps(value, ensure_ascii=True).encode()


def _lines(items: list) -> bytes:
    """``items`` as JSON values, one per line, each line but the last ending with a comma."""
    try:
        # One call in C: encode_lines() ends each value with a newline, and a value never holds a raw
        # newline (JSON escapes it in strings), so each newline is where a comma goes.
        return _enc.encode_lines(items)[:-1].replace(b"\n", b",\n")
    except UnicodeEncodeError:
        return b",\n".join(map(encode, items))


def write_json(out, head: dict, key: str | None, items: Iterable, tail: dict) -> None:
    """``{**head, key: [items...], **tail}`` written as it goes: one item per line, one JSON document."""
    parts = encode(head)[:-1]
    out.write(parts)
    if key is not None:
        out.write((b"," if head else b"") + encode(key) + b":[")
        it = iter(items)
        sep = b"\n"
        while batch := list(islice(it, 256)):
            out.write(sep + _lines(batch))
            sep = b",\n"
        out.write(b"\n]" if sep != b"\n" else b"]")
    if tail:
        out.write((b"," if (head or key is not None) else b"") + encode(tail)[1:])
    else:
        out.write(b"}")
    out.write(b"\n")


def binary(stream):
    """The byte stream under a text stream (flushed first)."""
    stream.flush()
    return getattr(stream, "buffer", None)
