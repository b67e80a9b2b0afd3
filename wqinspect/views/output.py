# SPDX-License-Identifier: LGPL-2.1-or-later
"""Writing a view model to a stream: its table blocks, or its JSON document, as it goes."""

import io
import sys

from . import data, tables
from .render import Writer, binary, encode, write_json


def emit(view, as_json: bool, stream=None) -> None:
    """Write ``view`` (a view model) to ``stream`` (default: stdout), as JSON or as tables."""
    stream = stream if stream is not None else sys.stdout
    if as_json:
        doc = data.doc(view)
        out = binary(stream)
        if out is None:
            out = _Bytes(stream)
        write_json(out, doc.head, doc.key, doc.items, doc.tail)
        out.flush()
    else:
        Writer(stream, view.opts).write(tables.blocks(view))
        stream.flush()


def json_line(view) -> str:
    """The view's JSON document on one line (``monitor --json`` prints one per sample: NDJSON)."""
    return encode(data.doc(view).dict()).decode()


def encode_line(value) -> str:
    """Any JSON value on one line (strings exact)."""
    return encode(value).decode()


def text(view) -> str:
    """The view's tables as one string (the monitor's refreshing screen)."""
    buf = io.StringIO()
    Writer(buf, view.opts).write(tables.blocks(view))
    return buf.getvalue()


class _Bytes:
    """Bytes written to a text stream that has no binary buffer under it."""

    def __init__(self, stream):
        self.stream = stream

    def write(self, b: bytes) -> None:
        self.stream.write(b.decode())

    def flush(self) -> None:
        self.stream.flush()
