"""sRGB <-> Lab: round trip, agreement with an independent conversion, network scaling."""

import numpy as np
import pytest
import tensorflow as tf
from skimage import color as skcolor

from pix2pix import lab_to_rgb, rgb_to_lab
from pix2pix.data.color import lab_to_network, network_to_lab


def _rgb_grid(steps=17):
    values = np.linspace(0, 1, steps, dtype=np.float32)
    return np.stack(np.meshgrid(values, values, values, indexing="ij"), -1).reshape(-1, 1, 3)


def test_round_trip_is_within_1e_3():
    rgb = _rgb_grid()
    back = lab_to_rgb(rgb_to_lab(rgb)).numpy()
    assert np.max(np.abs(back - rgb)) < 1e-3


def test_agrees_with_scikit_image():
    rgb = _rgb_grid(9)
    ours = rgb_to_lab(rgb).numpy()
    theirs = skcolor.rgb2lab(rgb.astype(np.float64), illuminant="D65")
    # Same formulas; the reference's matrix and white point differ from scikit-image's
    # in the 4th-6th decimal, so the two agree to a small fraction of a Lab unit.
    assert np.max(np.abs(ours - theirs)) < 0.3


def test_known_values():
    lab = rgb_to_lab(np.array([[1.0, 1.0, 1.0], [0.0, 0.0, 0.0], [1.0, 0.0, 0.0]], np.float32)).numpy()
    np.testing.assert_allclose(lab[0], [100.0, 0.0, 0.0], atol=0.01)
    np.testing.assert_allclose(lab[1], [0.0, 0.0, 0.0], atol=0.01)
    np.testing.assert_allclose(lab[2], [53.24, 80.09, 67.20], atol=0.05)


def test_batched_images_keep_their_shape():
    rgb = tf.random.uniform([2, 5, 7, 3], seed=1)
    assert rgb_to_lab(rgb).shape == (2, 5, 7, 3)
    assert lab_to_rgb(rgb_to_lab(rgb)).shape == (2, 5, 7, 3)


@pytest.mark.parametrize("lab", [[50.0, 20.0, -30.0], [0.0, 0.0, 0.0], [100.0, -110.0, 110.0]])
def test_network_scaling_is_l_over_50_minus_1_and_ab_over_110(lab):
    l, ab = lab_to_network(tf.constant([lab]))
    np.testing.assert_allclose(l.numpy(), [[lab[0] / 50 - 1]], atol=1e-6)
    np.testing.assert_allclose(ab.numpy(), [[lab[1] / 110, lab[2] / 110]], atol=1e-6)
    np.testing.assert_allclose(network_to_lab(l, ab).numpy(), [lab], atol=1e-4)
