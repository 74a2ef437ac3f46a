"""--mode serve: a local web page and a TensorFlow-Serving-compatible REST API."""
