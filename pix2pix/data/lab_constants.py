"""The reference's sRGB <-> CIE Lab (D65) constants (docs/reference.md#srgb-and-cie-lab), shared without TensorFlow.

pix2pix.data.color uses them for the TensorFlow ops of training and test; pix2pix.reporting.metrics for its
numpy scores of saved pictures, so both see the same Lab.
"""

DELTA = 6.0 / 29.0
RGB_TO_XYZ = [  # rows: R, G, B (linear RGB as a row vector times this matrix)
    [0.412453, 0.212671, 0.019334],
    [0.357580, 0.715160, 0.119193],
    [0.180423, 0.072169, 0.950227],
]
XYZ_TO_RGB = [  # rows: x, y, z
    [3.2404542, -0.9692660, 0.0556434],
    [-1.5371385, 1.8760108, -0.2040259],
    [-0.4985314, 0.0415560, 1.0572252],
]
WHITE_POINT = [0.950456, 1.0, 1.088754]
