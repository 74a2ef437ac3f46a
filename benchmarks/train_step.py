#!/usr/bin/env python
"""Time our train step side by side with the TensorFlow tutorial's, in one process.

    .venv/bin/python benchmarks/train_step.py                      # 256x256, ngf=ndf=64, batch 1 and 4
    .venv/bin/python benchmarks/train_step.py --batch_sizes 1 --rounds 7 --steps_per_round 5
    .venv/bin/python benchmarks/train_step.py --no_cli             # without the CLI contender
    .venv/bin/python benchmarks/train_step.py --profile_steps 3    # + where the time goes, per op type
    .venv/bin/python benchmarks/train_step.py --update_orders      # ours: simultaneous vs sequential
    .venv/bin/python benchmarks/train_step.py --precisions float32,bfloat16   # ours and the CLI in both

For each batch size: both steps are built and warmed up (tracing excluded), then timed in
interleaved rounds (ours, tutorial, CLI, matmul, ours, tutorial, CLI, matmul, ...) of
--steps_per_round steps; ours and the tutorial's run on random tensors already in memory and
fetch a loss to the host once per round. Ours and the CLI run in each of --precisions
(--mixed_precision; by default float32, and bfloat16 too where the CPU computes it natively: AMX or
AVX512-BF16), each a contender of its own; the tutorial's step is float32. At the first batch
size the third contender is the whole `python -m pix2pix --mode train` in a subprocess on
generated A|B JPEGs, with its real input pipeline: paused (SIGSTOP) while the others run, resumed for its turn
(see CliRun).
Reported: median seconds/step over rounds, steps/s, images/s, the ratio ours/tutorial in steps/s
(ratio of the medians, and the spread of the per-round ratios), the FLOPs of one step counted
from the step's graph, achieved GFLOP/s and its fraction of a large float32 matmul measured in
the same rounds (the machine's practical peak), and the peak RSS of each step alone (measured in
a fresh subprocess per implementation and batch size).

This measures whatever pix2pix/ currently is: it only uses the public API
(`pix2pix.Options`, `pix2pix.Pix2Pix(options).train_step(inputs, targets)`).
"""

import argparse
import collections
import datetime
import gc
import glob
import json
import os
import re
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
for _path in (REPO, HERE):
    if _path not in sys.path:
        sys.path.insert(0, _path)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

import pix2pix  # noqa: E402
from pix2pix.io.cpu_features import native_bfloat16  # noqa: E402
from machine import cpu_name  # noqa: E402
from tutorial_reference import TutorialPix2Pix  # noqa: E402

# A contender is named "IMPL" (float32) or "IMPL PRECISION" (ours and the CLI with --mixed_precision).
def contender(impl, precision="float32"):
    return impl if precision == "float32" else f"{impl} {precision}"


def impl_of(name):
    return name.split()[0]


def precision_of(name):
    return name.split()[1] if " " in name else "float32"


def default_precisions():
    """float32, and bfloat16 where the CPU computes it natively (AMX, AVX512-BF16)."""
    return "float32,bfloat16" if native_bfloat16() else "float32"


def in_process(precisions):
    """The contenders run in this process: ours in each of PRECISIONS, then the tutorial's (float32)."""
    return tuple(contender("ours", p) for p in precisions) + ("tutorial",)


# ----------------------------------------------------------------- helpers
def peak_rss_mb() -> float:
    """Peak resident set size of this process so far, in MiB.

    VmHWM from /proc/self/status where there is one: Linux keeps ru_maxrss across execve,
    so a subprocess started from a big parent would report the parent's peak. Otherwise
    resource.getrusage's ru_maxrss (KiB on Linux, bytes on macOS).
    """
    try:
        with open("/proc/self/status", encoding="utf-8") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        pass
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / (1024 * 1024) if sys.platform == "darwin" else rss / 1024


def machine_line() -> str:
    flags = ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            text = f.read()
        flags = " AVX-512" if "avx512f" in text else ""
        flags += {"AMX": ", AMX", "AVX512-BF16": ", AVX512-BF16"}.get(native_bfloat16(), "")
    except OSError:
        pass
    load = "/".join(f"{x:.2f}" for x in os.getloadavg())
    return (f"{os.cpu_count()}-core {cpu_name()}{flags}, TF {tf.__version__} "
            f"(Keras {keras.__version__}), {datetime.date.today().isoformat()}, load average {load}")


class LoadMeter:
    """How many cores other processes kept busy while we measured (from /proc/stat).

    busy CPU time of the whole machine minus this process's CPU time and that of PIDS (our
    own subprocesses, e.g. the CLI contender), over wall time. None where /proc is missing.
    """

    def __init__(self, pids=()):
        self.pids = tuple(pids)
        self.start = self._sample()

    def _sample(self):
        try:
            with open("/proc/stat", encoding="utf-8") as f:
                fields = [int(x) for x in f.readline().split()[1:]]
            children = sum(self._cpu_of(pid) for pid in self.pids)
        except (OSError, ValueError):
            return None
        idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
        busy = (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")
        return busy, time.process_time() + children, time.perf_counter()

    @staticmethod
    def _cpu_of(pid):
        """User + system CPU seconds of process PID so far."""
        with open(f"/proc/{pid}/stat", encoding="utf-8") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def others_cores(self):
        end = self._sample()
        if self.start is None or end is None:
            return None
        busy, mine, wall = (b - a for a, b in zip(self.start, end))
        return max(0.0, (busy - mine) / wall)


def code_version() -> str:
    """A short hash of pix2pix/*.py as they are now (the repo is edited while benchmarks run)."""
    import hashlib

    digest = hashlib.sha1()
    for path in sorted(glob.glob(os.path.join(REPO, "pix2pix", "*.py"))):
        with open(path, "rb") as f:
            digest.update(os.path.basename(path).encode() + b"\0" + f.read())
    return digest.hexdigest()[:10]


def make_options(size, ngf, ndf, batch_size, **extra):
    return pix2pix.Options(mode="train", crop_size=size, scale_size=max(size, round(size * 286 / 256)),
                           ngf=ngf, ndf=ndf, batch_size=batch_size, **extra)


def build(name, size, ngf, ndf, batch_size, seed=1):
    """(step_fn(inputs, targets) -> dict of losses, object holding the model) of contender NAME."""
    tf.keras.utils.set_random_seed(seed)
    if impl_of(name) == "ours":
        model = pix2pix.Pix2Pix(make_options(size, ngf, ndf, batch_size, mixed_precision=precision_of(name)))
        return model.train_step, model
    model = TutorialPix2Pix(size, ngf, ndf)
    return model.train_step, model


def random_batch(batch_size, size, channels=(3, 3), seed=2):
    gen = tf.random.Generator.from_seed(seed)
    inputs = gen.uniform([batch_size, size, size, channels[0]], -1.0, 1.0)
    targets = gen.uniform([batch_size, size, size, channels[1]], -1.0, 1.0)
    return inputs, targets


def sync(losses):
    """Fetch one loss to the host (forces the step to have finished)."""
    return float(next(iter(losses.values())).numpy())


def time_steps(step, inputs, targets, steps):
    """Mean seconds/step over STEPS consecutive steps, synchronised once at the end."""
    return time_steps_cpu(step, inputs, targets, steps)[0]


def time_steps_cpu(step, inputs, targets, steps):
    """(wall seconds/step, process CPU seconds/step) over STEPS consecutive steps.

    CPU time (user + system, all threads of this process) is less sensitive than wall time
    to other processes competing for the cores; both are reported.
    """
    cpu, start = time.process_time(), time.perf_counter()
    for _ in range(steps):
        losses = step(inputs, targets)
    sync(losses)
    return (time.perf_counter() - start) / steps, (time.process_time() - cpu) / steps


class Matmul:
    """A large float32 matmul (2 n^3 FLOPs): the machine's practical peak, measured in the same run."""

    def __init__(self, n):
        self.n = n
        self.a = tf.random.normal([n, n], seed=3)
        self.b = tf.random.normal([n, n], seed=4)
        self.run()  # warm-up (oneDNN primitive creation)

    def run(self):
        start = time.perf_counter()
        c = tf.linalg.matmul(self.a, self.b)
        float(c[0, 0].numpy())
        return 2.0 * self.n ** 3 / (time.perf_counter() - start)


# ------------------------------------------------------------ FLOP counting
def concrete_graph(impl, model, inputs, targets):
    """The FuncGraph of one traced step (the one the timed calls run, when reachable)."""
    fn = getattr(model, "_step_fn", None) if impl == "ours" else model.train_step
    if fn is not None and hasattr(fn, "get_concrete_function"):
        try:
            return fn.get_concrete_function(inputs, targets).graph
        except (TypeError, ValueError):
            pass
    # Public API only: wrap train_step; its tf.function shows up as a nested call, walked below.
    return tf.function(lambda i, t: model.train_step(i, t)).get_concrete_function(inputs, targets).graph


def _live_ops(graph):
    """Ops the function really runs: those its outputs or stateful ops depend on.

    The traced gradient graph also holds branches nobody uses (e.g. D's filter gradients
    computed while differentiating the generator's loss); Grappler prunes them before running.
    """
    stack = [t.op for t in graph.outputs]
    stack += [op for op in graph.get_operations()
              if op.op_def is not None and op.op_def.is_stateful and op.type != "Placeholder"]
    live = set()
    while stack:
        op = stack.pop()
        if op in live:
            continue
        live.add(op)
        stack.extend(t.op for t in op.inputs)
        stack.extend(op.control_inputs)
    return live


def _dims(tensor):
    return [int(d) for d in tensor.shape]


def _conv_flops(op):
    """Exact multiply-add FLOPs (2 per MAC, zero padding included) of a 2-D convolution op."""
    if op.type == "Conv2D":
        n, h, w, cout = _dims(op.outputs[0])
        kh, kw, cin, _ = _dims(op.inputs[1])
    elif op.type == "Conv2DBackpropInput":  # also the forward op of Conv2DTranspose
        kh, kw, cin, cout = _dims(op.inputs[1])
        n, h, w, _ = _dims(op.inputs[2])  # the (forward) conv's output
    elif op.type == "Conv2DBackpropFilter":
        kh, kw, cin, cout = _dims(op.outputs[0])
        n, h, w, _ = _dims(op.inputs[2])
    else:
        return None
    return 2 * n * h * w * cout * kh * kw * cin


def count_flops(graph, _seen=None):
    """FLOPs of one execution of GRAPH: {"conv": convolutions (exact), "other": element-wise
    and reductions (TF's flops registry), "by_type": {op type: flops}}; nested function calls
    are followed."""
    from tensorflow.python.framework import ops as tf_ops
    from tensorflow.python.profiler.internal import flops_registry  # noqa: F401  (registers stats)

    def called(attr_name):
        fn = graph._get_function(op.get_attr(attr_name).name)
        graph_of_fn = getattr(fn, "graph", None)
        if graph_of_fn is None:
            return None
        inner = count_flops(graph_of_fn)
        by_layer.update(inner["by_layer"])
        matmul_conv[0] += inner["matmul_conv"]
        return collections.Counter(inner["by_type"])

    by_type, by_layer = collections.Counter(), collections.Counter()
    matmul_conv = [0]  # FLOPs of small-map convolutions done as matmuls
    for op in _live_ops(graph):
        if op.type in ("StatefulPartitionedCall", "PartitionedCall"):
            by_type.update(called("f") or {})
            continue
        if op.type in ("If", "StatelessIf"):  # tf.cond: count the costlier branch (the update)
            branches = [b for b in (called("then_branch"), called("else_branch")) if b is not None]
            if branches:
                by_type.update(max(branches, key=lambda c: sum(c.values())))
            continue
        if op.type in ("While", "StatelessWhile"):  # unknown trip count: one iteration
            by_type.update(called("body") or {})
            continue
        flops = _conv_flops(op)
        if flops is not None:
            by_layer[layer_key(op.name)] += flops
        elif op.type in ("ResourceApplyAdam", "ApplyAdam"):  # fused Adam: ~12 FLOPs per element
            flops = 12 * op.inputs[9].shape.num_elements()
        else:
            try:
                flops = tf_ops.get_stats_for_node_def(graph, op.node_def, "flops").value
            except (ValueError, TypeError):
                flops = None
            if flops and op.type in ("MatMul", "BatchMatMulV2") and layer_key(op.name) != "other":
                by_layer[layer_key(op.name)] += flops  # a small-map convolution done as a matmul
                matmul_conv[0] += int(flops)
        if flops:
            by_type[op.type] += int(flops)
    conv = sum(v for k, v in by_type.items() if k.startswith("Conv2D")) + matmul_conv[0]
    return {"conv": conv, "other": sum(by_type.values()) - conv, "by_type": dict(by_type),
            "by_layer": dict(by_layer), "matmul_conv": matmul_conv[0]}


def layer_key(op_name):
    """'G encoder_3' / 'D layer_4' ... for an op of our networks (by the reference's layer names)."""
    match = re.search(r"(encoder|decoder|layer)_(\d+)_", op_name)
    if not match:
        return "other"
    network = "D" if match.group(1) == "layer" else "G"  # the stacked D pass has no model scope
    return f"{network} {match.group(1)}_{match.group(2)}"


def tfprof_flops(graph):
    """What tf.compat.v1.profiler's float_operation() says for GRAPH as traced (unpruned)."""
    options = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
    options["output"] = "none"
    return tf.compat.v1.profiler.profile(graph=graph, options=options).total_float_ops


# ----------------------------------------------------------- memory probe
def memory_probe(impl, size, ngf, ndf, batch_size):
    """Run in a fresh process: build IMPL, run 3 steps, print the peak RSS as JSON."""
    baseline = peak_rss_mb()
    step, _ = build(impl, size, ngf, ndf, batch_size)
    inputs, targets = random_batch(batch_size, size)
    for _ in range(3):
        sync(step(inputs, targets))
    print(json.dumps({"impl": impl, "batch_size": batch_size, "baseline_mb": baseline,
                      "peak_mb": peak_rss_mb()}), flush=True)


def measure_memory(args, batch_sizes, parallel=2):
    """{(impl, batch_size): probe result or None}, PARALLEL probes at a time (RSS is per process)."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([REPO, os.environ.get("PYTHONPATH", "")]))
    pending = [(impl, b) for b in batch_sizes for impl in in_process(args.precisions)
               if args.memory_impls is None or impl_of(impl) in args.memory_impls]
    running, results = {}, {}
    while pending or running:
        while pending and len(running) < parallel:
            impl, b = key = pending.pop(0)
            command = [sys.executable, os.path.abspath(__file__), "--_memory_probe", impl,
                       "--batch_sizes", str(b), "--size", str(args.size),
                       "--ngf", str(args.ngf), "--ndf", str(args.ndf)]
            running[key] = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                            text=True, env=env, cwd=REPO)
        key = next(iter(running))
        out, err = running.pop(key).communicate()
        results[key] = next((json.loads(line) for line in out.splitlines() if line.startswith("{")), None)
        if results[key] is None:
            sys.stderr.write(f"memory probe {key} failed:\n{err[-2000:]}\n")
    return results


# ---------------------------------------------------- the CLI, end to end
class CliRun:
    """`python -m pix2pix --mode train` on generated A|B JPEGs, timed as one more contender.

    The CLI runs in a subprocess that we pause (SIGSTOP) while the in-process steps run and
    resume (SIGCONT) for its turn in each round, so it is interleaved with them like they are
    with each other, under the same outside load, without competing with them for the cores.
    It prints a progress line every step (--progress_freq 1); a reader thread timestamps
    each line as it arrives. A step's time is the interval between consecutive lines minus
    the time the process spent paused within it. Its steps are real training steps: batches
    from the tf.data pipeline (decode, split, resize, flip, crop), the non-finite check, the
    loss averages and progress printing; summaries, display and checkpoints are off.
    """

    def __init__(self, args, batch_size, steps, precision="float32"):
        import threading

        from input_pipeline import write_pair_images

        self.work = tempfile.mkdtemp(prefix="pix2pix_bench_cli_")
        data = os.path.join(self.work, "pairs")
        write_pair_images(data, args.pipeline_images, args.size, seed=5)
        scale = max(args.size, round(args.size * 286 / 256))
        command = [sys.executable, "-m", "pix2pix", "--mode", "train", "--input_dir", data,
                   "--output_dir", os.path.join(self.work, "run"), "--max_steps", str(steps),
                   "--batch_size", str(batch_size), "--crop_size", str(args.size),
                   "--scale_size", str(scale), "--ngf", str(args.ngf), "--ndf", str(args.ndf),
                   "--progress_freq", "1", "--summary_freq", "0", "--display_freq", "0",
                   "--save_freq", "0", "--seed", "1", "--mixed_precision", precision]
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([REPO, os.environ.get("PYTHONPATH", "")]),
                   PYTHONUNBUFFERED="1")
        self.stamps, self.lines, self.pauses = [], [], []
        self.changed = threading.Condition()
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                        text=True, env=env, cwd=REPO)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.process.stdout:
            with self.changed:
                self.lines.append(line)
                if line.startswith("progress "):
                    self.stamps.append(time.perf_counter())
                self.changed.notify_all()
        with self.changed:
            self.changed.notify_all()

    def wait_steps(self, count):
        """Block until COUNT progress lines have been seen; False if the process ended first."""
        with self.changed:
            while len(self.stamps) < count:
                if self.process.poll() is not None and not self.reader.is_alive():
                    return False
                self.changed.wait(timeout=1.0)
        return True

    def pause(self):
        os.kill(self.process.pid, signal.SIGSTOP)
        self._paused_at = time.perf_counter()

    def resume(self):
        now = time.perf_counter()
        self.pauses.append((self._paused_at, now))
        os.kill(self.process.pid, signal.SIGCONT)

    def run_steps(self, steps):
        """Resume, let STEPS more steps finish, pause again; mean seconds/step of those steps."""
        first = len(self.stamps)
        self.resume()
        ok = self.wait_steps(first + steps)
        self.pause()
        if not ok:
            raise RuntimeError("the CLI run ended early:\n" + "".join(self.lines[-30:]))
        intervals = [self._unpaused(a, b) for a, b in zip(self.stamps[first - 1:], self.stamps[first:])]
        return sum(intervals) / len(intervals)

    def _unpaused(self, start, end):
        paused = sum(max(0.0, min(end, b) - max(start, a)) for a, b in self.pauses)
        return end - start - paused

    def close(self):
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGCONT)
            self.process.kill()
        self.process.wait()
        self.reader.join(timeout=10)
        shutil.rmtree(self.work, ignore_errors=True)


# ------------------------------------------------------------- profiling
def profile_ops(step, inputs, targets, steps):
    """Op times of STEPS steps from a tf.profiler trace, per step: {"by_type": {type: (ms, count)},
    "by_name": {"name:type": ms}, "total_ms"} (op durations summed over the inter-op threads)."""
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    logdir = tempfile.mkdtemp(prefix="pix2pix_bench_trace_")
    try:
        tf.profiler.experimental.start(logdir)
        for _ in range(steps):
            losses = step(inputs, targets)
        sync(losses)
        tf.profiler.experimental.stop()
        files = glob.glob(os.path.join(logdir, "plugins", "profile", "*", "*.xplane.pb"))
        space = xplane_pb2.XSpace()
        with open(files[0], "rb") as f:
            space.ParseFromString(f.read())
    finally:
        shutil.rmtree(logdir, ignore_errors=True)
    by_type, count, by_name = collections.Counter(), collections.Counter(), collections.Counter()
    for plane in space.planes:
        for line in plane.lines:
            if not line.name.startswith("tf_Compute"):
                continue
            for event in line.events:
                meta = plane.event_metadata[event.metadata_id]
                if ":" not in meta.name or not meta.display_name or "::" in meta.name:
                    continue
                seconds = event.duration_ps / 1e12
                by_type[meta.display_name] += seconds
                count[meta.display_name] += 1
                by_name[meta.name] += seconds
    return {"steps": steps,
            "by_type": {k: (1000 * v / steps, count[k] / steps) for k, v in by_type.items()},
            "by_name": {k: 1000 * v / steps for k, v in by_name.items()},
            "total_ms": 1000 * sum(by_type.values()) / steps}


def op_family(name):
    """What an op of the trace ("name:Type") is for, in broad strokes."""
    op_name, _, op_type = name.rpartition(":")
    lowered = op_name.lower()
    if "adam" in lowered or "optimizer" in lowered or "ApplyAdam" in op_type:
        return "Adam updates (optimizer)"
    # Our small-map convolutions are matmuls (+ the slices/pads around them) in a *_conv scope.
    if "Conv2D" in op_type or "Conv2D" in op_name or re.search(r"_\d+_(de)?conv(_\d+)?/", op_name):
        return "convolutions (fwd + both grads, fused bias)"
    if "BatchNorm" in op_type or "batch_normalization" in lowered or "_bn" in lowered:
        return "batch norm (fwd + grad)"
    return "other (activations, concat/slice, pads, losses, ...)"


def print_profile(impl, profile, flops, top):
    total = profile["total_ms"]
    print(f"\nwhere {impl}'s step spends time (tf.profiler trace of {profile['steps']} steps; "
          f"op durations summed over the inter-op threads: {total:.0f} ms/step)")
    families = collections.Counter()
    for name, ms in profile["by_name"].items():
        families[op_family(name)] += ms
    for family, ms in families.most_common():
        print(f"  {family:<52} {ms:8.1f} ms/step {ms / total:6.1%}")
    print(f"  {'op type':<52} {'ms/step':>8} {'ops/step':>8}")
    ranked = sorted(profile["by_type"].items(), key=lambda kv: -kv[1][0])[:top]
    for op_type, (ms, n) in ranked:
        print(f"  {op_type:<52} {ms:8.1f} {n:8.0f}")
    if impl == "ours" and flops.get("by_layer"):
        conv_ms = collections.Counter()
        for name, ms in profile["by_name"].items():
            if op_family(name).startswith("convolutions"):
                conv_ms[layer_key(name)] += ms
        print("  convolutions by layer (all uses: fwd, input grad, filter grad; D counts real + fake):")
        print(f"  {'layer':<14} {'GFLOP/step':>10} {'share':>7} {'ms/step':>8} {'share':>7} {'GFLOP/s':>8}")
        conv_total = sum(conv_ms.values()) or 1.0
        flop_total = sum(flops["by_layer"].values()) or 1.0
        layers = sorted(set(conv_ms) | set(flops["by_layer"]),
                        key=lambda k: -conv_ms.get(k, 0.0))
        for layer in layers:
            gflop = flops["by_layer"].get(layer, 0) / 1e9
            ms = conv_ms.get(layer, 0.0)
            rate = f"{gflop / ms * 1000:8.1f}" if ms else f"{'-':>8}"
            print(f"  {layer:<14} {gflop:10.2f} {gflop * 1e9 / flop_total:7.1%} {ms:8.1f} "
                  f"{ms / conv_total:7.1%} {rate}")
    print("  slowest ops:")
    for name, ms in sorted(profile["by_name"].items(), key=lambda kv: -kv[1])[:10]:
        print(f"    {ms:8.1f} ms  {name}")


# ------------------------------------------------------ --update_orders
UPDATE_ORDERS = ("simultaneous", "sequential")


def compare_update_orders(args):
    """Our step with --update_order simultaneous and sequential, timed side by side.

    Both models are built and traced in this process, warmed up, then timed in interleaved
    rounds (simultaneous, sequential, simultaneous, ...) on the same random tensors. Reported
    per batch size: median wall and CPU s/step of each, and sequential/simultaneous in s/step
    (median and range of the per-round ratios, paired under the same outside load).
    """
    batch_sizes = [int(b) for b in args.batch_sizes.split(",") if b.strip()]
    print(f"machine: {machine_line()}")
    print(f"code: pix2pix/*.py sha1 {code_version()}")
    print(f"update orders: {args.size}x{args.size}, ngf {args.ngf}, ndf {args.ndf}, batch sizes "
          f"{batch_sizes}, {args.rounds} rounds x {args.steps_per_round} steps, warm-up "
          f"{args.warmup_steps} steps (+ tracing)", flush=True)
    rows = []
    for batch_size in batch_sizes:
        inputs, targets = random_batch(batch_size, args.size)
        steps = {}
        for order in UPDATE_ORDERS:
            tf.keras.utils.set_random_seed(1)
            model = pix2pix.Pix2Pix(make_options(args.size, args.ngf, args.ndf, batch_size,
                                                 update_order=order))
            steps[order] = model.train_step
            sync(steps[order](inputs, targets))  # trace + first step
        for order in UPDATE_ORDERS:
            for _ in range(args.warmup_steps):
                sync(steps[order](inputs, targets))
        wall = {order: [] for order in UPDATE_ORDERS}
        cpu = {order: [] for order in UPDATE_ORDERS}
        load = LoadMeter()
        for r in range(args.rounds):
            for order in UPDATE_ORDERS:
                w, c = time_steps_cpu(steps[order], inputs, targets, args.steps_per_round)
                wall[order].append(w)
                cpu[order].append(c)
            print(f"  batch {batch_size} round {r + 1}/{args.rounds}: "
                  + ", ".join(f"{o} {wall[o][-1]:.3f} s/step ({cpu[o][-1]:.2f} CPU s)" for o in UPDATE_ORDERS),
                  flush=True)
        ratios = [b / a for a, b in zip(wall["simultaneous"], wall["sequential"])]
        cpu_ratios = [b / a for a, b in zip(cpu["simultaneous"], cpu["sequential"])]
        rows.append((batch_size, wall, cpu, ratios, cpu_ratios, load.others_cores()))
        gc.collect()
        tf.keras.backend.clear_session()
    print()
    print(f"machine: {machine_line()}")
    print(f"train step by --update_order, {args.size}x{args.size}, ngf {args.ngf} / ndf {args.ndf}: median of "
          f"{args.rounds} interleaved rounds x {args.steps_per_round} steps")
    header = (f"{'batch':>5}  {'update_order':<13} {'s/step':>7} {'CPU s/step':>10} "
              f"{'seq/sim s/step':>15} {'range':>12} {'seq/sim CPU':>12}")
    print(header)
    print("-" * len(header))
    for batch_size, wall, cpu, ratios, cpu_ratios, others in rows:
        for order in UPDATE_ORDERS:
            ratio = rng = cpu_ratio = ""
            if order == "sequential":
                ratio = f"{statistics.median(ratios):.2f}x"
                rng = f"{min(ratios):.2f}-{max(ratios):.2f}"
                cpu_ratio = f"{statistics.median(cpu_ratios):.2f}x"
            print(f"{batch_size:>5}  {order:<13} {statistics.median(wall[order]):7.3f} "
                  f"{statistics.median(cpu[order]):10.2f} {ratio:>15} {rng:>12} {cpu_ratio:>12}")
        if others is not None:
            print(f"       (other processes kept {others:.1f} of {os.cpu_count()} cores busy meanwhile)")


# ------------------------------------------------------------------ main
def gf(flops):
    """FLOPs as G with 3 significant digits."""
    return f"{flops / 1e9:.3g} G"


def fmt_mb(value):
    return f"{value / 1024:.2f} GiB" if value else "-"


def run(args):
    batch_sizes = [int(b) for b in args.batch_sizes.split(",") if b.strip()]
    print(f"machine: {machine_line()}")
    print(f"code: pix2pix/*.py sha1 {code_version()}")
    print(f"config: {args.size}x{args.size}, ngf {args.ngf}, ndf {args.ndf}, batch sizes {batch_sizes}, "
          f"{args.rounds} rounds x {args.steps_per_round} steps, warm-up {args.warmup_steps} steps "
          f"(+ tracing), matmul {args.matmul_n}^2, precisions {', '.join(args.precisions)}", flush=True)
    matmul = Matmul(args.matmul_n)
    peak_samples = []
    rows = []
    for batch_size in batch_sizes:
        first = batch_size == batch_sizes[0]  # the CLI and the profile: first batch size only
        clis = {}
        if not args.no_cli and first:
            # Started first: they trace while we build ours and the tutorial's, then wait paused.
            clis = {contender("cli", p): CliRun(args, batch_size, steps=10 ** 6, precision=p)
                    for p in args.precisions}
        contenders = in_process(args.precisions) + tuple(clis)
        try:
            rows.append(measure_batch(args, batch_size, matmul, clis, contenders, peak_samples,
                                      profile_steps=args.profile_steps if first else 0))
        finally:
            for cli in clis.values():
                cli.close()
        gc.collect()
        tf.keras.backend.clear_session()

    memory = {}
    if not args.no_memory:
        print("measuring peak RSS of each step alone (fresh subprocesses) ...", flush=True)
        memory = measure_memory(args, batch_sizes)
    report(args, rows, peak_samples, memory)


def measure_batch(args, batch_size, matmul, clis, contenders, peak_samples, profile_steps):
    """Build, trace and warm up the in-process steps, then time CONTENDERS in interleaved rounds
    (CLIS: {contender name: CliRun}, the CLI runs started for this batch size)."""
    inputs, targets = random_batch(batch_size, args.size)
    local = [name for name in contenders if name not in clis]
    steps, models, trace_s, flops = {}, {}, {}, {}
    for name in local:
        steps[name], models[name] = build(name, args.size, args.ngf, args.ndf, batch_size)
        start = time.perf_counter()
        sync(steps[name](inputs, targets))  # trace + first step
        trace_s[name] = time.perf_counter() - start
    for name in local:
        graph = concrete_graph(impl_of(name), models[name], inputs, targets)
        flops[name] = count_flops(graph)
        if name == "ours" and not args.no_tfprof:
            flops[name]["tfprof"] = tfprof_flops(graph)
        flops[name]["graph_ops"] = len(_live_ops(graph))
    for name, cli in clis.items():
        flops[name] = flops[contender("ours", precision_of(name))]
        # Its start-up and first steps (tracing, pipeline warm-up) are over once it has done a few.
        if not cli.wait_steps(args.warmup_steps + 2):
            raise RuntimeError(f"the {name} run failed:\n" + "".join(cli.lines[-30:]))
        cli.pause()
    for cli in clis.values():
        cli.run_steps(1)  # its first step after a pause, like the in-process warm-up below
    # Warm-up only once every function exists: adding functions to the runtime (building
    # and tracing the other implementation) makes the next call of a step slow once.
    for name in local:
        for _ in range(args.warmup_steps):
            sync(steps[name](inputs, targets))
    print(f"batch {batch_size}: traced (first call incl. tracing: "
          + ", ".join(f"{k} {v:.1f} s" for k, v in trace_s.items()) + ")", flush=True)

    times = {name: [] for name in contenders}
    cpu_times = {name: [] for name in local}
    load = LoadMeter(pids=[cli.process.pid for cli in clis.values()])
    matmul_samples = []
    for r in range(args.rounds):
        for name in local:
            wall, cpu = time_steps_cpu(steps[name], inputs, targets, args.steps_per_round)
            times[name].append(wall)
            cpu_times[name].append(cpu)
        for name, cli in clis.items():
            times[name].append(cli.run_steps(args.steps_per_round))
        matmul_samples.append(matmul.run())
        peak_samples.append(matmul_samples[-1])
        print(f"  round {r + 1}/{args.rounds}: "
              + ", ".join(f"{k} {times[k][-1]:.3f} s/step"
                          + (f" ({cpu_times[k][-1]:.2f} CPU s)" if k in cpu_times else "")
                          for k in contenders)
              + f", matmul {peak_samples[-1] / 1e9:.0f} GFLOP/s", flush=True)
    others = load.others_cores()

    profile = None
    if profile_steps:
        profile = {name: profile_ops(steps[name], inputs, targets, profile_steps) for name in local}

    med = {name: statistics.median(times[name]) for name in contenders}
    # Paired per round: every contender and the matmul ran under the same outside load.
    round_ratios = {name: [t / o for o, t in zip(times[name], times["tutorial"])] for name in contenders}
    of_peak = {name: statistics.median(
        (flops[name]["conv"] + flops[name]["other"]) / t / m
        for t, m in zip(times[name], matmul_samples)) for name in contenders}
    return {"batch_size": batch_size, "contenders": contenders, "times": times, "median": med,
            "flops": flops, "cpu": {name: statistics.median(cpu_times[name]) for name in local},
            "others": others, "ratio": med["tutorial"] / med["ours"], "round_ratios": round_ratios,
            "of_peak": of_peak, "matmul": matmul_samples, "profile": profile, "trace_s": trace_s}


IMPL_LABELS = {"ours": "ours", "tutorial": "tutorial", "cli": "ours CLI"}


def label(name):
    """How contender NAME is shown: what runs and in which precision."""
    impl, precision = IMPL_LABELS[impl_of(name)], precision_of(name)
    return impl if precision == "float32" else f"{impl} {precision}"


def report(args, rows, peak_samples, memory):
    peak = statistics.median(peak_samples)
    print()
    print(f"machine: {machine_line()}")
    print(f"code: pix2pix/*.py sha1 {code_version()}")
    print(f"train step, {args.size}x{args.size}, ngf {args.ngf} / ndf {args.ndf}: median of "
          f"{args.rounds} interleaved rounds x {args.steps_per_round} steps")
    print("  ours, tutorial: Pix2Pix.train_step / the tutorial's step in this process on random tensors "
          "in memory")
    print("  precision: --mixed_precision (bfloat16: computing in bfloat16, variables and losses float32); "
          "the tutorial's step is float32")
    print(f"  ours CLI: `python -m pix2pix --mode train` in a subprocess on {args.pipeline_images} generated "
          f"A|B JPEGs (real tf.data pipeline, progress every step), paused while the others run")
    print(f"practical peak: float32 matmul {args.matmul_n}x{args.matmul_n} @ {args.matmul_n}x{args.matmul_n} = "
          f"{peak / 1e9:.0f} GFLOP/s (median of {len(peak_samples)}, range "
          f"{min(peak_samples) / 1e9:.0f}-{max(peak_samples) / 1e9:.0f}); one per round, so 'of peak' "
          f"below is the median over rounds of step GFLOP/s / that round's matmul GFLOP/s")
    print("vs tut = steps/s over the tutorial's: median of the per-round ratios (paired, "
          "robust to outside load changing between rounds)")
    header = (f"{'batch':>5}  {'impl':<9} {'precision':<9} {'s/step':>7} {'steps/s':>8} {'images/s':>9} "
              f"{'vs tut':>7} {'GFLOP/step':>10} {'GFLOP/s':>8} {'of peak':>8} {'peak RSS':>10} "
              f"{'CPU s/step':>10}")
    print(header)
    print("-" * len(header))
    for row in rows:
        b = row["batch_size"]
        for impl in row["contenders"]:
            s = row["median"][impl]
            gflop = (row["flops"][impl]["conv"] + row["flops"][impl]["other"]) / 1e9
            gflop_text = f"{gflop:10.1f}" if gflop >= 1 else f"{gflop:10.4f}"
            ratio = f"{statistics.median(row['round_ratios'][impl]):.2f}x" if impl != "tutorial" else ""
            mem = memory.get((impl, b))
            cpu = f"{row['cpu'][impl]:10.2f}" if impl in row["cpu"] else f"{'-':>10}"
            print(f"{b:>5}  {IMPL_LABELS[impl_of(impl)]:<9} {precision_of(impl):<9} {s:7.3f} {1 / s:8.3f} "
                  f"{b / s:9.2f} {ratio:>7} "
                  f"{gflop_text} {gflop / s:8.1f} {row['of_peak'][impl]:8.1%} "
                  f"{fmt_mb(mem and mem['peak_mb']):>10} {cpu}")
    print()
    for row in rows:
        b = row["batch_size"]
        f = row["flops"]["ours"]
        cpu = row["cpu"]
        for name in row["contenders"]:
            if precision_of(name) != "float32":
                rr = [t / o for o, t in zip(row["times"][name], row["times"][impl_of(name)])]
                print(f"batch {b}: {label(name)} over {label(impl_of(name))} in steps/s: "
                      f"{statistics.median(rr):.2f}x (median of per-round ratios, range {min(rr):.2f}-{max(rr):.2f})")
        for impl in row["contenders"]:
            if impl == "tutorial":
                continue
            rr = row["round_ratios"][impl]
            print(f"batch {b}: {label(impl)}/tutorial in steps/s: {statistics.median(rr):.2f}x "
                  f"(median of per-round ratios, range {min(rr):.2f}-{max(rr):.2f}), "
                  f"{row['median']['tutorial'] / row['median'][impl]:.2f}x (ratio of medians)"
                  + (f", {cpu['tutorial'] / cpu[impl]:.2f}x in CPU seconds/step" if impl in cpu else ""))
        print(f"batch {b}: fastest round: "
              + ", ".join(f"{label(impl)} {min(row['times'][impl]):.3f} s/step"
                          for impl in row["contenders"])
              + f"; matmul {statistics.median(row['matmul']) / 1e9:.0f} GFLOP/s (median), "
              f"{max(row['matmul']) / 1e9:.0f} (best)")
        if row["others"] is not None:
            print(f"batch {b}: other processes kept {row['others']:.1f} of {os.cpu_count()} cores busy "
                  f"on average during these rounds")
        print(f"batch {b}: per-round s/step "
              + "; ".join(f"{label(impl)} " + " ".join(f"{t:.3f}" for t in row["times"][impl])
                          for impl in row["contenders"]))
        line = (f"batch {b}: FLOPs of our step: {gf(f['conv'])} in convolutions (exact, counted on the "
                f"graph after dead-branch pruning) + {gf(f['other'])} element-wise/reductions")
        if "tfprof" in f:
            line += f"; tf.compat.v1.profiler float_operation() on the unpruned graph says {gf(f['tfprof'])}"
        print(line)
        t = row["flops"]["tutorial"]
        print(f"batch {b}: tutorial step {gf(t['conv'])} conv + {gf(t['other'])} other; "
              f"live graph ops: ours {f['graph_ops']}, tutorial {t['graph_ops']}")
    base = [m["baseline_mb"] for m in memory.values() if m]
    if base:
        print(f"peak RSS: each step alone in a fresh process (3 steps); TF + imports alone: {fmt_mb(max(base))}")
    for row in rows:
        profile = row["profile"]
        if profile:
            print(f"\nprofile at batch {row['batch_size']}:", end="")
            for name in profile:
                print_profile(name, profile[name], row["flops"][name], args.profile_top)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch_sizes", default="1,4", help="comma-separated (default 1,4)")
    parser.add_argument("--rounds", type=int, default=8, help="interleaved rounds per batch size")
    parser.add_argument("--steps_per_round", type=int, default=3)
    parser.add_argument("--warmup_steps", type=int, default=2, help="untimed steps after tracing")
    parser.add_argument("--size", type=int, default=256, help="image size (crop_size), power of two >= 32")
    parser.add_argument("--ngf", type=int, default=64)
    parser.add_argument("--ndf", type=int, default=None, help="default: --ngf")
    parser.add_argument("--matmul_n", type=int, default=4096, help="size of the peak-FLOP/s matmul")
    parser.add_argument("--no_memory", action="store_true", help="skip the peak-RSS subprocesses")
    parser.add_argument("--memory_impls", type=lambda text: text.split(","), default=None,
                        help="comma-separated: probe the peak RSS of these only (ours, tutorial; default both)")
    parser.add_argument("--no_tfprof", action="store_true", help="skip tf.compat.v1.profiler's count")
    parser.add_argument("--no_cli", action="store_true",
                        help="do not time `python -m pix2pix --mode train` on generated JPEGs alongside")
    parser.add_argument("--pipeline_images", type=int, default=20, help="generated A|B images for the CLI")
    parser.add_argument("--profile_steps", type=int, default=0,
                        help="trace N steps of each implementation with tf.profiler (first batch size)")
    parser.add_argument("--profile_top", type=int, default=25, help="op types to list")
    parser.add_argument("--update_orders", action="store_true",
                        help="instead: time our step with --update_order simultaneous and sequential "
                             "side by side (interleaved rounds) and print their ratio")
    parser.add_argument("--precisions", default=default_precisions(),
                        help="comma-separated --mixed_precision values to time ours and the CLI in "
                             "(default: float32, and bfloat16 where the CPU computes it natively)")
    parser.add_argument("--_memory_probe", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.precisions = [p.strip() for p in args.precisions.split(",") if p.strip()]
    if args.ndf is None:
        args.ndf = args.ngf
    if args._memory_probe:
        memory_probe(args._memory_probe, args.size, args.ngf, args.ndf,
                     int(args.batch_sizes.split(",")[0]))
        return
    if args.update_orders:
        compare_update_orders(args)
        return
    run(args)


if __name__ == "__main__":
    main()
