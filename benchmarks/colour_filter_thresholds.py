"""The figures behind filter_grey's default thresholds, measured on scikit-image's sample photos.

For every colour photo bundled with scikit-image (data_prep.samples.SAMPLE_PHOTOS) and a set of its
grey ones (stored as RGB), prints colourfulness and hue spread (data_prep.colour_filter.colour_figures)
of: the photo as shipped, the same re-encoded as JPEG quality 90, a sepia version made with the
standard sepia matrix (the one of Microsoft's and the CSS sepia() filter), and that sepia version as
JPEG. Then a few near-grey variants (sensor noise on a grey photo, a desaturated colour photo), and
the verdict of the current defaults. Offline: only files inside the installed scikit-image are read.

    .venv/bin/python benchmarks/colour_filter_thresholds.py      (about 5 s)
"""

import os
import sys

import cv2
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from data_prep import colour_filter, samples  # noqa: E402
from pix2pix.io import images as image_io  # noqa: E402

GREY_SAMPLES = ("camera.png", "moon.png", "coins.png", "page.png", "text.png", "brick.png", "grass.png",
                "gravel.png", "clock_motion.png", "cell.png", "microaneurysms.png")

# out = M @ rgb, clipped to 0-255 (rows: R, G, B).
SEPIA_MATRIX = np.array([[0.393, 0.769, 0.189],
                         [0.349, 0.686, 0.168],
                         [0.272, 0.534, 0.131]])

JPEG_QUALITY = 90


def sepia(image):
    """Sepia version of an RGB uint8 image with SEPIA_MATRIX (clipped, rounded)."""
    return np.clip(image.astype(np.float64) @ SEPIA_MATRIX.T, 0, 255).round().astype(np.uint8)


def jpeg_round_trip(image):
    """The image after encoding as JPEG (OpenCV, 4:2:0) and decoding."""
    return image_io.decode_image(image_io.encode_image(image, "jpg", JPEG_QUALITY))


def grey_rgb(image):
    """Luma stored as three equal channels."""
    luma = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    return cv2.merge([luma, luma, luma])


def desaturated(image, saturation):
    """Blend of the photo with its grey: saturation 0 = grey, 1 = the photo."""
    mixed = saturation * image.astype(np.float64) + (1 - saturation) * grey_rgb(image).astype(np.float64)
    return np.clip(mixed.round(), 0, 255).astype(np.uint8)


def with_noise(image, sigma, seed=0):
    """Independent Gaussian noise of ``sigma`` on each channel (like a sensor or a scanner)."""
    noise = np.random.default_rng(seed).normal(0.0, sigma, image.shape)
    return np.clip(image.astype(np.float64) + noise, 0, 255).round().astype(np.uint8)


def variants(image):
    """(label, image) of the four versions measured per photo."""
    toned = sepia(image)
    return [("as shipped", image), ("JPEG", jpeg_round_trip(image)), ("sepia", toned),
            ("sepia JPEG", jpeg_round_trip(toned))]


def verdict(figures):
    reason = colour_filter.rejection(figures, colour_filter.Thresholds(
        colour_filter.DEFAULT_MIN_COLOURFULNESS, colour_filter.DEFAULT_MIN_HUE_SPREAD))
    return "kept" if reason is None else reason.split(":")[0]


def print_table(title, photos):
    """One markdown row per photo: colourfulness / hue spread / verdict of each variant."""
    print("\n%s\n" % title)
    labels = [label for label, _ in variants(np.zeros((2, 2, 3), np.uint8))]
    print("| photo | " + " | ".join(labels) + " |")
    print("|---|" + "---|" * len(labels))
    for name, image in photos:
        cells = []
        for _, version in variants(image):
            figures = colour_filter.colour_figures(version)
            cells.append("%.1f / %.1f° %s" % (figures.colourfulness, figures.hue_spread, verdict(figures)))
        print("| %s | %s |" % (name, " | ".join(cells)))


def main():
    data_dir = samples.skimage_data_dir()
    colour = [(name, image_io.read_image(path)) for name, path in samples.available_samples()]
    grey = [(file_name.rsplit(".", 1)[0], grey_rgb(image_io.read_image(os.path.join(data_dir, file_name))))
            for file_name in GREY_SAMPLES if os.path.isfile(os.path.join(data_dir, file_name))]
    print("defaults: --min_colourfulness %g, --min_hue_spread %g; chroma threshold %g; cells: "
          "colourfulness / hue spread, verdict" % (colour_filter.DEFAULT_MIN_COLOURFULNESS,
                                                  colour_filter.DEFAULT_MIN_HUE_SPREAD, colour_filter.MIN_CHROMA))
    print_table("Colour photos", colour)
    print_table("Grey photos stored as RGB", grey)
    astronaut = dict(colour)["astronaut"]
    camera = dict(grey)["camera"]
    print("\nNear-grey\n")
    print("| photo | colourfulness | hue spread | verdict |\n|---|---|---|---|")
    for label, image in [("camera + noise sigma 2 per channel", with_noise(camera, 2)),
                         ("camera + noise sigma 4 per channel", with_noise(camera, 4)),
                         ("astronaut, saturation 5 %", desaturated(astronaut, 0.05)),
                         ("astronaut, saturation 10 %", desaturated(astronaut, 0.10)),
                         ("astronaut, saturation 25 %", desaturated(astronaut, 0.25))]:
        figures = colour_filter.colour_figures(image)
        print("| %s | %.1f | %.1f° | %s |" % (label, figures.colourfulness, figures.hue_spread, verdict(figures)))


if __name__ == "__main__":
    main()
