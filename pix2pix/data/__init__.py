"""From image files to network tensors: decoding and resizing, sRGB <-> Lab, the tasks (what a data
mode means) and the tf.data input pipeline."""
