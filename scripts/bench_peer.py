"""The twin's side of `tchdist bench --peer DIR`: answers "run one pipeline of n samples" and
the memory questions over two named pipes, so that the run policy (warm-ups, repetitions,
budget) lives once, in tchdist's `bench` (cli/src/bench.rs). Imported by scripts/bench_ref.py
(the PyTorch twin) and scripts/bench_jax.py (the JAX twin); it imports neither torch nor jax.

Requests, one per line: `run N` (seed, run one pipeline of N samples, answer its seconds),
`reset` (collect the garbage and hand freed heap pages back, see `settle`; reset the peak RSS;
answer the RSS now in bytes), `peak` (answer the peak RSS in bytes). Answers: `ok VALUE` or
`error MESSAGE` (one line; the twin goes on serving).
"""

import ctypes
import gc
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


def settle():
    """Before the peak is reset: collects the garbage this process holds (a forked PyTorch twin
    inherits its parent's) and hands the freed heap pages back to the kernel (glibc's
    `malloc_trim`), so that the peak above the RSS at the reset counts the pages the pipeline
    itself needs. Without it, garbage collected during the timed runs left free heap pages that
    the pipeline's tensors reused uncounted: at n = 1000, d = 10, f32 ten 103,800-byte dict
    copies made before the reset and collected after it took the PyTorch twin's jacfwd from
    2.6-3.6 MiB above start to 0.9-2.1, run to run, while the bytes its allocations held at
    their peak (counted under a malloc wrapper) were the same as tchdist's, 1.99 against 1.93
    MiB (docs/ARCHITECTURE.md, "Memory"). tchdist's side has no garbage collector, and jemalloc
    hands freed pages back within 100 ms (.cargo/config.toml)."""
    gc.collect()
    try:
        trim = ctypes.CDLL(None).malloc_trim
    except (AttributeError, OSError):
        return  # not glibc: nothing to hand back by hand
    trim(0)


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
                    settle()
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
