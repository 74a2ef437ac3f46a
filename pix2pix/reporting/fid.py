"""FID (optional, --fid_weights): InceptionV3 features of outputs and targets and their Frechet
distance. Only InceptionFeatures loads TensorFlow, when it is created.

    InceptionFeatures(weights)(images) -> [N, 2048] features
    frechet_distance(features_a, features_b)
"""

import numpy as np

from pix2pix.errors import Pix2PixError

FID_IMAGE_SIZE = 299
FID_MIN_UNBIASED = 2048  # fewer images than feature dimensions bias FID upwards
FID_BATCH = 16
FID_DEFINITION = (
    "Frechet distance between Gaussians fitted to the 2048-d average-pool features of Keras' InceptionV3 "
    "(no top; pictures resized bilinearly to 299x299, then inception_v3.preprocess_input) of the outputs and "
    "of the targets. This network is not the one published FIDs use, so the figures compare runs of this "
    "project only; FID on fewer than 2048 images is biased (upwards, and more so the fewer images)."
)


class InceptionFeatures:
    """The 2048-d average-pool features of Keras' InceptionV3 (no top), for FID.

    WEIGHTS: a weights file of keras.applications.InceptionV3(include_top=False,
    pooling="avg") (model.save_weights), or "imagenet" to let Keras fetch them (online).
    Loads TensorFlow when created; a bad file raises Pix2PixError naming --fid_weights.
    """

    def __init__(self, weights: str):
        import os

        import tensorflow as tf

        if weights != "imagenet" and not os.path.isfile(weights):
            raise Pix2PixError(f"--fid_weights: {weights} is not a file (give an InceptionV3 weights file, "
                               f"or 'imagenet' to download them)")
        self._tf = tf
        try:
            self._model = tf.keras.applications.InceptionV3(
                include_top=False, pooling="avg", weights=weights,
                input_shape=(FID_IMAGE_SIZE, FID_IMAGE_SIZE, 3))
        except Exception as err:  # Keras raises many kinds (ValueError, OSError, URL errors, h5py's)
            what = "could not fetch the imagenet weights" if weights == "imagenet" else f"cannot load {weights}"
            first_line = (str(err).strip().splitlines() or [type(err).__name__])[0]
            raise Pix2PixError(f"--fid_weights: {what} into InceptionV3(include_top=False, "
                               f"pooling='avg'): {first_line}") from None

    def __call__(self, images) -> np.ndarray:
        """IMAGES (a list of uint8 RGB arrays, any sizes) -> features [N, 2048] float64."""
        tf = self._tf
        features = []
        for start in range(0, len(images), FID_BATCH):
            batch = [tf.image.resize(tf.cast(image, tf.float32), [FID_IMAGE_SIZE, FID_IMAGE_SIZE],
                                     method="bilinear") for image in images[start:start + FID_BATCH]]
            batch = tf.keras.applications.inception_v3.preprocess_input(tf.stack(batch))
            features.append(np.asarray(self._model(batch, training=False), dtype=np.float64))
        return np.concatenate(features) if features else np.zeros([0, 2048])


def _covariance_factor(features: np.ndarray) -> np.ndarray:
    """A matrix F with F^T F = the sample covariance of FEATURES [N, D], at most D rows."""
    centred = (features - features.mean(axis=0)) / np.sqrt(len(features) - 1)
    if len(centred) > centred.shape[1]:  # more images than dimensions: an equivalent square factor
        return np.linalg.qr(centred, mode="r")
    return centred


def frechet_distance(features_a, features_b) -> float:
    """Frechet distance of Gaussians fitted to two feature sets [N, D] (N >= 2 each).

    |mu_a - mu_b|^2 + Tr(S_a) + Tr(S_b) - 2 Tr((S_a S_b)^(1/2)). With S = F^T F, the
    eigenvalues of S_a S_b are the squared singular values of F_a F_b^T, so the last trace
    is that matrix's nuclear norm: exact, with no matrix square root to go complex.
    """
    features_a, features_b = np.asarray(features_a, np.float64), np.asarray(features_b, np.float64)
    if min(len(features_a), len(features_b)) < 2:
        raise ValueError("FID needs at least 2 images on each side")
    factor_a, factor_b = _covariance_factor(features_a), _covariance_factor(features_b)
    mean_term = float(np.sum((features_a.mean(axis=0) - features_b.mean(axis=0)) ** 2))
    traces = float(np.sum(factor_a ** 2) + np.sum(factor_b ** 2))
    cross = float(np.sum(np.linalg.svd(factor_a @ factor_b.T, compute_uv=False)))
    return max(0.0, mean_term + traces - 2 * cross)
