# SPDX-License-Identifier: LGPL-2.1-or-later
"""A small QMP client (QEMU Machine Protocol over a unix socket)."""

import json
import socket
import time
from pathlib import Path

from . import TestbedError


class QMP:
    def __init__(self, path: Path, timeout: float = 600.0):
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.settimeout(timeout)
        deadline = time.monotonic() + 30
        while True:
            try:
                self.sock.connect(str(path))
                break
            except (FileNotFoundError, ConnectionRefusedError):
                if time.monotonic() > deadline:
                    raise TestbedError(f"QMP socket {path} did not appear") from None
                time.sleep(0.05)
        self.file = self.sock.makefile("rwb")
        self.events: list[dict] = []
        self._recv()  # greeting
        self.execute("qmp_capabilities")

    def _recv(self) -> dict:
        while True:
            line = self.file.readline()
            if not line:
                raise TestbedError("QEMU closed its QMP socket")
            msg = json.loads(line)
            if "event" in msg:
                self.events.append(msg)
                continue
            return msg

    def execute(self, command: str, **arguments):
        req: dict = {"execute": command}
        if arguments:
            req["arguments"] = arguments
        self.file.write(json.dumps(req).encode() + b"\n")
        self.file.flush()
        resp = self._recv()
        if "error" in resp:
            raise TestbedError(f"QMP {command} failed: {resp['error'].get('desc', resp['error'])}")
        return resp.get("return")

    def close(self) -> None:
        try:
            self.file.close()
        except OSError:
            pass  # QEMU already exited (a guest that powered off): the unsent request goes nowhere
        finally:
            self.sock.close()
