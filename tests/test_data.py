"""The tf.data pipeline: file listing and order, directions, identical jitter, Lab and grey->RGB modes."""


import numpy as np
import pytest

from helpers import smooth_photo, write_image
from pix2pix import Options, Pix2PixError, paired_dataset, rgb_to_lab
from pix2pix.io.listing import list_image_files


def _options(input_dir, **kw):
    base = dict(mode="train", input_dir=str(input_dir), output_dir="unused", crop_size=32,
                scale_size=40, batch_size=1)
    base.update(kw)
    return Options(**base)


def _first(examples, n=1):
    return [{k: v.numpy() for k, v in b.items()} for b in examples.dataset.take(n)]


def test_numeric_names_sort_by_value_others_by_name(tmp_path):
    image = np.zeros((4, 8, 3), np.uint8)
    for name in ("10", "2", "1", "33"):
        write_image(tmp_path / f"{name}.png", image)
    assert [p.split("/")[-1] for p in list_image_files(str(tmp_path))] == ["1.png", "2.png", "10.png", "33.png"]
    write_image(tmp_path / "b.png", image)
    names = [p.split("/")[-1] for p in list_image_files(str(tmp_path))]
    assert names == ["1.png", "10.png", "2.png", "33.png", "b.png"]


def test_every_image_file_is_taken_and_jpg_wins_over_png_of_the_same_name(tmp_path, capsys):
    write_image(tmp_path / "a.png", np.zeros((4, 8, 3), np.uint8))
    write_image(tmp_path / "b.jpg", np.zeros((4, 8, 3), np.uint8))
    assert [p.split("/")[-1] for p in list_image_files(str(tmp_path))] == ["a.png", "b.jpg"]
    write_image(tmp_path / "a.jpg", np.zeros((4, 8, 3), np.uint8))  # the reference took *.jpg before *.png
    assert [p.split("/")[-1] for p in list_image_files(str(tmp_path))] == ["a.jpg", "b.jpg"]
    assert f"{tmp_path / 'a.png'}: same base name as a.jpg, which is used instead" in capsys.readouterr().err


def test_missing_and_empty_input_dirs_are_clear_errors(tmp_path):
    with pytest.raises(Pix2PixError, match="does not exist"):
        list_image_files(str(tmp_path / "nope"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(Pix2PixError, match=r"no images \(.jpg .jpeg .png .bmp .webp .tif .tiff .gif, any case\)"):
        list_image_files(str(tmp_path / "empty"))


@pytest.mark.parametrize("direction", ["AtoB", "BtoA"])
def test_direction_picks_the_half(tmp_path, direction):
    red, blue = np.zeros((32, 32, 3), np.uint8), np.zeros((32, 32, 3), np.uint8)
    red[..., 0], blue[..., 2] = 255, 255
    write_image(tmp_path / "1.png", np.concatenate([red, blue], axis=1))
    batch = _first(paired_dataset(_options(tmp_path, which_direction=direction), training=False))[0]
    a_mean = batch["inputs"][0].mean(axis=(0, 1))
    b_mean = batch["targets"][0].mean(axis=(0, 1))
    if direction == "AtoB":
        np.testing.assert_allclose(a_mean, [1, -1, -1])
        np.testing.assert_allclose(b_mean, [-1, -1, 1])
    else:
        np.testing.assert_allclose(a_mean, [-1, -1, 1])
        np.testing.assert_allclose(b_mean, [1, -1, -1])


def test_jitter_is_identical_for_inputs_and_targets(tmp_path):
    rng = np.random.default_rng(0)
    for i in range(3):
        noise = rng.integers(0, 256, (50, 50, 3), dtype=np.uint8)  # any offset mismatch shows
        write_image(tmp_path / f"{i}.png", np.concatenate([noise, noise], axis=1))
    examples = paired_dataset(_options(tmp_path, scale_size=48), training=True, seed=7)
    batches = _first(examples, 12)
    for batch in batches:
        np.testing.assert_array_equal(batch["inputs"], batch["targets"])
        assert batch["inputs"].shape == (1, 32, 32, 3)
    # The crops really move and flip: not every example of one file is the same.
    crops = {b["paths"][0]: set() for b in batches}
    for b in batches:
        crops[b["paths"][0]].add(b["inputs"].tobytes())
    assert any(len(v) > 1 for v in crops.values())


def test_same_seed_same_stream_and_start_skips(tmp_path, ab_dir):
    opts = _options(ab_dir)
    one = _first(paired_dataset(opts, training=True, seed=3), 6)
    two = _first(paired_dataset(opts, training=True, seed=3), 6)
    for x, y in zip(one, two):
        np.testing.assert_array_equal(x["inputs"], y["inputs"])
    resumed = _first(paired_dataset(opts, training=True, seed=3, start=4), 2)
    np.testing.assert_array_equal(resumed[0]["inputs"], one[4]["inputs"])
    np.testing.assert_array_equal(resumed[1]["targets"], one[5]["targets"])
    other = _first(paired_dataset(opts, training=True, seed=4), 6)
    assert any(not np.array_equal(x["inputs"], y["inputs"]) for x, y in zip(one, other))


def test_lab_colorization_gives_l_in_and_ab_out(tmp_path):
    rgb = smooth_photo(np.random.default_rng(2), 32, 32)
    write_image(tmp_path / "x.png", rgb)
    batch = _first(paired_dataset(_options(tmp_path, lab_colorization=True).validate(), training=False))[0]
    assert batch["inputs"].shape == (1, 32, 32, 1) and batch["targets"].shape == (1, 32, 32, 2)
    lab = rgb_to_lab(rgb.astype(np.float32) / 255).numpy()
    np.testing.assert_allclose(batch["inputs"][0, ..., 0], lab[..., 0] / 50 - 1, atol=1e-4)
    np.testing.assert_allclose(batch["targets"][0], lab[..., 1:] / 110, atol=1e-4)


def test_rgb_colorization_gives_luma_in_and_rgb_out(tmp_path):
    write_image(tmp_path / "x.jpg", smooth_photo(np.random.default_rng(3), 40, 48))
    batch = _first(paired_dataset(_options(tmp_path, rgb_colorization=True).validate(), training=True, seed=1))[0]
    assert batch["inputs"].shape == (1, 32, 32, 1) and batch["targets"].shape == (1, 32, 32, 3)
    rgb01 = (batch["targets"][0] + 1) / 2
    luma = rgb01 @ np.array([0.2989, 0.5870, 0.1140])
    np.testing.assert_allclose((batch["inputs"][0, ..., 0] + 1) / 2, luma, atol=2e-3)


def test_grey_and_rgba_files_become_rgb(tmp_path):
    write_image(tmp_path / "1.png", np.full((16, 32), 128, np.uint8))
    rgba = np.zeros((16, 32, 4), np.uint8)
    rgba[..., 1], rgba[..., 3] = 200, 10
    write_image(tmp_path / "2.png", rgba)
    batches = _first(paired_dataset(_options(tmp_path, batch_size=2), training=False))
    assert batches[0]["inputs"].shape == (2, 32, 32, 3)
    np.testing.assert_allclose(batches[0]["inputs"][1].mean(axis=(0, 1)), [-1, 200 / 127.5 - 1, -1], atol=1e-5)


def test_test_mode_keeps_order_and_a_short_last_batch(ab_dir):
    examples = paired_dataset(_options(ab_dir, mode="test", batch_size=2), training=False)
    batches = _first(examples, 10)
    assert [len(b["paths"]) for b in batches] == [2, 2, 1]
    names = [p.decode().split("/")[-1] for b in batches for p in b["paths"]]
    assert names == ["1.png", "2.png", "3.png", "4.png", "5.png"]
    assert examples.steps_per_epoch == 3


def test_bad_image_files_are_reported_by_name(ab_dir):
    (ab_dir / "6.png").write_text("this is not a picture")
    (ab_dir / "7.png").write_bytes(b"")
    write_image(ab_dir / "8.png", np.zeros((1, 1, 3), np.uint8))
    with pytest.raises(Pix2PixError) as err:
        paired_dataset(_options(ab_dir), training=True)
    message = str(err.value)
    assert "6.png" in message and "7.png" in message and "8.png" in message
    assert "1.png" not in message and "3 of 8" in message


def test_16_bit_png_values_decode_to_8_bit_in_both_decoders(tmp_path):
    """A 16-bit PNG sample v is v / 257 in 8 bits: 65535 -> 255 and 257 * k -> k, whether read by
    pix2pix.io.images (infer, serve, data_prep) or by the training pipeline's decoder."""
    import cv2
    import tensorflow as tf

    from pix2pix.data.imaging import decode_rgb
    from pix2pix.io.images import decode_image

    levels = np.arange(256, dtype=np.uint16) * 257  # 0, 257, ..., 65535
    image = np.stack([levels.reshape(16, 16)] * 3, axis=-1)
    image[0, 0] = (65535, 0, 257)
    path = tmp_path / "deep.png"
    assert cv2.imwrite(str(path), image) and cv2.imread(str(path), cv2.IMREAD_UNCHANGED).dtype == np.uint16
    expected = (image // 257).astype(np.uint8)[:, :, ::-1]  # OpenCV wrote BGR: the file holds RGB reversed
    data = path.read_bytes()
    assert np.array_equal(decode_image(data), expected)
    decoded = decode_rgb(tf.constant(data)).numpy()  # float32 in [0, 1]
    assert np.array_equal(np.rint(decoded * 255).astype(np.uint8), expected)
    assert tuple(decode_image(data)[0, 0]) == (1, 0, 255)
