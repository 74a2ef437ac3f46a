"""The networks and their training: generators, discriminators, norms, losses, learning-rate schedules,
the name -> builder registries, CPU speed kernels, the Pix2Pix train step and its checkpoint layout."""
