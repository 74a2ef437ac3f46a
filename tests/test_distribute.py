"""tf.distribute on CPU: MirroredStrategy on two logical devices, MultiWorkerMirroredStrategy on two processes."""

import json
import os
import socket

import numpy as np

from helpers import TINY, cli_env, run_cli, saved_step, start_cli


def test_mirrored_step_on_two_replicas_matches_two_batch_one_passes_by_hand(mirrored_checks):
    """One mirrored step on 2 logical CPUs (batch 2) against the same data as two batch-1 passes by
    hand (tests/scripts/mirrored_checks.py's simultaneous check: its measured numbers)."""
    check = mirrored_checks["simultaneous"]
    assert "error" not in check, check.get("error")
    np.testing.assert_allclose(check["losses"], check["losses_by_hand"], rtol=1e-5, atol=1e-6)
    # The first replica's gradients (of its loss divided by the replica count), relative to each
    # gradient's scale (absolute for the biases that feed a batch norm, zero in exact arithmetic).
    assert check["gradient_difference"] < 1e-4, check
    # The update used both replicas' gradients summed: after one step Adam's first moment is
    # (1 - beta1) times the gradient it was given, so the two models' moments must agree.
    assert check["moments"] == check["trainable_variables"], check
    assert check["moment_difference"] < 1e-4, check
    assert check["weights_differing"] < 1e-2, check  # a gradient within rounding of 0 may step either way
    assert check["global_step"] == 1


def _free_ports(n):
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("localhost", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def test_multiworker_training_on_two_local_processes(tmp_path, ab_dir):
    out = tmp_path / "train"
    workers = [f"localhost:{p}" for p in _free_ports(2)]
    args = ["--mode", "train", "--strategy", "multiworker", "--input_dir", ab_dir, "--output_dir", out,
            "--batch_size", "2", "--max_steps", "3", "--summary_freq", "0", "--progress_freq", "1", "--seed", "2",
            *TINY]
    # Two processes by design, each forked from the CLI fork server (helpers.start_cli): the server never
    # starts TensorFlow's runtime, so each worker still builds its own cluster from TF_CONFIG.
    procs = []
    for index in range(2):
        config = json.dumps({"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}})
        procs.append(start_cli(*args, env=cli_env(TF_CONFIG=config)))
    outputs = [p.communicate(timeout=600) for p in procs]
    for proc, (stdout, stderr) in zip(procs, outputs):
        assert proc.returncode == 0, stdout + stderr
        assert "replicas = 2 (multiworker), 1 images each" in stdout
    assert saved_step(out) == 3
    assert json.loads((out / "options.json").read_text())["strategy"] == "multiworker"
    assert not any(name.startswith(".worker") for name in os.listdir(out))  # scratch removed


def test_mirrored_flag_trains_on_the_local_devices(tmp_path, ab_dir):
    out = tmp_path / "train"
    result = run_cli("--mode", "train", "--strategy", "mirrored", "--input_dir", ab_dir, "--output_dir", out,
                     "--max_steps", 2, "--batch_size", 2, *TINY)
    assert "replicas = 1 (mirrored)" in result.stdout  # one CPU device here; all GPUs on a GPU machine
    assert saved_step(out) == 2
