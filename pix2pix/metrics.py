"""Image quality figures computed on 8-bit RGB pictures (numpy, no TensorFlow).

Used by test mode, score mode, the reproduction tables and data_prep's grey-photo filter,
so every part of the project measures colour the same way.
"""

import numpy as np


def colourfulness(rgb) -> float:
    """Hasler & Suesstrunk (2003) colourfulness of an RGB image on the 0-255 scale.

    rg = R - G, yb = (R + G) / 2 - B over all pixels;
    M = sqrt(std(rg)^2 + std(yb)^2) + 0.3 * sqrt(mean(rg)^2 + mean(yb)^2).
    A grey image scores 0; the paper calls about 33 "moderately colourful", 59 "highly".
    RGB: [H, W, 3] of uint8 (or floats on the 0-255 scale).
    """
    pixels = np.asarray(rgb, dtype=np.float64).reshape(-1, 3)
    red, green, blue = pixels[:, 0], pixels[:, 1], pixels[:, 2]
    rg = red - green
    yb = 0.5 * (red + green) - blue
    spread = np.sqrt(rg.std() ** 2 + yb.std() ** 2)
    centre = np.sqrt(rg.mean() ** 2 + yb.mean() ** 2)
    return float(spread + 0.3 * centre)
