"""Runs Python programs one after another in this process (torch is imported once) and prints
a JSON object mapping each path to what it printed."""

import contextlib
import io
import json
import runpy
import sys

import torch  # noqa: F401  (imported once for all programs)

out = {}
for path in sys.argv[1:]:
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        runpy.run_path(path, run_name="__main__")
    out[path] = buf.getvalue()
json.dump(out, sys.stdout)
