"""The twin's side of `tchdist bench --peer DIR`: answers "run one pipeline of n samples" and
the memory questions over two named pipes, so that the run policy (warm-ups, repetitions,
budget) lives once, in tchdist's `bench` (cli/src/bench.rs). Imported by scripts/bench_ref.py
(the PyTorch twin) and scripts/bench_jax.py (the JAX twin); it imports neither torch nor jax.

Requests, one per line: `run N` (seed, run one pipeline of N samples, answer its seconds),
`reset` (reset the peak RSS, answer the RSS now in bytes), `peak` (answer the peak RSS in
bytes). Answers: `ok VALUE` or `error MESSAGE` (one line; the twin goes on serving).
"""

import os
import re
from pathlib import Path


def make_pipes(directory):
    """The two named pipes `tchdist bench --peer` opens in `directory`."""
    for name in ("requests", "replies"):
        os.mkfifo(os.path.join(directory, name))


def status_kib(field, pid="self"):
    """A kB field of /proc/PID/status (VmRSS, VmHWM, VmSize), in KiB; None where the process
    has no such line (a zombie)."""
    text = Path(f"/proc/{pid}/status").read_text()
    m = re.search(rf"^{field}:\s+(\d+)", text, re.M)
    return int(m.group(1)) if m else None


def failure_line(e):
    """An exception as one line (its type and the first line of its message)."""
    text = str(e).splitlines()[0] if str(e) else ""
    return f"{type(e).__name__}: {text}"[:200]


def serve(directory, make_pipeline):
    """Answers requests until tchdist closes the pipes. `make_pipeline()` returns `run_once`,
    which runs one pipeline of n samples and returns its seconds; it is called after the pipes
    are open, so that a twin that cannot even start answers with its error instead of leaving
    tchdist waiting on the pipes. Opens `requests` then `replies`, in tchdist's order."""
    with open(os.path.join(directory, "requests")) as requests, \
            open(os.path.join(directory, "replies"), "w") as replies:
        try:
            run_once, broken = make_pipeline(), None
        except Exception as e:
            run_once, broken = None, e
        for line in requests:
            words = line.split()
            try:
                if broken is not None:
                    raise broken
                if words[:1] == ["run"] and len(words) == 2:
                    answer = repr(float(run_once(int(words[1]))))
                elif words == ["reset"]:
                    Path("/proc/self/clear_refs").write_text("5")
                    answer = str(status_kib("VmRSS") * 1024)
                elif words == ["peak"]:
                    answer = str(status_kib("VmHWM") * 1024)
                else:
                    raise ValueError(f"unknown request {line.strip()!r}")
                replies.write(f"ok {answer}\n")
            except Exception as e:  # a failing pipeline is a result, reported to tchdist
                replies.write(f"error {failure_line(e)}\n")
            replies.flush()
