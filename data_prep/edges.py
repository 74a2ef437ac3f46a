"""Edge maps for edges->photo training pairs: black 1-pixel lines on white.

The reference used HED (a Caffe network) followed by a MATLAB/Octave
post-processing script (non-maximum suppression, threshold, ``bwmorph thin``,
``bwareaopen``). The default here needs only OpenCV: Canny with thresholds
picked from the image's own gradient statistics, then thinning and removal
of tiny fragments, which gives the same kind of sparse line drawing.
HED through ``cv2.dnn`` is available when the caller provides the model files.
"""

import os

import cv2
import numpy as np

# Blur scale for a 256-pixel image; scaled with the image so a big photo and
# its 256-pixel thumbnail give similar drawings. 2.0 keeps object outlines and
# drops most texture (fur, grass) in the photos we tried.
BLUR_SIGMA_AT_256 = 2.0

# The Canny high threshold is this percentile of the gradient magnitude, so
# roughly the strongest 6% of gradients can seed an edge...
HIGH_THRESHOLD_PERCENTILE = 94.0
# ...but never below this (Sobel magnitude units), so flat or noisy images do
# not turn their noise into edges.
MIN_HIGH_THRESHOLD = 40.0
# Hysteresis low threshold as a fraction of the high one.
LOW_TO_HIGH_RATIO = 0.4

# HED's per-channel (B, G, R) training mean, from the HED deploy files.
HED_MEAN_BGR = (104.00698793, 116.66876762, 122.67891434)
# HED probability above which a pixel counts as an edge before thinning.
HED_THRESHOLD = 0.5


def auto_canny_thresholds(smoothed_gray):
    """(low, high) hysteresis thresholds derived from the gradient magnitudes."""
    dx = cv2.Sobel(smoothed_gray, cv2.CV_32F, 1, 0)
    dy = cv2.Sobel(smoothed_gray, cv2.CV_32F, 0, 1)
    magnitude = cv2.magnitude(dx, dy)
    high = max(float(np.percentile(magnitude, HIGH_THRESHOLD_PERCENTILE)), MIN_HIGH_THRESHOLD)
    return LOW_TO_HIGH_RATIO * high, high


def thin(mask):
    """Zhang-Suen thinning of a boolean mask down to 1-pixel-wide lines.

    Vectorised with numpy: each sub-iteration evaluates the deletion rule for
    every pixel at once. Canny output is already nearly thin, so this usually
    converges in two or three passes.
    """
    image = np.pad(mask.astype(np.uint8), 1)
    while True:
        changed = False
        for sub_iteration in (0, 1):
            # Neighbours P2..P9, clockwise from north, as views of ``image``.
            p2, p3, p4, p5 = image[:-2, 1:-1], image[:-2, 2:], image[1:-1, 2:], image[2:, 2:]
            p6, p7, p8, p9 = image[2:, 1:-1], image[2:, :-2], image[1:-1, :-2], image[:-2, :-2]
            ring = [p2, p3, p4, p5, p6, p7, p8, p9]
            neighbour_count = sum(n.astype(np.int8) for n in ring)
            transitions = sum(((a == 0) & (b == 1)).astype(np.int8)
                              for a, b in zip(ring, ring[1:] + ring[:1]))
            if sub_iteration == 0:
                side_rule = ((p2 & p4 & p6) == 0) & ((p4 & p6 & p8) == 0)
            else:
                side_rule = ((p2 & p4 & p8) == 0) & ((p2 & p6 & p8) == 0)
            removable = ((image[1:-1, 1:-1] == 1) & (neighbour_count >= 2) & (neighbour_count <= 6)
                         & (transitions == 1) & side_rule)
            if removable.any():
                image[1:-1, 1:-1][removable] = 0
                changed = True
        if not changed:
            return image[1:-1, 1:-1].astype(bool)


def remove_small_components(mask, min_pixels):
    """Drop 8-connected groups of fewer than ``min_pixels`` pixels (like ``bwareaopen``)."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    keep = stats[:, cv2.CC_STAT_AREA] >= min_pixels
    keep[0] = False  # label 0 is the background
    return keep[labels]


def default_min_edge_pixels(height, width):
    """Smallest line kept: 4% of the shorter side, at least 5 pixels (bwareaopen 5 in the reference)."""
    return max(5, min(height, width) // 25)


def lines_to_drawing(mask):
    """Boolean line mask -> RGB uint8 image, black lines on white."""
    luma = np.where(mask, 0, 255).astype(np.uint8)
    return cv2.merge([luma, luma, luma])


def detect_edges(image, low=None, high=None, min_edge_pixels=None):
    """Line drawing of an RGB uint8 image: black 1-pixel edges on white, same size.

    low / high: Canny hysteresis thresholds (Sobel magnitude units); both
    None picks them from the image (see ``auto_canny_thresholds``).
    min_edge_pixels: shortest line kept; None scales it with the image.
    """
    height, width = image.shape[:2]
    gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    sigma = max(1.0, BLUR_SIGMA_AT_256 * min(height, width) / 256.0)
    smoothed = cv2.GaussianBlur(gray, (0, 0), sigma)
    if low is None or high is None:
        low, high = auto_canny_thresholds(smoothed)
    lines = cv2.Canny(smoothed, low, high, L2gradient=True) > 0
    lines = thin(lines)
    if min_edge_pixels is None:
        min_edge_pixels = default_min_edge_pixels(height, width)
    return lines_to_drawing(remove_small_components(lines, min_edge_pixels))


def caffe_support_problem():
    """Why this OpenCV cannot run a Caffe HED model, or None if it can."""
    if not hasattr(cv2, "dnn") or not hasattr(cv2.dnn, "readNetFromCaffe"):
        return ("this OpenCV (%s) cannot read Caffe models (cv2.dnn.readNetFromCaffe was removed "
                "in OpenCV 5); use the default Canny edges or install opencv-python<5" % cv2.__version__)
    return None


class _CentreCropLayer:
    """HED's Caffe "Crop" layer, centre-cropping the first input to the second's size.

    OpenCV's own Crop layer uses the prototxt offsets, which misalign HED's
    side outputs; the OpenCV HED sample registers this replacement too.
    """

    def __init__(self, params, blobs):
        self.box = (0, 0, 0, 0)

    def getMemoryShapes(self, inputs):
        input_shape, target_shape = inputs[0], inputs[1]
        batch, channels = input_shape[0], input_shape[1]
        height, width = target_shape[2], target_shape[3]
        top = (input_shape[2] - height) // 2
        left = (input_shape[3] - width) // 2
        self.box = (top, left, height, width)
        return [[batch, channels, height, width]]

    def forward(self, inputs):
        top, left, height, width = self.box
        return [inputs[0][:, :, top:top + height, left:left + width]]


_hed_network = {}


def load_hed(prototxt, caffemodel):
    """Load (once per process) the HED network from its Caffe files."""
    key = (os.path.abspath(prototxt), os.path.abspath(caffemodel))
    if key not in _hed_network:
        problem = caffe_support_problem()
        if problem:
            raise RuntimeError(problem)
        try:
            cv2.dnn_registerLayer("Crop", _CentreCropLayer)
        except cv2.error:
            pass  # already registered in this process
        _hed_network[key] = cv2.dnn.readNetFromCaffe(prototxt, caffemodel)
    return _hed_network[key]


def detect_edges_hed(image, prototxt, caffemodel, min_edge_pixels=None):
    """Line drawing from HED: network edge probability, threshold, thin, clean up.

    Same output convention as ``detect_edges``. Untested in this project's
    suite because it needs the HED model files and an OpenCV with Caffe support.
    """
    network = load_hed(prototxt, caffemodel)
    height, width = image.shape[:2]
    bgr = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    blob = cv2.dnn.blobFromImage(bgr, scalefactor=1.0, size=(width, height), mean=HED_MEAN_BGR,
                                 swapRB=False, crop=False)
    network.setInput(blob)
    probability = network.forward()[0, 0]
    probability = cv2.resize(probability, (width, height))
    lines = thin(probability > HED_THRESHOLD)
    if min_edge_pixels is None:
        min_edge_pixels = default_min_edge_pixels(height, width)
    return lines_to_drawing(remove_small_components(lines, min_edge_pixels))
