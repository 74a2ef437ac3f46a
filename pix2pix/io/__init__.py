"""Files on disk, no TensorFlow: atomic writing, image headers and safe decoding, JPEG/EXIF, video codecs,
progress bars."""
