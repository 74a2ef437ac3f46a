"""The model zoo (the paper's and its peers' models): generators, discriminators, GAN
losses, norms, LR policies, unconditional D — in process where maths is checked, through the
CLI for one train -> resume -> test -> export chain per network."""

import json
import math
import shutil

import numpy as np
import pytest
import tensorflow as tf

from helpers import TINY, run_cli, run_mode, start_cli
from pix2pix import Options, Pix2Pix, Pix2PixError, count_trainable_parameters
from pix2pix.models.discriminators import DISCRIMINATORS
from pix2pix.models.generators import GENERATORS
from pix2pix.models.losses import GAN_LOSSES
from pix2pix.models.networks import can_stack, define_discriminator, define_generator, discriminate_real_and_fake
from pix2pix.models.norms import NORMS
from pix2pix.models.schedules import learning_rate
from pix2pix.modes.preparation import validate
from pix2pix.modes.import_base import prepare_import_options


def _options(**kw):
    base = dict(mode="train", output_dir="unused", crop_size=32, scale_size=32, ngf=8, ndf=8, seed=1)
    base.update(kw)
    return Options(**base)


# --------------------------------------------------------------------------- CLI chains
# The CLI chains come first: this is the suite's last module, so its longest tests start early and its
# short maths checks fill the end (with the chains last, one of 2 test workers sat idle for half a minute).
CHAINS = {
    "encoder_decoder+pixel+lsgan+unconditional": ["--netG", "encoder_decoder", "--netD", "pixel",
                                                   "--gan_mode", "lsgan", "--nocondition_GAN"],
    "resnet_6blocks+n_layers2+wgangp+instance+linear": ["--netG", "resnet_6blocks", "--netD", "n_layers",
                                                        "--n_layers_D", "2", "--gan_mode", "wgangp",
                                                        "--norm", "instance", "--lr_policy", "linear"],
    "resnet_9blocks+n_layers1+none+no_dropout+cosine": ["--netG", "resnet_9blocks", "--netD", "n_layers",
                                                        "--n_layers_D", "1", "--norm", "none",
                                                        "--no_dropout", "--lr_policy", "cosine"],
}


# This chain runs test, export and infer through the command line too. The others train and resume
# through it (their zoo flags on the command line, then read back from the checkpoint) and run the
# three modes that follow in process, as the command line runs a mode once its flags are parsed
# (helpers.run_mode): each forked run costs a TensorFlow start of its own.
CLI_END_TO_END = "resnet_6blocks+n_layers2+wgangp+instance+linear"


def _run_mode(through_cli, **flags):
    """The mode FLAGS give (--name value each), through the command line or in process."""
    if through_cli:
        run_cli(*(item for name, value in flags.items() for item in (f"--{name}", value)))
    else:
        run_mode(**flags)


@pytest.mark.parametrize("name", list(CHAINS))
def test_cli_chain_train_resume_test_export(tmp_path, ab_dir, name):
    flags = CHAINS[name]
    out = tmp_path / "train"
    result = run_cli("--mode", "train", "--input_dir", ab_dir, "--output_dir", out, "--max_steps", 2,
                     "--progress_freq", 1, "--summary_freq", 2, *TINY, *flags)
    stored = json.loads((out / "options.json").read_text())
    assert stored["netG"] == flags[1] and stored["netD"] == flags[3]
    if "--lr_policy" in flags:
        assert " lr " in result.stdout  # the current rate in progress lines
    resumed = run_cli("--mode", "train", "--input_dir", ab_dir, "--output_dir", out, "--checkpoint", out,
                      "--max_steps", 3, "--progress_freq", 1)  # the zoo options come from the checkpoint
    assert "at step 2" in resumed.stdout
    header = (out / "losses.csv").read_text().splitlines()[0]
    assert header.startswith("step,discrim_loss,gen_loss_GAN,gen_loss_L1")
    assert ("discrim_loss_GP" in header) == ("wgangp" in flags)
    if "wgangp" in flags:
        assert "discrim_loss_GP" in resumed.stdout

    through_cli = name == CLI_END_TO_END
    _run_mode(through_cli, mode="test", input_dir=ab_dir, output_dir=tmp_path / "test", checkpoint=out)
    assert (tmp_path / "test" / "images" / "1-outputs.png").is_file()
    export = tmp_path / "export"
    _run_mode(through_cli, mode="export", checkpoint=out, output_dir=export)
    assert json.loads((export / "assets" / "options.json").read_text())["netG"] == flags[1]
    photos = tmp_path / "photos"
    photos.mkdir()
    (photos / "a.png").write_bytes((ab_dir / "1.png").read_bytes())
    _run_mode(through_cli, mode="infer", checkpoint=export, input_dir=photos, output_dir=tmp_path / "inf")
    assert (tmp_path / "inf" / "a.png").is_file()


# ------------------------------------------------------------------------ parameter counts
@pytest.mark.parametrize("netG, norm, expected", [
    ("unet", "batch", 54_420_483),             # the reference
    ("unet", "instance", 54_409_603),          # no learned norm parameters, biases kept
    ("encoder_decoder", "batch", 39_080_963),  # the paper's ablation
    ("resnet_9blocks", "instance", 11_378_179),  # the PyTorch repo's counts
    ("resnet_6blocks", "instance", 7_837_699),
])
def test_generator_parameter_counts_at_ngf_64(netG, norm, expected):
    options = Options(output_dir="x", netG=netG, norm=norm)
    assert count_trainable_parameters(define_generator(options)) == expected


def test_discriminator_parameter_counts_at_ndf_64():
    assert count_trainable_parameters(define_discriminator(Options(output_dir="x"))) == 2_769_601
    assert count_trainable_parameters(define_discriminator(Options(output_dir="x", norm="instance"))) == 2_767_809


def test_cli_prints_the_pytorch_repos_count_for_resnet_9blocks_with_instance_norm(tmp_path, ab_dir):
    # The run prints the count before its first step; it is stopped there: a step and a save of
    # 14 M parameters (and their Adam slots) would tell nothing more.
    process = start_cli("--mode", "train", "--input_dir", ab_dir, "--output_dir", tmp_path / "t",
                        "--netG", "resnet_9blocks", "--norm", "instance", "--max_steps", 1,
                        "--crop_size", 32, "--scale_size", 32)
    try:
        printed = next((line for line in process.stdout if line.startswith("parameter_count")), None)
    finally:
        process.kill()
        _, errors = process.communicate(timeout=60)
    assert printed == "parameter_count = 14145988\n", errors  # 11,378,179 + 2,767,809


# ---------------------------------------------------------------------- discriminator maps
@pytest.mark.parametrize("netD, n_layers, side", [
    ("pixel", None, 256), ("n_layers", 1, 126), ("basic", None, 30), ("n_layers", 5, 6)])
def test_discriminator_output_maps_at_256(netD, n_layers, side):
    options = Options(output_dir="x", ndf=4, crop_size=256, netD=netD, n_layers_D=n_layers)
    d = define_discriminator(options)
    x = tf.zeros([1, 256, 256, 3])
    assert d([x, x]).shape == (1, side, side, 1)


def test_unconditional_discriminator_takes_only_the_target_channels():
    options = _options(task="lab", condition_GAN=False)  # L in, ab (2 channels) out
    d = define_discriminator(options)
    assert len(d.inputs) == 1 and d.inputs[0].shape[-1] == 2
    assert d(tf.zeros([1, 32, 32, 2])).shape == (1, 2, 2, 1)
    conditional = define_discriminator(_options(task="lab"))
    assert [i.shape[-1] for i in conditional.inputs] == [1, 2]


@pytest.mark.parametrize("netD", DISCRIMINATORS.names())
@pytest.mark.parametrize("norm", NORMS.names())
@pytest.mark.parametrize("conditional", [True, False])
def test_stacked_real_and_fake_pass_equals_two_calls_for_every_discriminator(netD, norm, conditional):
    """The batch-1 speed path: never mixing real and fake statistics, for every registered D."""
    tf.keras.utils.set_random_seed(3)
    d = define_discriminator(_options(netD=netD, norm=norm, condition_GAN=conditional, ndf=4))
    assert can_stack(d)
    rng = np.random.default_rng(1)
    inputs, targets, outputs = (tf.constant(rng.uniform(-1, 1, (1, 32, 32, 3)).astype(np.float32))
                                for _ in range(3))

    def call(images):
        return d([inputs, images]) if conditional else d(images)

    def predictions_and_gradients():
        with tf.GradientTape(persistent=True) as tape:
            tape.watch(outputs)
            pairs = (discriminate_real_and_fake(d, inputs, targets, outputs), (call(targets), call(outputs)))
            losses = {"both": [tf.reduce_sum(r * 1.7) - 3.0 * tf.reduce_sum(f * f) for r, f in pairs],
                      # A loss of one half alone (G's is of the fake half): the other half's gradient is skipped.
                      "fake only": [tf.reduce_sum(tf.sin(3.0 * f)) for _, f in pairs],
                      "real only": [tf.reduce_sum(tf.sin(2.0 * r)) for r, _ in pairs]}
        return pairs, {name: [tape.gradient(loss, [outputs, *d.trainable_variables]) for loss in pair]
                       for name, pair in losses.items()}

    # Conditional: in a graph, as the step runs it (Grappler's rewrites included); the
    # unconditional ones (the same layers after the input) eagerly, which is cheaper.
    (stacked, separate), gradients = (tf.function(predictions_and_gradients) if conditional
                                      else predictions_and_gradients)()
    for a, b in zip(stacked, separate):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)
    for grads in gradients.values():
        scale = max(float(np.abs(g).max()) for g in grads[1] if g is not None)
        for a, b in zip(*grads):
            if b is None:  # the outputs' gradient of a loss of the real half
                assert a is None or not np.any(a)
                continue
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5 * scale)


# ------------------------------------------------------------------------------ generators
def test_encoder_decoder_has_no_skips_and_its_output_depends_on_its_input():
    tf.keras.utils.set_random_seed(0)
    g = define_generator(_options(netG="encoder_decoder", no_dropout=True))
    assert not [layer for layer in g.layers if "concat" in layer.name]
    a, b = (tf.random.uniform([1, 32, 32, 3], -1, 1, seed=s) for s in (1, 2))
    assert float(tf.reduce_max(tf.abs(g(a) - g(b)))) > 1e-3


@pytest.mark.parametrize("netG", GENERATORS.names())
def test_every_generator_keeps_the_size_and_range_and_states_its_multiple(netG):
    """Sides that are odd multiples of the multiple it states (and of no larger power of two) come
    out the same size, in tanh's range; each picture of a batch is its own image's and not flat."""
    options = _options(netG=netG)
    multiple = GENERATORS.get(netG).side_multiple(options)
    assert multiple == (32 if netG in ("unet", "encoder_decoder", "unet_pytorch") else 4)
    tf.keras.utils.set_random_seed(1)
    g = define_generator(options)
    x = tf.random.uniform([2, 3 * multiple, 5 * multiple, 3], -1, 1, seed=1)
    y = g(x, training=True)
    assert y.shape == x.shape and float(tf.reduce_max(tf.abs(y))) <= 1.0
    assert float(tf.reduce_max(tf.abs(y[0] - y[1]))) > 1e-3  # the output depends on its input
    assert min(float(tf.math.reduce_std(picture)) for picture in y) > 1e-3  # not one colour


def test_no_dropout_removes_the_dropout_layers():
    for netG in ("unet", "encoder_decoder", "resnet_9blocks", "resnet_6blocks"):  # not docs' examples
        with_dropout = define_generator(_options(netG=netG))
        without = define_generator(_options(netG=netG, no_dropout=True))
        assert any("dropout" in layer.name for layer in with_dropout.layers)
        assert not any("dropout" in layer.name for layer in without.layers)
        x = tf.random.uniform([1, 32, 32, 3], -1, 1, seed=2)
        np.testing.assert_array_equal(without(x, training=True), without(x, training=True))


def test_instance_norm_normalises_each_example_and_channel_on_its_own():
    from pix2pix.models.norms import InstanceNorm
    x = tf.random.normal([3, 5, 7, 4], mean=4.0, stddev=2.0, seed=1)
    layer = InstanceNorm()
    y = layer(x).numpy()
    np.testing.assert_allclose(y.mean(axis=(1, 2)), 0, atol=1e-5)
    np.testing.assert_allclose(y.var(axis=(1, 2)), 1, rtol=1e-3)
    assert layer.weights == []


# ------------------------------------------------------------------------------ GAN losses
def test_lsgan_losses_are_the_least_squares_formulas():
    gan = GAN_LOSSES.get("lsgan")()
    real, fake = tf.constant([[0.5, 2.0]]), tf.constant([[-1.0, 0.25]])
    # D: 0.5 (mean((r - 1)^2) + mean(f^2)); G: mean((f - 1)^2)
    assert np.isclose(float(gan.discriminator_loss(real, fake)), 0.5 * ((0.25 + 1.0) / 2 + (1.0 + 0.0625) / 2))
    assert np.isclose(float(gan.generator_loss(fake)), (4.0 + 0.5625) / 2)
    assert not gan.SIGMOID


def test_wgangp_losses_and_penalty_against_hand_computed_values():
    gan = GAN_LOSSES.get("wgangp")()
    real, fake = tf.constant([[1.0, 3.0]]), tf.constant([[0.5, -0.5]])
    assert np.isclose(float(gan.discriminator_loss(real, fake)), -2.0 + 0.0)
    assert np.isclose(float(gan.generator_loss(fake)), 0.0)
    # A critic D(x, y) = sum(w * y) has gradient w everywhere: penalty 10 (||w|| - 1)^2.
    w = tf.constant(np.full([1, 4, 4, 2], 0.5, np.float32))  # ||w|| = sqrt(32 * 0.25) = 2.83
    terms = gan.extra_terms(lambda x, y: tf.reduce_sum(w * y, axis=[1, 2, 3], keepdims=True),
                            None, tf.ones([3, 4, 4, 2]), tf.zeros([3, 4, 4, 2]))
    assert list(terms) == ["discrim_loss_GP"]
    assert np.isclose(float(terms["discrim_loss_GP"]), 10 * (math.sqrt(8.0) - 1) ** 2, rtol=1e-5)


@pytest.mark.parametrize("gan_mode", GAN_LOSSES.names())
def test_every_gan_mode_trains_and_reports_its_loss_names(gan_mode):
    tf.keras.utils.set_random_seed(0)
    model = Pix2Pix(_options(gan_mode=gan_mode))
    x = tf.random.uniform([2, 32, 32, 3], -1, 1, seed=1)
    result = model.train_step(x, -x)
    expected = ["discrim_loss", "gen_loss_GAN", "gen_loss_L1"] + (["discrim_loss_GP"] if gan_mode == "wgangp" else [])
    assert list(model.loss_names) == expected
    assert all(np.isfinite(float(result[name])) for name in expected)
    assert bool(result["applied"]) and int(model.global_step.numpy()) == 1
    assert set(model.loss_averages.read()) == set(expected)
    last = model.discriminator.layers[-1]
    assert (last.activation.__name__ == "sigmoid") == (gan_mode == "vanilla")


# --------------------------------------------------------------------------- LR policies
@pytest.mark.parametrize("policy, step, expected", [
    ("constant", 900, 1.0),
    ("linear", 0, 1.0), ("linear", 600, 1.0), ("linear", 800, 0.5), ("linear", 999, 1 / 400),
    ("step", 0, 1.0), ("step", 249, 1.0), ("step", 250, 0.1), ("step", 999, 0.001),
    ("cosine", 0, 1.0), ("cosine", 500, 0.5), ("cosine", 1000, 0.0),
])
def test_learning_rate_policies_at_chosen_steps(policy, step, expected):
    # T = 1000 steps of 10 per epoch; linear decays over the last 40 epochs = 400 steps.
    options = _options(lr=1.0, lr_policy=policy, max_steps=1000, n_epochs_decay=40,
                       lr_decay_iters=250 if policy == "step" else None)
    assert np.isclose(learning_rate(options, step, 1000, 10), expected)


def test_linear_decay_is_capped_at_the_runs_length():
    options = _options(lr=1.0, lr_policy="linear", max_steps=100)  # 100 epochs of decay > the run
    assert np.isclose(learning_rate(options, 0, 100, 10), 1.0)
    assert np.isclose(learning_rate(options, 50, 100, 10), 0.5)


def test_both_optimisers_follow_the_schedule():
    model = Pix2Pix(_options(lr=0.001, lr_policy="step", lr_decay_iters=2, max_steps=6))
    model.follow_schedule(6, 3)
    x = tf.random.uniform([1, 32, 32, 3], -1, 1, seed=1)
    rates = []
    for _ in range(5):
        model.train_step(x, x)
        rates.append([float(o.learning_rate) for o in (model.generator_optimizer, model.discriminator_optimizer)])
    expected = [0.001, 0.001, 0.0001, 0.0001, 0.00001]
    np.testing.assert_allclose(rates, [[r, r] for r in expected], rtol=1e-5)


# ------------------------------------------------------------------------- bad combinations
@pytest.mark.parametrize("kw, flag", [
    (dict(n_layers_D=4), "--n_layers_D"),                          # basic has no layers option
    (dict(netD="pixel", n_layers_D=2), "--n_layers_D"),
    (dict(netD="n_layers", n_layers_D=5, crop_size=64, scale_size=64), "--crop_size"),
    (dict(netD="n_layers", n_layers_D=4, crop_size=32), "--crop_size"),
    (dict(gan_mode="wgangp", gan_weight=0.0), "--gan_weight"),
    (dict(netG="unet_512"), "--netG"), (dict(netD="huge"), "--netD"), (dict(norm="group"), "--norm"),
    (dict(gan_mode="hinge"), "--gan_mode"), (dict(lr_policy="plateau"), "--lr_policy"),
    (dict(lr_policy="linear"), "--lr_policy"),                     # needs the run's length
    (dict(lr_policy="step", max_steps=10), "--lr_decay_iters"),
    (dict(lr_decay_iters=10), "--lr_decay_iters"),
])
def test_bad_combinations_are_refused_naming_the_flag(kw, flag):
    """The whole validation a mode runs: the record's own checks, then each registry's."""
    with pytest.raises(Pix2PixError, match=f"^{flag}"):
        validate(_options(**kw))


def test_import_refuses_anything_but_the_reference_model(tmp_path):
    for kw, flag in ((dict(netG="resnet_9blocks"), "--netG"), (dict(gan_mode="lsgan"), "--gan_mode"),
                     (dict(condition_GAN=False), "--condition_GAN"), (dict(norm="instance"), "--norm")):
        with pytest.raises(Pix2PixError, match=f"^{flag}: the TF1 reference only trained"):
            prepare_import_options(Options(mode="import", checkpoint=str(tmp_path),
                                           output_dir=str(tmp_path / "out"), **kw))


def test_resume_fixes_the_model_options_but_may_change_the_schedule(tmp_path, ab_dir, trained_pairs):
    out = tmp_path / "train"
    shutil.copytree(trained_pairs, out)  # the test run's shared 2-step run (--netD basic), copied: resumed here
    refused = run_cli("--mode", "train", "--input_dir", ab_dir, "--output_dir", out, "--checkpoint", out,
                      "--max_steps", 3, "--netD", "pixel", check=False)
    assert refused.returncode == 2 and "--netD" in refused.stderr and "Traceback" not in refused.stderr
    changed = run_cli("--mode", "train", "--input_dir", ab_dir, "--output_dir", out, "--checkpoint", out,
                      "--max_steps", 3, "--lr_policy", "cosine")
    assert "different learning-rate schedule (lr_policy constant -> cosine)" in changed.stdout
    assert json.loads((out / "options.json").read_text())["lr_policy"] == "cosine"
