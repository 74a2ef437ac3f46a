"""Image quality figures computed on 8-bit RGB pictures (numpy, no TensorFlow).

Used by test mode, score mode, the reproduction tables and data_prep's grey-photo filter,
so every part of the project measures colour the same way. Every function takes RGB
arrays [H, W, 3] of uint8 (or floats on the 0-255 scale), output first, target second:

    score_pair(output, target)   {"l1", "psnr", "ssim", "delta_e2000", "ab_mae",
                                  "colourfulness_output", "colourfulness_target"}
    summarize(rows)              the means, count, colourfulness_ratio and DEFINITIONS
    l1, psnr, ssim, delta_e2000, ab_mae, colourfulness, srgb_to_lab
FID, which needs TensorFlow's InceptionV3, is in reporting/fid.py; this module stays numpy-only,
so data_prep can use it without loading TensorFlow.
"""

import numpy as np

from pix2pix.data.lab_constants import DELTA, RGB_TO_XYZ, WHITE_POINT

DATA_RANGE = 255.0
PSNR_CAP_DB = 100.0  # identical pictures would be +inf
SSIM_SIGMA = 1.5
SSIM_RADIUS = 5  # an 11x11 window, as Wang et al. 2004 and skimage's int(3.5 * sigma + 0.5)
SSIM_K1, SSIM_K2 = 0.01, 0.03

# The per-image figures, in the order of metrics.csv (after the name).
COLUMNS = ("l1", "psnr", "ssim", "delta_e2000", "ab_mae", "colourfulness_output", "colourfulness_target")


DEFINITIONS = {
    "l1": "mean absolute difference of output and target over pixels and RGB channels, 8-bit units (0-255)",
    "psnr": "10*log10(255^2 / MSE) over pixels and RGB channels, in dB, capped at 100 (identical pictures)",
    "ssim": "SSIM of Wang et al. 2004 per RGB channel (11x11 Gaussian window, sigma 1.5, K1 0.01, K2 0.03, "
            "data range 255, population covariances, the mean over windows that fit in the picture), "
            "averaged over the three channels",
    "delta_e2000": "mean CIEDE2000 colour difference (kL = kC = kH = 1) in CIE Lab (D65), converted from sRGB "
                   "as the TF1 pix2pix reference converts for Lab colorization (docs/reference.md#srgb-and-cie-lab)",
    "ab_mae": "mean of |a_output - a_target| and |b_output - b_target| over pixels and both channels, CIE Lab "
              "(D65) units",
    "colourfulness_output": "Hasler & Suesstrunk 2003 colourfulness of the output: sigma_rgyb + 0.3*mu_rgyb on "
                            "0-255 RGB (0 for grey; about 33 is 'moderately', 59 'highly' colourful)",
    "colourfulness_target": "the same colourfulness of the target",
    "colourfulness_ratio": "mean colourfulness_output / mean colourfulness_target (below 1: outputs more "
                           "washed out than the truth); null when the targets' mean is 0",
}


# ---------------------------------------------------------------- checking inputs
def _rgb(image, what="image") -> np.ndarray:
    """IMAGE as a float64 [H, W, 3] array, or ValueError saying what is wrong with it."""
    pixels = np.asarray(image)
    if pixels.ndim != 3 or pixels.shape[2] != 3:
        raise ValueError(f"{what}: expected an RGB array [H, W, 3], got shape {pixels.shape}")
    return pixels.astype(np.float64)


def _pair(output_rgb, target_rgb):
    output, target = _rgb(output_rgb, "output"), _rgb(target_rgb, "target")
    if output.shape != target.shape:
        raise ValueError(f"output {output.shape} and target {target.shape} differ in size")
    return output, target


# ---------------------------------------------------------------- pixel differences
def l1(output_rgb, target_rgb) -> float:
    """Mean absolute difference over pixels and channels, in 8-bit units."""
    output, target = _pair(output_rgb, target_rgb)
    return float(np.mean(np.abs(output - target)))


def psnr(output_rgb, target_rgb) -> float:
    """Peak signal-to-noise ratio over pixels and channels (data range 255), capped at PSNR_CAP_DB."""
    return _psnr(*_pair(output_rgb, target_rgb), DATA_RANGE)


def _psnr(output, target, data_range) -> float:
    mse = float(np.mean((output - target) ** 2))
    if mse == 0.0:
        return PSNR_CAP_DB
    return float(min(PSNR_CAP_DB, 10.0 * np.log10(data_range ** 2 / mse)))


# ---------------------------------------------------------------- SSIM
def _gaussian_taps() -> np.ndarray:
    offsets = np.arange(-SSIM_RADIUS, SSIM_RADIUS + 1, dtype=np.float64)
    taps = np.exp(-0.5 * (offsets / SSIM_SIGMA) ** 2)
    return taps / taps.sum()


def _window_means(image: np.ndarray) -> np.ndarray:
    """Gaussian-weighted means of every full 11x11 window of [H, W, C]: [H-10, W-10, C].

    Only windows that lie wholly inside the picture are kept (skimage filters the whole
    picture and then crops the same border away), so no border rule is needed.
    """
    taps = _gaussian_taps()
    size = len(taps)
    height, width = image.shape[:2]
    rows = sum(tap * image[k:height - size + 1 + k] for k, tap in enumerate(taps))
    return sum(tap * rows[:, k:width - size + 1 + k] for k, tap in enumerate(taps))


def ssim(output_rgb, target_rgb) -> float:
    """Mean SSIM (Wang et al. 2004) of the three channels; needs pictures of at least 11x11."""
    return _ssim(*_pair(output_rgb, target_rgb), DATA_RANGE)


def _ssim(x, y, data_range) -> float:
    """SSIM of [H, W, C] float64 arrays X and Y of DATA_RANGE, averaged over their C channels."""
    side = 2 * SSIM_RADIUS + 1
    if min(x.shape[:2]) < side:
        raise ValueError(f"ssim needs pictures of at least {side}x{side}, got {x.shape[1]}x{x.shape[0]}")
    c1, c2 = (SSIM_K1 * data_range) ** 2, (SSIM_K2 * data_range) ** 2
    mean_x, mean_y = _window_means(x), _window_means(y)
    var_x = _window_means(x * x) - mean_x ** 2
    var_y = _window_means(y * y) - mean_y ** 2
    cov_xy = _window_means(x * y) - mean_x * mean_y
    index = ((2 * mean_x * mean_y + c1) * (2 * cov_xy + c2)
             / ((mean_x ** 2 + mean_y ** 2 + c1) * (var_x + var_y + c2)))
    return float(np.mean(index.reshape(-1, x.shape[2]).mean(axis=0)))


# ---------------------------------------------------------------- colour
def srgb_to_lab(rgb) -> np.ndarray:
    """8-bit sRGB [..., 3] -> CIE Lab (D65) [..., 3] float64, as the reference's conversion
    (docs/reference.md#srgb-and-cie-lab)."""
    srgb = np.asarray(rgb, dtype=np.float64) / 255.0
    linear = np.where(srgb <= 0.04045, srgb / 12.92, ((np.maximum(srgb, 0.04045) + 0.055) / 1.055) ** 2.4)
    xyz = linear @ np.asarray(RGB_TO_XYZ) / np.asarray(WHITE_POINT)
    f = np.where(xyz <= DELTA ** 3, xyz / (3 * DELTA ** 2) + 4.0 / 29.0, np.cbrt(xyz))
    fx, fy, fz = f[..., 0], f[..., 1], f[..., 2]
    return np.stack([116.0 * fy - 16.0, 500.0 * (fx - fy), 200.0 * (fy - fz)], axis=-1)


def ciede2000(lab_1, lab_2) -> np.ndarray:
    """Per-pixel CIEDE2000 difference of two Lab arrays [..., 3] (Sharma et al. 2005, kL = kC = kH = 1)."""
    l1_, a1, b1 = np.moveaxis(np.asarray(lab_1, np.float64), -1, 0)
    l2_, a2, b2 = np.moveaxis(np.asarray(lab_2, np.float64), -1, 0)
    chroma_mean = (np.hypot(a1, b1) + np.hypot(a2, b2)) / 2
    g = 0.5 * (1 - np.sqrt(chroma_mean ** 7 / (chroma_mean ** 7 + 25.0 ** 7)))
    a1, a2 = (1 + g) * a1, (1 + g) * a2
    c1, c2 = np.hypot(a1, b1), np.hypot(a2, b2)
    h1 = np.where(c1 == 0, 0.0, np.mod(np.arctan2(b1, a1), 2 * np.pi))
    h2 = np.where(c2 == 0, 0.0, np.mod(np.arctan2(b2, a2), 2 * np.pi))
    achromatic = c1 * c2 == 0

    hue_step = h2 - h1  # the short way round the hue circle
    hue_step = np.where(hue_step > np.pi, hue_step - 2 * np.pi, hue_step)
    hue_step = np.where(hue_step < -np.pi, hue_step + 2 * np.pi, hue_step)
    hue_step = np.where(achromatic, 0.0, hue_step)
    delta_l, delta_c = l2_ - l1_, c2 - c1
    delta_h = 2 * np.sqrt(c1 * c2) * np.sin(hue_step / 2)

    l_mean, c_mean = (l1_ + l2_) / 2, (c1 + c2) / 2
    h_sum = h1 + h2
    h_mean = np.where(np.abs(h1 - h2) <= np.pi, h_sum / 2,
                      np.where(h_sum < 2 * np.pi, (h_sum + 2 * np.pi) / 2, (h_sum - 2 * np.pi) / 2))
    h_mean = np.where(achromatic, h_sum, h_mean)
    t = (1 - 0.17 * np.cos(h_mean - np.radians(30)) + 0.24 * np.cos(2 * h_mean)
         + 0.32 * np.cos(3 * h_mean + np.radians(6)) - 0.20 * np.cos(4 * h_mean - np.radians(63)))
    rotation = np.radians(30) * np.exp(-(((np.degrees(h_mean) - 275) / 25) ** 2))
    r_c = 2 * np.sqrt(c_mean ** 7 / (c_mean ** 7 + 25.0 ** 7))
    s_l = 1 + 0.015 * (l_mean - 50) ** 2 / np.sqrt(20 + (l_mean - 50) ** 2)
    s_c = 1 + 0.045 * c_mean
    s_h = 1 + 0.015 * c_mean * t
    r_t = -np.sin(2 * rotation) * r_c
    lightness, chroma, hue = delta_l / s_l, delta_c / s_c, delta_h / s_h
    return np.sqrt(np.maximum(lightness ** 2 + chroma ** 2 + hue ** 2 + r_t * chroma * hue, 0.0))


def _labs(output_rgb, target_rgb):
    output, target = _pair(output_rgb, target_rgb)
    return srgb_to_lab(output), srgb_to_lab(target)


def _delta_e2000_of_labs(output_lab, target_lab) -> float:
    return float(np.mean(ciede2000(output_lab, target_lab)))


def _ab_mae_of_labs(output_lab, target_lab) -> float:
    return float(np.mean(np.abs(output_lab[..., 1:] - target_lab[..., 1:])))


def delta_e2000(output_rgb, target_rgb) -> float:
    """Mean CIEDE2000 colour difference of the two pictures in CIE Lab (D65)."""
    return _delta_e2000_of_labs(*_labs(output_rgb, target_rgb))


def ab_mae(output_rgb, target_rgb) -> float:
    """Mean |delta a| and |delta b| (CIE Lab, D65) over pixels and both channels."""
    return _ab_mae_of_labs(*_labs(output_rgb, target_rgb))


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


# ---------------------------------------------------------------- one pair, many pairs
def score_pair(output_rgb, target_rgb) -> dict:
    """Every per-image figure of COLUMNS for one output and its target (same size)."""
    output, target = _pair(output_rgb, target_rgb)
    output_lab, target_lab = srgb_to_lab(output), srgb_to_lab(target)
    figures = {
        "l1": l1(output, target),
        "psnr": psnr(output, target),
        "ssim": ssim(output, target),
        "delta_e2000": _delta_e2000_of_labs(output_lab, target_lab),
        "ab_mae": _ab_mae_of_labs(output_lab, target_lab),
        "colourfulness_output": colourfulness(output),
        "colourfulness_target": colourfulness(target),
    }
    return {column: figures[column] for column in COLUMNS}


# Data that is not an 8-bit RGB picture (16-bit, float, other channel counts: docs/channels.md) is
# scored at full depth on all its channels; it has no colour, so the colour figures are null.
FULL_DEPTH_DEFINITIONS = {
    "l1": "mean absolute difference of output and target over pixels and all channels, at full depth in the "
          "targets' own units (0-65535 for uint16, 0-255 for uint8, float32 as stored)",
    "psnr": "10*log10(R^2 / MSE) over pixels and all channels at full depth, R the targets' data range (65535 for "
            "uint16, 255 for uint8, HIGH - LOW of --value_range for float32), in dB, capped at 100",
    "ssim": "SSIM of Wang et al. 2004 per channel at full depth (11x11 Gaussian window, sigma 1.5, K1 0.01, "
            "K2 0.03, data range R as for psnr), averaged over all channels",
    **{column: "null: computed only for 8-bit RGB pictures (this data has no CIE Lab colour)"
       for column in COLUMNS[3:]},
}


def score_data(output, target, data_range) -> dict:
    """COLUMNS for one output and its target [H, W, C] at full depth (any C, any sample type, DATA_RANGE
    their range): l1, psnr, ssim over all channels; the colour figures None."""
    output, target = (np.asarray(a, np.float64) for a in (output, target))
    if output.shape != target.shape or output.ndim != 3:
        raise ValueError(f"output {output.shape} and target {target.shape}: expected two [H, W, C] of one shape")
    figures = {"l1": float(np.mean(np.abs(output - target))), "psnr": _psnr(output, target, data_range),
               "ssim": _ssim(output, target, data_range)}
    return {column: figures.get(column) for column in COLUMNS}


def _mean(values):
    values = [value for value in values if value is not None]
    return float(np.mean(values)) if values else None


def summarize(rows) -> dict:
    """The summary of ROWS (dicts holding COLUMNS, e.g. score_pair's): what metrics.json holds.

    {"count", "means" {column: mean or None}, "colourfulness_ratio" (None when the
    targets' mean colourfulness is 0 or there are no rows), "definitions"}.
    """
    rows = list(rows)
    means = {column: _mean([row[column] for row in rows]) for column in COLUMNS}
    target_mean = means["colourfulness_target"]
    ratio = means["colourfulness_output"] / target_mean if target_mean else None
    return {"count": len(rows), "means": means, "colourfulness_ratio": ratio, "definitions": dict(DEFINITIONS)}
