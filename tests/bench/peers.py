#!/usr/bin/python3
"""peers.py: keel's benchmark workloads (tests/bench/throughput.c and
crash_latency.c) run on keel's peers, so that tests/bench/compare can print
keel/peer ratios.

usage: peers.py [--runs N] [--peers ppe,loky,mpi4py]
                [--figures submit,map,parallel,roundtrip,long_then_short_10ms,
                           sweep_vs_greedy,crash,recovery,start]

Peers, each with 2 workers:
  ppe     concurrent.futures.ProcessPoolExecutor (Linux default: fork)
  loky    joblib.externals.loky.get_reusable_executor
  mpi4py  mpi4py.futures.MPIPoolExecutor, under
          `mpiexec -n 3 --oversubscribe python3 -m mpi4py.futures`: rank 0
          runs this file with --inside-mpi4py, ranks 1 and 2 are the workers.
          Its crash figure is measured twice: as mpi4py (plain mpiexec) and
          as mpi4py_recovery (mpiexec --enable-recovery, as keelrun runs
          keel's jobs).

Figures, each the median of --runs runs:
  submit     tasks/s  100,000 empty tasks, one future each, then every result
  map        items/s  executor.map(f, 1,000,000 ints, chunksize=C), f(x) = 2x,
                      the results gathered in a list; checked after the
                      clock stops, as keel's.  keel chooses its chunks
                      itself; none of the peers does, so they get
                      multiprocessing.Pool.map's heuristic,
                      C = ceil(n / (4 * workers)).
  parallel   percent  2,000 tasks of 1 ms CPU: 2 s / (workers * wall time)
  roundtrip  us       one empty task at a time, submit -> result; a run's
                      value is the median of 2,000
  long_then_short_10ms
             s        on an executor warmed with 20 tasks of 10 ms, one 2 s
                      task then 20 of 10 ms: seconds from the short ones'
                      submission until they are all done (tests/bench/mixed.c)
  sweep_vs_greedy
             x        400 tasks of 0.5-50 ms (mostly short, keel's fixed
                      seed) and one of 400 ms near the end: the makespan of
                      greedy list scheduling with zero overhead divided by
                      the executor's (1.0 is the bound)
  crash      ms       the task notes CLOCK_MONOTONIC in a file and SIGKILLs
                      its own process; until .result() raises
  recovery   ms       broken executor -> a new one answers a trivial task
  start      ms       the whole process of a script that starts an executor,
                      runs one trivial task and exits

Output: one line per (peer, figure) on stdout, `PEER FIGURE VALUE UNIT`;
when a figure cannot be had, VALUE is `never` or `n/a` and UNIT a one-word
reason.  Progress, per-run values and min/max go to stderr.  A peer whose
module is missing is skipped with a note on stderr.
"""
import argparse
import importlib.util
import math
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback

WORKERS = 2
N_SUBMIT = 100_000
N_WARM = 2_000
N_MAP = 1_000_000
N_SPIN = 2_000
N_ROUNDTRIP = 2_000
MPI4PY_CRASH_RUNS = 3  # each costs a whole mpiexec, and the outcome is stable

PEERS = {"ppe": "concurrent.futures", "loky": "joblib", "mpi4py": "mpi4py"}
N_SWEEP = 400
# figure -> (unit, decimals), in output order
FIGURES = {
    "submit": ("tasks/s", 1),
    "map": ("items/s", 1),
    "parallel": ("percent", 1),
    "roundtrip": ("us", 1),
    "long_then_short_10ms": ("s", 3),
    "sweep_vs_greedy": ("x", 3),
    "crash": ("ms", 2),
    "recovery": ("ms", 2),
    "start": ("ms", 1),
}
SPEED = ("submit", "map", "parallel", "roundtrip", "long_then_short_10ms",
         "sweep_vs_greedy")

# 3 ranks (a client and 2 workers) on 2 cores need --oversubscribe.
MPI4PY = ["mpiexec", "-n", "3", "--oversubscribe",
          sys.executable, "-m", "mpi4py.futures"]
# The same with the flag keelrun always passes: a dead rank need not end
# the job.
MPI4PY_RECOVERY = MPI4PY[:4] + ["--enable-recovery"] + MPI4PY[4:]
# Every child gets TAG in its environment, so that reap() can find any
# process left behind (mpiexec puts each rank in a process group of its own).
TAG = f"KEEL_PEERS_TAG={os.getpid()}"
CHILD_ENV = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1",
                 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
                 KEEL_PEERS_TAG=str(os.getpid()))

# A whole program for `start`: one trivial task on a 2-worker executor.
HELLO = """{import_}
def one():
    return 1
if __name__ == "__main__":
    with {executor} as ex:
        print(ex.submit(one).result())
"""
HELLO_PARTS = {
    "ppe": ("from concurrent.futures import ProcessPoolExecutor",
            "ProcessPoolExecutor(2)"),
    "loky": ("from joblib.externals.loky import get_reusable_executor",
             "get_reusable_executor(max_workers=2)"),
    "mpi4py": ("from mpi4py.futures import MPIPoolExecutor",
               "MPIPoolExecutor()"),
}

emitted = set()  # (peer, figure) already printed on stdout


def log(message):
    print(message, file=sys.stderr, flush=True)


def emit(peer, figure, value, unit):
    print(peer, figure, value, unit, flush=True)
    emitted.add((peer, figure))


def median(values):
    """keel's median (bench.h): the upper middle one, so 5 runs agree."""
    return sorted(values)[len(values) // 2]


def report(peer, figure, values):
    unit, digits = FIGURES[figure]
    v = sorted(values)
    log(f"{peer} {figure}: median of {len(v)} runs, "
        f"min {v[0]:.{digits}f}, max {v[-1]:.{digits}f} {unit}")
    emit(peer, figure, f"{median(v):.{digits}f}", unit)


def now():
    """CLOCK_MONOTONIC, one clock for every process on the node."""
    return time.clock_gettime(time.CLOCK_MONOTONIC)


# Tasks: at the top level, so that every peer pickles them by reference.

def empty():
    return None


def twice(x):
    return 2 * x


def spin_1ms():
    """1 ms of this thread's CPU, as keel's spin_1ms."""
    end = time.thread_time() + 1e-3
    while time.thread_time() < end:
        pass


def sleep_us(us):
    """us microseconds, to the microsecond, as keel's mixed.c: a nap, then
    the last 0.4 ms spun on the clock (a nap overshoots)."""
    end = now() + us * 1e-6
    if us > 400:
        time.sleep((us - 400) * 1e-6)
    while now() < end:
        pass


def note_and_kill(path):
    """Note the time in path, then SIGKILL the process running the task."""
    with open(path, "w") as f:
        f.write(repr(now()))
    os.kill(os.getpid(), signal.SIGKILL)
    time.sleep(10)  # as keel: killed meanwhile


# Speed figures: one run each, in the figure's unit.

def batch(ex, fn, n):
    """Submit n tasks of fn, then wait for every result: seconds."""
    t0 = now()
    futures = [ex.submit(fn) for _ in range(n)]
    for future in futures:
        future.result()
    return now() - t0


def fig_submit(ex):
    return N_SUBMIT / batch(ex, empty, N_SUBMIT)


def fig_map(ex):
    items = list(range(N_MAP))
    # multiprocessing.Pool.map's chunk size: none of the peers picks one.
    chunksize = math.ceil(N_MAP / (4 * WORKERS))
    t0 = now()
    results = list(ex.map(twice, items, chunksize=chunksize))
    seconds = now() - t0
    right = sum(r == 2 * x for x, r in zip(items, results))
    if right != N_MAP:
        raise RuntimeError(f"map: {right} right results of {N_MAP}")
    return N_MAP / seconds


def fig_parallel(ex):
    return 100 * N_SPIN * 1e-3 / (WORKERS * batch(ex, spin_1ms, N_SPIN))


def fig_roundtrip(ex):
    times = []
    for _ in range(N_ROUNDTRIP):
        t0 = now()
        ex.submit(empty).result()
        times.append(now() - t0)
    return median(times) * 1e6


def fig_long_then_short(ex):
    """One 2 s task, then 20 of 10 ms, on an executor warmed with 20 of
    10 ms: seconds until the 20 are done."""
    for f in [ex.submit(sleep_us, 10000) for _ in range(20)]:
        f.result()
    long = ex.submit(sleep_us, 2000000)
    t0 = now()
    for f in [ex.submit(sleep_us, 10000) for _ in range(20)]:
        f.result()
    seconds = now() - t0
    long.result()
    return seconds


def sweep_lengths():
    """keel's sweep (mixed.c): the same 64-bit LCG and seed."""
    x, us = 12345, []
    for _ in range(N_SWEEP):
        x = (x * 6364136223846793005 + 1442695040888963407) % 2**64
        r = x >> 33
        us.append(500 + r % 49500 if r % 10 == 0 else 500 + r % 4500)
    us[N_SWEEP - 20] = 400000
    return us


def greedy(us, workers):
    """Greedy list scheduling, no overhead: the makespan in seconds."""
    free_at = [0.0] * workers
    for u in us:
        w = free_at.index(min(free_at))
        free_at[w] += u * 1e-6
    return max(free_at)


def fig_sweep(ex):
    us = sweep_lengths()
    for f in [ex.submit(sleep_us, 2000) for _ in range(20)]:
        f.result()
    t0 = now()
    for f in [ex.submit(sleep_us, u) for u in us]:
        f.result()
    return greedy(us, WORKERS) / (now() - t0)


SPEED_RUN = {"submit": fig_submit, "map": fig_map,
             "parallel": fig_parallel, "roundtrip": fig_roundtrip,
             "long_then_short_10ms": fig_long_then_short,
             "sweep_vs_greedy": fig_sweep}


def speed(peer, ex, figures, runs):
    """The speed figures on ex; as keel, each run does them all in turn."""
    batch(ex, empty, N_WARM)
    values = {figure: [] for figure in figures}
    for i in range(runs):
        for figure in figures:
            values[figure].append(SPEED_RUN[figure](ex))
            log(f"{peer} {figure} run {i + 1}: {values[figure][-1]:.1f} "
                f"{FIGURES[figure][0]}")
    for figure in figures:
        report(peer, figure, values[figure])


# Crash and recovery, for the peers that run in this process.

def time_kill(ex, path):
    """Run note_and_kill(path) on ex: ms from the SIGKILL to the failure."""
    from concurrent.futures import BrokenExecutor
    future = ex.submit(note_and_kill, path)
    try:
        future.result(timeout=30)
    except BrokenExecutor:  # BrokenProcessPool, loky's TerminatedWorkerError
        failed = now()
    else:
        raise RuntimeError("the task survived its SIGKILL")
    with open(path) as f:
        killed = float(f.read())
    os.unlink(path)
    return (failed - killed) * 1e3


def warm(ex):
    """ex has all its task processes up, as keel's usleep before a kill."""
    ex.submit(empty).result()
    time.sleep(0.05)


def crash_recovery(peer, figures, runs, path):
    """Each run breaks an executor, then times its replacement."""
    crashes, recoveries = [], []
    ex = peer.new()
    for i in range(runs):
        warm(ex)
        crashes.append(time_kill(ex, path))
        t0 = now()
        ex = peer.recover(ex)
        ex.submit(empty).result()
        recoveries.append((now() - t0) * 1e3)
        log(f"{peer.name} run {i + 1}: crash {crashes[-1]:.2f} ms, "
            f"recovery {recoveries[-1]:.2f} ms")
    ex.shutdown()
    if "crash" in figures:
        report(peer.name, "crash", crashes)
    if "recovery" in figures:
        report(peer.name, "recovery", recoveries)


class Ppe:
    name = "ppe"

    def __init__(self):
        from concurrent.futures import ProcessPoolExecutor
        self.pool = ProcessPoolExecutor

    def new(self):
        return self.pool(WORKERS)

    def recover(self, broken):
        broken.shutdown()
        return self.new()


class Loky:
    name = "loky"

    def __init__(self):
        from joblib.externals.loky import get_reusable_executor
        self.get = get_reusable_executor

    def new(self):
        return self.get(max_workers=WORKERS)

    def recover(self, broken):
        return self.new()  # get_reusable_executor replaces a broken one


# Child processes

def tagged():
    """The live processes carrying TAG."""
    pids = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/environ", "rb") as f:
                if TAG.encode() in f.read().split(b"\0"):
                    pids.append(int(pid))
        except OSError:  # gone meanwhile
            pass
    return pids


def reap(grace=2.0):
    """Give processes carrying TAG grace seconds to end by themselves (loky's
    resource tracker ends just after its program), then SIGKILL the rest:
    the ranks of a killed mpiexec, say, would live on."""
    deadline = now() + grace
    while (pids := tagged()) and now() < deadline:
        time.sleep(0.05)
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
            log(f"killed leftover process {pid}")
        except ProcessLookupError:
            pass


def run(cmd, limit, on_line=log):
    """Run cmd under `timeout limit`, passing each line of its stdout to
    on_line as it comes.  Returns (return code, seconds, hung)."""
    t0 = now()
    with subprocess.Popen(["timeout", "-k", "5", str(limit), *cmd],
                          env=CHILD_ENV, stdout=subprocess.PIPE,
                          text=True) as proc:
        def forward():
            for line in proc.stdout:
                on_line(line.rstrip("\n"))
        # Read in a thread: a leftover would keep stdout open after cmd
        # ends, until reap().
        reader = threading.Thread(target=forward)
        reader.start()
        proc.wait()
        seconds = now() - t0
        reap()
        reader.join()
    return proc.returncode, seconds, seconds >= limit


def start(name, cmd, runs, limit=60):
    """`start`: wall time of the whole process cmd, which must print 1."""
    times = []
    for i in range(runs):
        out = []
        rc, seconds, hung = run(cmd, limit, out.append)
        if hung or rc != 0 or out != ["1"]:
            log(f"{name} start: rc {rc}, output {out}")
            emit(name, "start", *(("never", "hung") if hung
                                   else ("n/a", "failed")))
            return
        times.append(seconds * 1e3)
        log(f"{name} start run {i + 1}: {times[-1]:.1f} ms")
    report(name, "start", times)


def write_hello(tmp, name):
    path = os.path.join(tmp, f"hello_{name}.py")
    import_, executor = HELLO_PARTS[name]
    with open(path, "w") as f:
        f.write(HELLO.format(import_=import_, executor=executor))
    return path


# The peers

def local_peer(peer, figures, runs, tmp):
    """ppe or loky: measured in this process, but for `start`."""
    speed_figures = [f for f in SPEED if f in figures]
    if speed_figures:
        ex = peer.new()
        speed(peer.name, ex, speed_figures, runs)
        ex.shutdown()
    if "crash" in figures or "recovery" in figures:
        crash_recovery(peer, figures, runs, os.path.join(tmp, "killed"))
    if "start" in figures:
        start(peer.name, [sys.executable, write_hello(tmp, peer.name)], runs)


def inside_mpi4py(cmd, limit, on_line=log, mpiexec=MPI4PY):
    """Run this file as rank 0 of mpi4py.futures with arguments cmd."""
    return run([*mpiexec, os.path.abspath(__file__), "--inside-mpi4py",
                *cmd], limit, on_line)


def mpi4py_speed(figures, runs):
    """One mpiexec for all speed figures; it prints their lines itself."""
    def relay(line):
        if line.startswith("mpi4py "):
            emit(*line.split())
        else:
            log(line)
    limit = 60 + 90 * runs  # 100,000 tasks take ~20 s; generous
    rc, seconds, hung = inside_mpi4py(
        ["--runs", str(runs), "--figures", ",".join(figures)], limit, relay)
    log(f"mpi4py speed figures: mpiexec took {seconds:.1f} s, rc {rc}")
    for figure in figures:
        if ("mpi4py", figure) not in emitted:
            emit("mpi4py", figure, *(("never", "hung") if hung
                                     else ("n/a", "mpiexec-failed")))


def mpi4py_crash(runs, path, name="mpi4py", mpiexec=MPI4PY):
    """A task SIGKILLs its worker rank: a failed future (the time), or the
    whole job aborted by mpiexec, or a hang; under mpiexec as given, the
    figure reported as name's."""
    crashes = []
    for _ in range(min(runs, MPI4PY_CRASH_RUNS)):
        out = []
        t0 = now()
        rc, seconds, hung = inside_mpi4py(["--kill-file", path], 30,
                                          out.append, mpiexec)
        if rc == 0 and len(out) == 1:
            crashes.append(float(out[0]))
            log(f"{name} crash: the future failed {crashes[-1]:.2f} ms "
                "after the SIGKILL")
            continue
        if hung:
            emit(name, "crash", "never", "hung")
        else:
            log_abort(rc, path, t0 + seconds)
            emit(name, "crash", "never", "job-aborted-by-mpiexec")
        return
    report(name, "crash", crashes)


def log_abort(rc, path, ended):
    """How long after the SIGKILL mpiexec ended the job."""
    try:
        with open(path) as f:
            killed = float(f.read())
        os.unlink(path)
    except OSError:
        log(f"mpi4py crash: mpiexec ended with rc {rc}, the task never ran")
        return
    log(f"mpi4py crash: no failed future; mpiexec aborted the whole job "
        f"(rc {rc}), ending {(ended - killed) * 1e3:.0f} ms after the SIGKILL")


def mpi4py_peer(figures, runs, tmp):
    speed_figures = [f for f in SPEED if f in figures]
    if speed_figures:
        mpi4py_speed(speed_figures, runs)
    if "crash" in figures:
        mpi4py_crash(runs, os.path.join(tmp, "killed"))
        mpi4py_crash(runs, os.path.join(tmp, "killed"), "mpi4py_recovery",
                     MPI4PY_RECOVERY)
    if "recovery" in figures:
        # A lost rank is not replaced: mpi4py.futures has no recovery.
        emit("mpi4py", "recovery", "n/a", "no-recovery")
    if "start" in figures:
        start("mpi4py", [*MPI4PY, write_hello(tmp, "mpi4py")], runs, 30)


def measure(name, figures, runs, tmp):
    if name == "mpi4py":
        mpi4py_peer(figures, runs, tmp)
    else:
        local_peer(Ppe() if name == "ppe" else Loky(), figures, runs, tmp)


def as_inside_mpi4py(args):
    """Rank 0 under `python3 -m mpi4py.futures peers.py --inside-mpi4py`.
    The worker ranks import this file as __worker__ (so not as __main__,
    and main() does not run there); the tasks, pickled as __main__.name,
    are found in it."""
    from mpi4py.futures import MPIPoolExecutor
    with MPIPoolExecutor() as ex:
        if args.kill_file:
            warm(ex)
            print(f"{time_kill(ex, args.kill_file):.3f}", flush=True)
        else:
            speed("mpi4py", ex, args.figures, args.runs)


def names(choices):
    """An argparse type: a comma-separated subset of choices, in order."""
    def parse(text):
        chosen = text.split(",")
        unknown = set(chosen) - set(choices)
        if unknown:
            raise argparse.ArgumentTypeError(
                f"unknown: {','.join(sorted(unknown))}")
        return [c for c in choices if c in chosen]
    return parse


def parse_args():
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--peers", type=names(PEERS), default=list(PEERS))
    parser.add_argument("--figures", type=names(FIGURES),
                        default=list(FIGURES))
    # Internal: this file as rank 0 of mpi4py.futures.
    parser.add_argument("--inside-mpi4py", action="store_true",
                        help=argparse.SUPPRESS)
    parser.add_argument("--kill-file", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    return args


def main():
    args = parse_args()
    if args.inside_mpi4py:
        as_inside_mpi4py(args)
        return
    with tempfile.TemporaryDirectory(prefix="keel-peers-") as tmp:
        for name in args.peers:
            if importlib.util.find_spec(PEERS[name]) is None:
                log(f"{name}: module {PEERS[name]} missing, skipped")
                continue
            try:
                measure(name, args.figures, args.runs, tmp)
            except Exception:
                traceback.print_exc()
            for figure in args.figures:  # whatever an exception left out
                if (name, figure) not in emitted:
                    emit(name, figure, "n/a", "failed")


if __name__ == "__main__":
    main()
