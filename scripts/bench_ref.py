"""tchdist against PyTorch, side by side, in one run (scripts/bench runs this with the set-up
venv's Python after building the release binary).

1. Whole process: `target/release/tchdist jacobian` against `python
   tests/fixtures/question_answer.py`, alternating, after one warm-up each: wall time and peak
   RSS (from wait4), medians, ratio tchdist/Python.
2. In-process Jacobian: for each (n, d) and dtype, every method in tchdist (`tchdist bench`, one
   process per cell) and its PyTorch twin (src/mvn_jacobian/pytorch_twin.py's `compute`, run in a
   child forked from this process after `import torch`, one per cell), alternating, plus the
   floor (one Cholesky and the two triangular solves over all n samples) on both sides. Each
   side times the whole pipeline (build the distribution, sample, log_prob, Jacobian): one run
   at n/100 first (one-time costs), untimed full-size warm-ups, then timed runs until
   `--repeat` or `--budget-s`; it reports the median, the process's peak RSS, and the peak above
   the RSS before the first full-size run ("extra": what the method needed). Both sides run
   under the same address-space cap, so a method that asks for more fails with PyTorch's or
   libtorch's allocation error instead of swapping the machine. At n = 10000 the n²-methods are
   probed at n/10 first; a cell where either side would pass `--cell-limit-s` is skipped, and at
   10000 x 50 f64 (the memory target) its first `--window-s` seconds at full size still give the
   peak RSS.
3. Where PyTorch sees a CUDA GPU, the same cells on it (both sides on the GPU, synchronised
   before the clock stops; the Python cells in fresh processes, as CUDA cannot start in a
   forked child).
4. Writes docs/BENCHMARKS.md and docs/bench.svg (CPU, time against n, log-log, one line per
   method and side).

Run it through `scripts/bench` (which sets up and builds first). `--quick` runs the two small
sizes only.
"""

import argparse
import functools
import json
import math
import os
import platform
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src" / "mvn_jacobian"))
sys.path.insert(0, str(ROOT / "scripts"))
import bench_peer  # noqa: E402

np = None  # numpy, imported with torch

# torch is imported after the whole-process runs (see timed_process) by import_torch().
torch = None
compute = None
closed_form_score = None
draw = None


def import_torch():
    global torch, compute, closed_form_score, draw, np
    import numpy
    import torch as torch_module

    np = numpy
    from pytorch_twin import closed_form_score as score_fn
    from pytorch_twin import compute as compute_fn
    from pytorch_twin import draw as draw_fn

    torch, compute, closed_form_score, draw = torch_module, compute_fn, score_fn, draw_fn
    # This process forks the PyTorch cells: an OpenMP pool started here (by the JAX cells'
    # Σ, say) would hang them. One thread here; each child sets its own count.
    torch.set_num_threads(1)
    # Python's first forward-mode call in each forked cell compiles and registers the TorchScript
    # jvp decompositions (about 5 s, in the warm-up). Doing that once here before forking instead
    # leaves the children's TorchScript executor slow (3 s a call, measured): so it is not done.

BIN = ROOT / "target" / "release" / "tchdist"
# The method names come from the binary (the library's one list, JacobianMethod::ALL).
METHODS = subprocess.run(
    [str(BIN), "list-methods"], check=True, capture_output=True, text=True
).stdout.split()
# Methods whose cost grows with n² (one backward pass per output, or a basis of n rows per
# output): at the largest n they are first timed at n/10 and skipped when the n² extrapolation
# passes the per-cell limit. The binary says which (JacobianMethod::time_grows_with_n_squared).
QUADRATIC = set(
    subprocess.run(
        [str(BIN), "list-methods", "--quadratic"], check=True, capture_output=True, text=True
    ).stdout.split()
)
SIZES = [(10, 2), (1000, 10), (10000, 50), (2000, 200)]
DTYPES = {"f32": "float32", "f64": "float64"}
# Timed on samples drawn before the clock: the floor (Cholesky and two triangular solves) and
# the closed form's Jacobian step (build the distribution, take the score of the samples).
GIVEN_SAMPLES = ("floor", "analytic-step")
# The parts of the closed-form pipeline timed alone (rows before the methods): the floor,
# the sampling (build the distribution and draw), the Jacobian step.
PARTS = ("floor", "sample", "sample-gemm", "analytic-step")
# The closed form with tchdist's opt-in sampler (--sampler gemm; the PyTorch twin draws the same
# way, pytorch_twin.draw): a row after the methods. A name METHOD-gemm is METHOD with it.
GEMM = ("analytic-gemm",)
# tchdist methods with a JAX twin (scripts/bench_jax.py says which program answers each).
JAX_METHODS = ("analytic", "forward", "jacfwd", "jacrev", "vectorized", "batched", "per-sample") + PARTS + GEMM
# The JAX environment's Python (scripts/setup-jax), from scripts/bench; None: no JAX column.
JAX_PYTHON = os.environ.get("TCHDIST_JAX_PYTHON") or None
JAX_VERSION = os.environ.get("TCHDIST_JAX_VERSION", "")
# A cell whose ratio falls in this range, with both medians under SECOND_ROUND_MS, runs a
# second round (see main).
CLOSE_RATIO = (0.8, 1.25)
SECOND_ROUND_MS = 5000.0


def close_call(rust, python):
    if "median_ms" not in rust or "median_ms" not in python:
        return False
    if max(rust["median_ms"], python["median_ms"]) >= SECOND_ROUND_MS:
        return False
    return CLOSE_RATIO[0] <= rust["median_ms"] / python["median_ms"] <= CLOSE_RATIO[1]
# The size and dtype whose every method's peak RSS is a target (≤ 2 GiB).
MEMORY_CELL = (10000, 50, "f64")
# Address-space cap above each process's own footprint at start (both sides).
AS_HEADROOM = 16 << 30


def log(*args):
    """Progress, one line per cell: on stderr when it is a terminal or TCHDIST_BENCH_LOG=1,
    silent otherwise (the report is the output; errors are raised, not logged)."""
    if sys.stderr.isatty() or os.environ.get("TCHDIST_BENCH_LOG") == "1":
        print(*args, file=sys.stderr, flush=True)


def cap_address_space():
    """RLIMIT_AS = this process's address space now + AS_HEADROOM."""
    limit = bench_peer.status_kib("VmSize") * 1024 + AS_HEADROOM
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


@functools.lru_cache(maxsize=None)
def chunk_rows(n, d, dtype):
    """The basis rows per pass tchdist takes for this case (tchdist::mvn_jacobian::
    basis_chunk_rows, asked of the binary): None when all n rows fit."""
    out = subprocess.run([str(BIN), "list-methods", "--chunk-rows", str(n), str(d), dtype],
                         check=True, capture_output=True, text=True).stdout.strip()
    return None if out == "all" else int(out)


# ----------------------------------------------------------------------------------------
# The Python side: one forked child per cell
# ----------------------------------------------------------------------------------------


def bench_case(d, dtype, device="cpu"):
    """tchdist::mvn_jacobian::bench_case: loc = zeros(d), Σ = A Aᵀ / d + I, A = randn(d, d) after
    manual_seed(0), made on `device`."""
    torch.manual_seed(0)
    kw = {"dtype": getattr(torch, dtype), "device": device}
    a = torch.randn(d, d, **kw)
    cov = a.matmul(a.t()).div(d).add(torch.eye(d, **kw))
    return torch.zeros(d, **kw), cov


def floor(loc, cov, samples):
    L = torch.linalg.cholesky(cov)
    rhs = (samples - loc).t()
    z = torch.linalg.solve_triangular(L, rhs, upper=False)
    return torch.linalg.solve_triangular(L.mT, z, upper=True)


def torch_pipeline(method, n, d, dtype, threads, chunk, device="cpu"):
    """The PyTorch twin's pipeline for one cell: `run_once(size)` seeds, runs one pipeline of
    `size` samples and returns its seconds (on CUDA after torch.cuda.synchronize())."""
    torch.set_num_threads(threads)
    base, sampler = split_sampler(method)
    loc, cov = bench_case(d, DTYPES[dtype], device)
    samples = None
    if method in GIVEN_SAMPLES:
        torch.manual_seed(1)
        samples = torch.distributions.MultivariateNormal(loc, cov).sample((n,))

    def run_once(size):
        torch.manual_seed(1)
        start = time.perf_counter()
        if method == "floor":
            out = floor(loc, cov, samples[:size])
        elif method == "analytic-step":
            with torch.no_grad():
                out = closed_form_score(torch.distributions.MultivariateNormal(loc, cov), samples[:size])
        elif method in ("sample", "sample-gemm"):
            out = draw(torch.distributions.MultivariateNormal(loc, cov), size, sampler)
        else:
            mu = loc.detach().requires_grad_(True)
            out = compute(base, mu, "covariance_matrix", cov, size, chunk, sampler=sampler)
        if device != "cpu":
            torch.cuda.synchronize()
        secs = time.perf_counter() - start
        del out
        return secs

    return run_once


def split_sampler(method):
    """("analytic", "gemm") for "analytic-gemm"; (method, "exact") otherwise."""
    if method.endswith("-gemm"):
        return method.removesuffix("-gemm"), "gemm"
    return method, "exact"


def policy_args(n, warmup, repeat, budget_s, small):
    return ["-n", str(n), "--warmup-samples", str(small), "--warmup", str(warmup), "--repeat",
            str(repeat), "--budget-s", str(budget_s)]


def start_peer(side, method, n, d, dtype, threads, chunk, directory, device="cpu"):
    """Starts the `side` twin ("python" or "jax") serving one cell over the named pipes in
    `directory`, under the address-space cap on the CPU; returns its pid and a wait function
    (returning its exit status)."""
    bench_peer.make_pipes(directory)
    if side == "python" and device == "cpu":
        # A child forked from this process (which only imported torch: no thread pool to
        # break), so no cell pays torch's import.
        pid = os.fork()
        if pid == 0:
            code = 0
            try:
                cap_address_space()
                bench_peer.serve(directory,
                                 lambda: torch_pipeline(method, n, d, dtype, threads, chunk))
            except BaseException:
                code = 1
            os._exit(code)
        return pid, lambda: os.waitpid(pid, 0)[1]
    if side == "python":
        # CUDA cannot start in a forked child: a fresh Python serves the cell.
        args = [sys.executable, __file__, "--serve", directory,
                json.dumps([method, n, d, dtype, threads, chunk, device])]
    else:
        np.save(os.path.join(directory, "cov.npy"), bench_case(d, DTYPES[dtype])[1].numpy())
        args = [JAX_PYTHON, str(ROOT / "scripts" / "bench_jax.py"), "--serve", directory,
                json.dumps([method, d, dtype, threads, chunk])]
    proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True,
                            preexec_fn=cap_address_space if device == "cpu" else None)
    return proc.pid, lambda: proc.wait()


def run_peer(side, method, n, d, dtype, warmup, repeat, budget_s, threads, chunk, small, timeout_s,
             device="cpu"):
    """One cell of the `side` twin, timed by `tchdist bench --peer` (the one run policy)."""
    with tempfile.TemporaryDirectory(prefix="tchdist-bench-") as directory:
        pid, wait = start_peer(side, method, n, d, dtype, threads, chunk, directory, device)
        args = [str(BIN), "bench", "--peer", directory, "--label", method, "--dim", str(d),
                "--dtype", dtype, "--device", device]
        args += policy_args(n, warmup, repeat, budget_s, small)
        try:
            out = subprocess.run(args, capture_output=True, text=True, timeout=timeout_s)
        except subprocess.TimeoutExpired:
            out = None
        # The driver has closed the pipes (or is gone): the twin's serve loop ends.
        if out is None:
            kill(pid)
        wait()
    if out is None:
        return {"error": f"timed out after {timeout_s} s"}
    if out.returncode != 0:
        return {"error": error_line(out.stderr)}
    return json.loads(out.stdout)


def kill(pid):
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def error_line(stderr):
    """The last line of a failed run's stderr, without tchdist's `error: ` prefix."""
    lines = stderr.strip().splitlines()
    return lines[-1].removeprefix("error: ")[:200] if lines else "failed"


# ----------------------------------------------------------------------------------------
# The tchdist side: one process per cell
# ----------------------------------------------------------------------------------------


def rust_args(method, n, d, dtype, warmup, repeat, budget_s, threads, small, device="cpu"):
    args = [str(BIN), "bench", "-n", str(n), "--dim", str(d), "--dtype", dtype, "--warmup-samples", str(small)]
    args += ["--device", device]
    args += ["--warmup", str(warmup), "--repeat", str(repeat), "--budget-s", str(budget_s), "--threads", str(threads)]
    base, sampler = split_sampler(method)
    args += [f"--{base.removeprefix('analytic-')}"] if method in PARTS else ["--method", base]
    return args + (["--sampler", sampler] if sampler != "exact" else [])


def run_rust(method, n, d, dtype, warmup, repeat, budget_s, threads, small, timeout_s, device="cpu"):
    args = rust_args(method, n, d, dtype, warmup, repeat, budget_s, threads, small, device)
    try:
        out = subprocess.run(
            args,
            capture_output=True,
            text=True,
            timeout=timeout_s,
            # CUDA reserves far more address space than it uses: no cap there (either side).
            preexec_fn=cap_address_space if device == "cpu" else None,
        )
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout_s} s"}
    if out.returncode != 0:
        return {"error": error_line(out.stderr)}
    return json.loads(out.stdout)


# ----------------------------------------------------------------------------------------
# Memory of the cells skipped for time: the first seconds of the full-size run
# ----------------------------------------------------------------------------------------


def watch_peak(pid, seconds, exited):
    """The highest VmHWM of `pid`, read every 20 ms until `exited()` or `seconds` pass; and
    whether it exited."""
    peak = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if exited():
            return peak, True
        try:
            peak = max(peak, bench_peer.status_kib("VmHWM", pid) or 0)
        except OSError:
            pass
        time.sleep(0.02)
    return peak, exited()


def window_result(peak_kib, seconds, finished, outcome):
    if outcome is not None and "error" in outcome:
        return outcome
    if finished and outcome is not None:
        return outcome
    return {"window_s": seconds, "peak_rss_mib": peak_kib / 1024}


def run_window(driver_args, seconds, watched_pid=None, preexec_fn=None):
    """Starts the `tchdist bench` driver for one full-size run and reads the VmHWM of the
    process doing the work (the driver itself, or the peer `watched_pid`) for `seconds`, then
    stops both: the peak RSS so far, or the run's result when it ended sooner."""
    driver = subprocess.Popen(driver_args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, preexec_fn=preexec_fn)
    pid = driver.pid if watched_pid is None else watched_pid
    peak, finished = watch_peak(pid, seconds, lambda: driver.poll() is not None)
    if not finished:
        driver.kill()
        if watched_pid is not None:
            kill(watched_pid)
    out, err = driver.communicate()
    outcome = None
    if finished:
        outcome = json.loads(out) if driver.returncode == 0 else {"error": error_line(err)}
    return window_result(peak, seconds, finished, outcome)


def rust_window(method, n, d, dtype, threads, seconds):
    """`tchdist bench` at the full size, one run, stopped after `seconds`: its peak RSS so far."""
    return run_window(rust_args(method, n, d, dtype, 1, 0, 0, threads, 0), seconds,
                      preexec_fn=cap_address_space)


def peer_window(side, method, n, d, dtype, threads, chunk, seconds):
    """The `side` twin at the full size, one run driven by `tchdist bench --peer`, stopped
    after `seconds`: its peak RSS so far."""
    with tempfile.TemporaryDirectory(prefix="tchdist-bench-") as directory:
        pid, wait = start_peer(side, method, n, d, dtype, threads, chunk, directory)
        args = [str(BIN), "bench", "--peer", directory, "--label", method, "--dim", str(d),
                "--dtype", dtype] + policy_args(n, 1, 0, 0, 0)
        result = run_window(args, seconds, watched_pid=pid)
        wait()
    return result


# ----------------------------------------------------------------------------------------
# Whole process
# ----------------------------------------------------------------------------------------


def timed_process(args, cwd):
    """Wall time and peak RSS of one run. Linux carries the high-water mark of the image a
    process replaces into its ru_maxrss, and a spawned child starts as (a copy of) this process:
    so this runs before this process imports torch, while it is small (the same few MiB on both
    sides)."""
    start = time.perf_counter()
    pid = os.posix_spawn(
        args[0],
        args,
        dict(os.environ),
        file_actions=[(os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0)],
    )
    _, status, usage = os.wait4(pid, 0)
    wall = time.perf_counter() - start
    if status != 0:
        raise SystemExit(f"{args} failed with status {status}")
    return wall, usage.ru_maxrss / 1024


def whole_process(runs):
    rust = [str(BIN), "jacobian"]
    python = [sys.executable, str(ROOT / "tests" / "fixtures" / "question_answer.py")]
    os.chdir(ROOT)
    timed_process(rust, ROOT)
    timed_process(python, ROOT)
    r_wall, r_rss, p_wall, p_rss = [], [], [], []
    for _ in range(runs):
        w, m = timed_process(rust, ROOT)
        r_wall.append(w)
        r_rss.append(m)
        w, m = timed_process(python, ROOT)
        p_wall.append(w)
        p_rss.append(m)
    med = statistics.median
    return {
        "runs": runs,
        "tchdist": {"wall_s": med(r_wall), "peak_rss_mib": med(r_rss)},
        "python": {"wall_s": med(p_wall), "peak_rss_mib": med(p_rss)},
    }


# ----------------------------------------------------------------------------------------
# Report
# ----------------------------------------------------------------------------------------


def fmt_ms(cell):
    if "error" in cell:
        return "—"
    ms = cell["median_ms"]
    return f"{ms:.3g}" if ms < 100 else f"{ms:.0f}"


def fmt_cell(cell):
    if "skipped" in cell:
        return "skipped"
    if "error" in cell:
        return "fails"
    return f"{fmt_ms(cell)} ({cell['extra_rss_mib']:.0f})"


def fmt_window(w):
    """A skipped cell's full-size run, stopped after its first seconds (or run to its end)."""
    if "error" in w:
        return "fails at full size"
    if "window_s" in w:
        return f"{w['peak_rss_mib']:.0f} MiB in its first {w['window_s']:g} s"
    return f"{w['peak_rss_mib']:.0f} MiB (whole run)"


def ratio(rust, other, name="PyTorch"):
    if "median_ms" in rust and "median_ms" in other:
        return f"{rust['median_ms'] / other['median_ms']:.2f}x"
    if "median_ms" in rust and "error" in other:
        return f"{name} fails"
    return "—"


SIDE_NAMES = {"tchdist": "tchdist", "python": "PyTorch", "jax": "JAX"}


def dev(row):
    return row.get("device", "cpu")


def gpu_name():
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"],
                             capture_output=True, text=True)
        return out.stdout.strip().splitlines()[0] if out.returncode == 0 else "CUDA"
    except (OSError, IndexError):
        return "CUDA"


def report(results, proc, args, elapsed_s):
    gpu = gpu_name() if any(dev(r) != "cpu" for r in results) else None
    versions = subprocess.run([str(BIN), "--version"], capture_output=True, text=True).stdout
    cpu = "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    lines = [
        "# Benchmarks",
        "",
        f"Written by `scripts/bench` ({'--quick, ' if args.quick else ''}{elapsed_s / 60:.1f} min) "
        f"on {time.strftime('%Y-%m-%d')}. Machine: {os.cpu_count()} cores ({cpu}), "
        f"{mem_gib:.0f} GiB, "
        + (f"GPU {gpu} (the sections marked cuda: both sides on the GPU, synchronised before the "
           f"clock stops; RSS there is host memory)" if gpu else
           "no GPU (no CUDA sections: `scripts/bench` adds them where PyTorch sees a GPU)")
        + f"; {versions.strip()}; Python {platform.python_version()} with torch "
        f"{torch.__version__}. Both sides use {args.threads} intra-op threads and the same "
        f"address-space cap (their footprint at start + {AS_HEADROOM >> 30} GiB).",
        "",
        "## Whole process: the seed job",
        "",
        f"`target/release/tchdist jacobian` against `python tests/fixtures/question_answer.py`, "
        f"alternating, one warm-up each, median of {proc['runs']}.",
        "",
        "| | wall | peak RSS |",
        "| --- | --- | --- |",
        f"| tchdist | {proc['tchdist']['wall_s']:.3f} s | {proc['tchdist']['peak_rss_mib']:.0f} MiB |",
        f"| Python | {proc['python']['wall_s']:.3f} s | {proc['python']['peak_rss_mib']:.0f} MiB |",
        f"| ratio tchdist/Python | {proc['tchdist']['wall_s'] / proc['python']['wall_s']:.3f}x "
        f"(target ≤ 0.15x) | {proc['tchdist']['peak_rss_mib'] / proc['python']['peak_rss_mib']:.3f}x "
        f"(target ≤ 0.25x) |",
        "",
        "## In-process Jacobian",
        "",
        "Each cell: median milliseconds of the whole pipeline (build `MultivariateNormal(zeros(d), "
        "Σ)`, draw n samples, log_prob, Jacobian with respect to the mean). One run policy times "
        "every side: `tchdist bench` (cli/src/bench.rs) runs tchdist's pipeline in its own "
        "process, and drives the PyTorch and JAX twins in theirs over two named pipes "
        "(`--peer`, scripts/bench_peer.py), each twin answering \"run one pipeline of n samples\" "
        "and reporting its own memory. The policy: one run at n/100 samples first (the one-time "
        "costs: lazy initialisation, and Python's first forward-mode call, which compiles its "
        f"TorchScript decompositions for 3-5 s), then up to {args.warmup} untimed full-size runs "
        f"(ending once they add up to {args.budget_s:g} s; a run that alone takes "
        f"{args.budget_s:g} s is the measurement), then up to {args.repeat} timed runs or "
        f"{args.budget_s:g} s. Close cells (ratio {CLOSE_RATIO[0]:g}-{CLOSE_RATIO[1]:g}x against "
        f"either twin, both medians under {SECOND_ROUND_MS / 1e3:g} s) run a second time, "
        "alternating, and each side keeps its lower median (one disturbed process does not "
        "decide a cell). In brackets: the peak RSS above the process's RSS before the first "
        "full-size run, in MiB; the twins collect their garbage and hand freed heap pages back "
        "(`malloc_trim`) before that RSS is read (scripts/bench_peer.py, `settle`: garbage "
        "collected during the runs otherwise lent its pages to the pipeline uncounted). "
        "PyTorch runs the twin in `src/mvn_jacobian/pytorch_twin.py` (the "
        "programs the parity tests compare bit for bit); JAX "
        + (f"{JAX_VERSION} (CPU, `jit`, x64 for f64) runs scripts/bench_jax.py: the closed form "
           "with `cho_solve` for analytic, `jax.jacfwd` for forward and jacfwd, `jax.jacrev` "
           "(in tchdist's chunks of basis rows, `basis_chunk_rows`) for jacrev, "
           "vectorized and batched, `vmap(grad)` for per-sample; each size is compiled before "
           "the clock (a one-time cost), and the clock stops after `block_until_ready`. JAX draws "
           "its own samples (threefry, one GEMM), so its numbers are not PyTorch's. The loops of "
           "`grad` (loop, functional, batched-loop) have no JAX twin (—). "
           if JAX_PYTHON else "was not set up for this run (no JAX column). ")
        + "*floor*: one Cholesky and the two triangular solves over all n samples, timed alone "
        "on samples drawn before the clock; *sample*: build the validated distribution and draw "
        "the n samples (the pipeline's sampling part); *sample-gemm*, *analytic-gemm*: the same "
        "with tchdist's opt-in `--sampler gemm` (the same standard-normal draws times Lᵀ in one "
        "matrix product: not PyTorch's sample bits; the PyTorch twin draws the same way, "
        "`pytorch_twin.draw`, and JAX runs its sample and analytic programs); *analytic-step*: the closed form's "
        "Jacobian step timed as the floor is (build the validated distribution, with its "
        "Cholesky, and take the score Σ⁻¹(x − μ) of the given samples). *skipped*: a run at n/10 "
        f"extrapolated with n² puts one side past the per-cell limit of {args.cell_limit_s:g} s "
        f"(tchdist is probed first). At n = {MEMORY_CELL[0]}, d = {MEMORY_CELL[1]}, "
        f"{MEMORY_CELL[2]} (the memory target) a skipped method still runs at the full size for "
        f"its first {args.window_s:g} s on each side: the peak RSS by then is shown (the methods "
        "repeat the same work row after row, so their working set is reached early). *fails*: "
        "the run failed (the error is listed below). Where tchdist trails JAX, the reasons "
        "(measured) are in docs/ARCHITECTURE.md, \"Speed against JAX\".",
        "",
    ]
    errors = []
    seen = []
    for r in results:
        if (dev(r), r["n"], r["d"]) not in seen:
            seen.append((dev(r), r["n"], r["d"]))
    for (device, n, d) in seen:
        for dtype in DTYPES:
            rows = [r for r in results if (dev(r), r["n"], r["d"], r["dtype"]) == (device, n, d, dtype)]
            if not rows:
                continue
            chunk = chunk_rows(n, d, dtype)
            note = f"; basis chunks of {chunk} rows" if chunk else ""
            on = "" if device == "cpu" else f", {device} ({gpu})"
            jax_col = JAX_PYTHON is not None and device == "cpu"
            header = "| method | tchdist ms (MiB) | peak RSS tchdist | PyTorch ms (MiB) | tchdist/PyTorch |"
            rule = "| --- | --- | --- | --- | --- |"
            if jax_col:
                header += " JAX ms (MiB) | tchdist/JAX |"
                rule += " --- | --- |"
            lines += [f"### n = {n}, d = {d}, {dtype}{on}{note}", "", header, rule]
            for r in rows:
                rust = r["tchdist"]
                peak = f"{rust['peak_rss_mib']:.0f} MiB" if "peak_rss_mib" in rust else "—"
                if "window" in rust:
                    peak = fmt_window(rust["window"])
                cells = [r["method"], fmt_cell(rust), peak]
                twins = [("python", "PyTorch")] + ([("jax", "JAX")] if jax_col else [])
                for side, _ in twins:
                    c = r.get(side)
                    if c is None:
                        cells += ["—", "—"]
                        continue
                    text = fmt_cell(c)
                    if "window" in c:
                        text = f"skipped; {fmt_window(c['window'])}"
                    cells += [text, ratio(rust, c, SIDE_NAMES[side])]
                lines.append("| " + " | ".join(cells) + " |")
                where = f"{'' if device == 'cpu' else device + ' '}n={n} d={d} {dtype} {r['method']}"
                if "skipped" in rust:
                    errors.append(f"- {where}: skipped, {rust['skipped']}")
                for side in SIDES:
                    c = r.get(side, {})
                    if "error" in c:
                        errors.append(f"- {where}, {SIDE_NAMES[side]}: {c['error']}")
                    if "error" in c.get("window", {}):
                        errors.append(f"- {where}, {SIDE_NAMES[side]}, full size: {c['window']['error']}")
            lines.append("")
    if errors:
        lines += ["### Failures and skips", ""] + errors + [""]
    lines += targets(results, proc)
    lines += [
        "## Plot",
        "",
        "![time against n](bench.svg)",
        "",
        "CPU, f64, time per pipeline against n (the four sizes above, log-log); solid: tchdist, "
        "dashed: PyTorch, dotted: JAX.",
        "",
    ]
    return "\n".join(lines)


def cell(results, n, d, dtype, method):
    for r in results:
        if (dev(r), r["n"], r["d"], r["dtype"], r["method"]) == ("cpu", n, d, dtype, method):
            return r
    return None


def targets(results, proc):
    """The issue's targets, on the CPU rows."""
    results = [r for r in results if dev(r) == "cpu"]
    out = ["## Targets (CPU)", ""]
    wall = proc["tchdist"]["wall_s"] / proc["python"]["wall_s"]
    rss = proc["tchdist"]["peak_rss_mib"] / proc["python"]["peak_rss_mib"]
    out.append(f"- Whole process ≤ 0.15x wall: {wall:.3f}x ({'met' if wall <= 0.15 else 'missed'}); "
               f"≤ 0.25x peak RSS: {rss:.3f}x ({'met' if rss <= 0.25 else 'missed'}).")
    for side in ("python", "jax"):
        slower, heavier = [], []
        compared = weighed = 0
        for r in results:
            if r["method"] in PARTS:
                continue
            rust, twin = r["tchdist"], r.get(side, {})
            if "median_ms" in rust and "median_ms" in twin:
                compared += 1
                if rust["median_ms"] > twin["median_ms"]:
                    slower.append(f"{r['method']} n={r['n']} d={r['d']} {r['dtype']} "
                                  f"({rust['median_ms'] / twin['median_ms']:.2f}x)")
                weighed += 1
                if rust["extra_rss_mib"] > twin["extra_rss_mib"] + 1:
                    heavier.append(f"{r['method']} n={r['n']} d={r['d']} {r['dtype']} "
                                   f"({rust['extra_rss_mib']:.0f} vs {twin['extra_rss_mib']:.0f} MiB)")
        if compared == 0:
            continue
        out.append(f"- Every method ≤ 1.0x its {SIDE_NAMES[side]} twin's time: {compared - len(slower)} "
                   f"of {compared} cells" + (f"; slower: {', '.join(slower)}." if slower else "."))
        out.append(f"- Every method's memory (peak above start) ≤ its {SIDE_NAMES[side]} twin's "
                   f"(+1 MiB): {weighed - len(heavier)} of {weighed} cells"
                   + (f"; more: {', '.join(heavier)}." if heavier else "."))
    for (n, d) in dict.fromkeys((r["n"], r["d"]) for r in results):
        for dtype in DTYPES:
            an = cell(results, n, d, dtype, "analytic")
            if not an or "median_ms" not in an["tchdist"] or "median_ms" not in an.get("jax", {}):
                continue
            parts = {m: cell(results, n, d, dtype, m) for m in ("sample", "analytic-step")}
            split = lambda side: ", ".join(  # noqa: E731
                f"{m} {c[side]['median_ms']:.3g}" for m, c in parts.items()
                if c and "median_ms" in c.get(side, {}))
            r = an["tchdist"]["median_ms"] / an["jax"]["median_ms"]
            gemm = cell(results, n, d, dtype, "analytic-gemm")
            gemm_ms = gemm["tchdist"].get("median_ms") if gemm else None
            sg = cell(results, n, d, dtype, "sample-gemm")
            sg_ms = sg["tchdist"].get("median_ms") if sg else None
            out.append(f"- n={n} d={d} {dtype}, closed-form pipeline against JAX's (jit): tchdist "
                       f"{an['tchdist']['median_ms']:.3g} ms ({split('tchdist')}), JAX "
                       f"{an['jax']['median_ms']:.3g} ms ({split('jax')}): {r:.2f}x "
                       f"(target ≤ 1.0x: {'met' if r <= 1 else 'missed'})"
                       + (f"; with `--sampler gemm` {gemm_ms:.3g} ms"
                          + (f" (sample-gemm {sg_ms:.3g})" if sg_ms else "")
                          + f": {gemm_ms / an['jax']['median_ms']:.2f}x "
                          f"({'met' if gemm_ms <= an['jax']['median_ms'] else 'missed'})"
                          if gemm_ms else "")
                       + ".")
    for (n, d) in dict.fromkeys((r["n"], r["d"]) for r in results):
        if n < 1000:
            continue
        for dtype in DTYPES:
            best_py = [cell(results, n, d, dtype, m) for m in ("jacfwd", "forward")]
            best_py = [c["python"]["median_ms"] for c in best_py if c and "median_ms" in c["python"]]
            best_rust = [cell(results, n, d, dtype, m) for m in ("analytic", "forward", "jacfwd")]
            best_rust = [c["tchdist"]["median_ms"] for c in best_rust if c and "median_ms" in c["tchdist"]]
            fl = cell(results, n, d, dtype, "floor")
            if not best_py or not best_rust or not fl or "median_ms" not in fl["tchdist"]:
                continue
            speedup = min(best_py) / min(best_rust)
            over_floor = min(best_rust) / fl["tchdist"]["median_ms"]
            step = cell(results, n, d, dtype, "analytic-step")
            step_ms = step["tchdist"].get("median_ms") if step else None
            out.append(
                f"- n={n} d={d} {dtype}: fastest tchdist {min(best_rust):.3g} ms is {speedup:.1f}x "
                f"faster than PyTorch's fastest built-in route ({min(best_py):.3g} ms; target ≥ 10x: "
                f"{'met' if speedup >= 10 else 'missed'}) and {over_floor:.1f}x the floor "
                f"({fl['tchdist']['median_ms']:.3g} ms; target ≤ 2x: {'met' if over_floor <= 2 else 'missed'})"
                + (f"; its Jacobian step alone (analytic-step, samples given) {step_ms:.3g} ms is "
                   f"{step_ms / fl['tchdist']['median_ms']:.1f}x the floor "
                   f"({'met' if step_ms <= 2 * fl['tchdist']['median_ms'] else 'missed'})" if step_ms else "")
                + "."
            )
    big = [r for r in results if (r["n"], r["d"], r["dtype"]) == MEMORY_CELL and r["method"] not in PARTS]
    if big:
        within, over, failed, unmeasured, whole, windowed = [], [], [], [], 0, []
        for r in big:
            c = r["tchdist"]
            m = c.get("window", c) if "skipped" in c else c
            if "error" in m:
                failed.append(r["method"])
            elif "peak_rss_mib" not in m:
                unmeasured.append(r["method"])
            else:
                if "window_s" in m:
                    windowed.append(r["method"])
                else:
                    whole += 1
                (over if m["peak_rss_mib"] > 2048 else within).append(
                    f"{r['method']} ({m['peak_rss_mib']:.0f} MiB)")
        window_s = next((r["tchdist"]["window"]["window_s"] for r in big
                         if "window_s" in r["tchdist"].get("window", {})), None)
        n, d, dtype = MEMORY_CELL
        out.append(
            f"- n={n} d={d} {dtype}, peak RSS ≤ 2 GiB and no failure for memory: "
            f"{len(within)} of {len(big)} methods within it ({whole} over a whole run"
            + (f", {len(windowed)} over the first {window_s:g} s of a full-size run that the time "
               f"limit skips: {', '.join(windowed)}" if windowed else "")
            + ")"
            + (f"; over: {', '.join(over)}" if over else "")
            + (f"; failed: {', '.join(failed)}" if failed else "")
            + (f"; not measured: {', '.join(unmeasured)}" if unmeasured else "")
            + f". {'Met' if len(within) == len(big) else 'Missed'}."
        )
    out.append("")
    return out


def svg_plot(results, path):
    """Time against n, log-log, f64: one polyline per method and side."""
    rows = [r for r in results if r["dtype"] == "f64" and dev(r) == "cpu"]
    methods = [m for m in METHODS + ["floor", "sample"] if any(r["method"] == m for r in rows)]
    pts = {}
    for r in rows:
        for side in SIDES:
            c = r.get(side, {})
            if "median_ms" in c:
                pts.setdefault((r["method"], side), []).append((r["n"], c["median_ms"]))
    if not pts:
        return
    xs = [n for v in pts.values() for n, _ in v]
    ys = [t for v in pts.values() for _, t in v]
    x0, x1 = math.log10(min(xs)), math.log10(max(xs))
    y0, y1 = math.floor(math.log10(min(ys))), math.ceil(math.log10(max(ys)))
    W, H, L, R, T, B = 900, 560, 70, 190, 20, 50

    def px(n):
        return L + (math.log10(n) - x0) / max(x1 - x0, 1e-9) * (W - L - R)

    def py(t):
        return H - B - (math.log10(t) - y0) / max(y1 - y0, 1e-9) * (H - T - B)

    colors = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
              "#7f7f7f", "#bcbd22", "#17becf", "#000000"]
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" font-size="12">',
           f'<rect width="{W}" height="{H}" fill="white"/>']
    for e in range(y0, y1 + 1):
        y = py(10 ** e)
        out.append(f'<line x1="{L}" y1="{y:.1f}" x2="{W - R}" y2="{y:.1f}" stroke="#ddd"/>')
        out.append(f'<text x="{L - 6}" y="{y + 4:.1f}" text-anchor="end">1e{e} ms</text>')
    for n in sorted(set(xs)):
        x = px(n)
        out.append(f'<line x1="{x:.1f}" y1="{T}" x2="{x:.1f}" y2="{H - B}" stroke="#eee"/>')
        d = next(r["d"] for r in rows if r["n"] == n)
        out.append(f'<text x="{x:.1f}" y="{H - B + 16}" text-anchor="middle">n={n}</text>')
        out.append(f'<text x="{x:.1f}" y="{H - B + 30}" text-anchor="middle">d={d}</text>')
    for i, m in enumerate(methods):
        color = colors[i % len(colors)]
        for side, dash in (("tchdist", ""), ("python", ' stroke-dasharray="6,4"'),
                           ("jax", ' stroke-dasharray="2,3"')):
            p = sorted(pts.get((m, side), []))
            if not p:
                continue
            coords = " ".join(f"{px(n):.1f},{py(t):.1f}" for n, t in p)
            out.append(f'<polyline points="{coords}" fill="none" stroke="{color}" stroke-width="2"{dash}/>')
            for n, t in p:
                out.append(f'<circle cx="{px(n):.1f}" cy="{py(t):.1f}" r="2.5" fill="{color}"/>')
        y = T + 14 + i * 18
        out.append(f'<line x1="{W - R + 12}" y1="{y - 4}" x2="{W - R + 40}" y2="{y - 4}" stroke="{color}" stroke-width="2"/>')
        out.append(f'<text x="{W - R + 46}" y="{y}">{m}</text>')
    y = T + 14 + len(methods) * 18 + 10
    out.append(f'<text x="{W - R + 12}" y="{y}">solid: tchdist</text>')
    out.append(f'<text x="{W - R + 12}" y="{y + 16}">dashed: PyTorch</text>')
    out.append(f'<text x="{W - R + 12}" y="{y + 32}">dotted: JAX</text>')
    out.append("</svg>")
    Path(path).write_text("\n".join(out) + "\n")


def cuda_available():
    """Whether PyTorch sees a CUDA GPU, asked in a separate process (this one forks its CPU cells
    and must not initialise CUDA), and only where an NVIDIA driver is loaded."""
    if not Path("/proc/driver/nvidia/version").exists():
        return False
    out = subprocess.run([sys.executable, "-c", "import torch; print(torch.cuda.is_available())"],
                         capture_output=True, text=True)
    return out.stdout.strip() == "True"


def serve_main(directory, spec):
    """`--serve DIR JSON`: one PyTorch cell served from this fresh process (the CUDA cells)."""
    import_torch()
    bench_peer.serve(directory, lambda: torch_pipeline(*json.loads(spec)))


SIDES = ("tchdist", "python", "jax")


def run_side(side, method, n, d, dtype, args, warmup, repeat, budget_s, small, timeout, device):
    if side == "tchdist":
        return run_rust(method, n, d, dtype, warmup, repeat, budget_s, args.threads, small, timeout,
                        device)
    return run_peer(side, method, n, d, dtype, warmup, repeat, budget_s, args.threads,
                    chunk_rows(n, d, dtype), small, timeout, device)


def sides_for(method, device):
    """The sides that time `method`: JAX where it has a twin (and runs on this device)."""
    jax = JAX_PYTHON is not None and device == "cpu" and method in JAX_METHODS
    return [s for s in SIDES if s != "jax" or jax]


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "--serve":
        return serve_main(sys.argv[2], sys.argv[3])
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="the two small sizes only")
    ap.add_argument("--sizes", default=None, help="only these sizes, e.g. 10000x50,2000x200")
    ap.add_argument("--dtypes", default=None, help="only these dtypes, e.g. f64")
    ap.add_argument("--devices", default=None,
                    help="cpu, cuda or both (default: cpu, and cuda where PyTorch sees a GPU)")
    ap.add_argument("--methods", default=None, help="only these methods (and the parts), e.g. analytic,loop")
    ap.add_argument("--warmup", type=int, default=3, help="untimed runs per cell first")
    ap.add_argument("--repeat", type=int, default=15, help="timed runs per cell (after the warm-up)")
    ap.add_argument("--budget-s", type=float, default=1.0, help="stop repeating after this many seconds")
    ap.add_argument("--cell-limit-s", type=float, default=60.0, help="skip cells estimated to take longer")
    ap.add_argument("--window-s", type=float, default=3.0,
                    help="cells skipped at n=10000 d=50 f64: the peak RSS over the first this many "
                         "seconds of the full-size run (0: none)")
    ap.add_argument("--threads", type=int, default=min(2, os.cpu_count() or 1))
    ap.add_argument("--process-runs", type=int, default=5)
    ap.add_argument("--out", default=str(ROOT / "docs" / "BENCHMARKS.md"))
    ap.add_argument("--json", default=None, help="also write the raw results here")
    ap.add_argument("--cells-from", default=None, help="reuse the cells of an earlier --json run")
    args = ap.parse_args()
    began = time.monotonic()

    log("bench: whole process (seed job)")
    proc = whole_process(args.process_runs)
    log(f"  tchdist {proc['tchdist']}, python {proc['python']}")
    import_torch()

    sizes = SIZES[:2] if args.quick else SIZES
    if args.sizes:
        sizes = [tuple(int(v) for v in s.split("x")) for s in args.sizes.split(",")]
    dtypes = args.dtypes.split(",") if args.dtypes else list(DTYPES)
    methods = list(PARTS) + (args.methods.split(",") if args.methods else METHODS + list(GEMM))
    results = []
    if args.cells_from:
        results = json.loads(Path(args.cells_from).read_text())["cells"]
        sizes = []
    timeout = int(args.cell_limit_s * 2 + 30)
    devices = args.devices.split(",") if args.devices else ["cpu"] + (["cuda"] if cuda_available() else [])
    for device, n, d in [(dev, n, d) for dev in devices for n, d in sizes]:
        for dtype in dtypes:
            small = max(1, n // 100)
            for method in methods:
                row = {"method": method, "n": n, "d": d, "dtype": dtype, "device": device}
                sides_here = sides_for(method, device)
                skip = None
                if method in QUADRATIC and n >= 10000:
                    # Calibrate at n/10 and extrapolate with n²; tchdist first (when one side is
                    # over the limit the cell is skipped without timing the others' probes).
                    probe_n = n // 10
                    for side in sides_here:
                        probe = run_side(side, method, probe_n, d, dtype, args, 1, 0, 0,
                                         max(1, probe_n // 100), timeout, device)
                        if "median_ms" in probe:
                            est = probe["median_ms"] / 1e3 * (n / probe_n) ** 2
                            if est > args.cell_limit_s:
                                skip = (f"{SIDE_NAMES[side]} estimated {est:.0f} s from n={probe_n} "
                                        f"({probe['median_ms'] / 1e3:.1f} s)")
                                break
                if skip:
                    sides = {side: {"skipped": skip} for side in sides_here}
                    if (n, d, dtype) == MEMORY_CELL and device == "cpu" and args.window_s > 0:
                        sides["tchdist"]["window"] = rust_window(method, n, d, dtype, args.threads, args.window_s)
                        for side in sides_here[1:]:
                            sides[side]["window"] = peer_window(side, method, n, d, dtype, args.threads,
                                                                chunk_rows(n, d, dtype), args.window_s)
                else:
                    sides = {}
                    for round_ in range(2):
                        # Close cells run twice, alternating, and each side keeps its lower
                        # median: one disturbed process (this VM's noise) does not decide them.
                        if round_ == 1 and not any(close_call(sides["tchdist"], sides[o])
                                                   for o in sides_here[1:]):
                            break
                        for side in sides_here:
                            c = run_side(side, method, n, d, dtype, args, args.warmup, args.repeat,
                                         args.budget_s, small, timeout, device)
                            if side not in sides or c.get("median_ms", math.inf) < sides[side].get("median_ms", math.inf):
                                sides[side] = c
                row.update(sides)
                results.append(row)
                log(f"  {device} n={n} d={d} {dtype} {method}: "
                    + ", ".join(f"{side} {fmt_cell(sides[side])}" for side in sides_here)
                    + f" [{(time.monotonic() - began) / 60:.1f} min]")

    svg_plot(results, Path(args.out).with_name("bench.svg"))
    text = report(results, proc, args, time.monotonic() - began)
    Path(args.out).write_text(text)
    if args.json:
        Path(args.json).write_text(json.dumps({"process": proc, "cells": results}, indent=1))
    log(f"bench: wrote {args.out} and {Path(args.out).with_name('bench.svg')} in {(time.monotonic() - began) / 60:.1f} min")


if __name__ == "__main__":
    main()
