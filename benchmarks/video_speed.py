"""Frames per second of video colorization (--mode infer on a video), the README's figures.

    python benchmarks/video_speed.py [--frames 24] [--width 640 --height 360] [--ngf 64]

Builds an untrained Lab model of the reference's size (crop_size 256, ngf 64: speed does not
depend on the weights), writes a WIDTHxHEIGHT mp4v clip of moving shapes, and colorizes it
at the square 256x256 (the default), at --render_size 256 and at --render_size HEIGHT (the
video's native size), with --temporal_smoothing 0.8. Prints frames/s for each (the whole
pipeline: decode, generator, encode; after one warm-up frame, so tracing is not counted).
"""

import argparse
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from benchmarks.machine import cpu_name  # noqa: E402


def write_clip(path, frames, width, height, fps=25.0):
    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height))
    y, x = np.mgrid[0:height, 0:width]
    for i in range(frames):
        frame = np.stack([(x + i) % 256, (y * 2) % 256, np.full_like(x, 128)], -1).astype(np.uint8)
        cv2.circle(frame, (40 + 8 * i, height // 2), height // 6, (20, 200, 60), -1)
        writer.write(frame)
    writer.release()


def untrained_run(directory, ngf, crop_size=256):
    """DIRECTORY made a training directory holding an untrained Lab model at CROP_SIZE (ndf 8)."""
    import tensorflow as tf

    from pix2pix.models.checkpoints import CHECKPOINT_PREFIX
    from pix2pix.models.pix2pix_model import Pix2Pix
    from pix2pix.options.record import Options
    from pix2pix.options.stored import save_options

    options = Options(mode="train", output_dir=directory, crop_size=crop_size, ngf=ngf, ndf=8, seed=1,
                      lab_colorization=True).validate()
    model = Pix2Pix(options)
    os.makedirs(directory)
    save_options(options, directory)
    tf.train.CheckpointManager(model.checkpoint(), directory, max_to_keep=1,
                               checkpoint_name=CHECKPOINT_PREFIX).save(checkpoint_number=1)
    return directory


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=24)
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=360)
    parser.add_argument("--ngf", type=int, default=64)
    args = parser.parse_args()

    from pix2pix.inference import video
    from pix2pix.inference.translator import load_translator
    from pix2pix.modes.preparation import prepare
    from pix2pix.options.record import Options

    with tempfile.TemporaryDirectory() as scratch:
        run = untrained_run(os.path.join(scratch, "run"), args.ngf)
        clips = os.path.join(scratch, "clips")
        os.makedirs(clips)
        write_clip(os.path.join(clips, "clip.mp4"), args.frames, args.width, args.height)
        print(f"{cpu_name()}; {args.frames} frames of {args.width}x{args.height}, Lab U-Net ngf {args.ngf}")
        for label, render_size in (("square 256x256", 0), ("--render_size 256", 256),
                                   (f"--render_size {args.height} (native)", args.height)):
            options = prepare(Options(mode="infer", checkpoint=run, output_dir=scratch, temporal_smoothing=0.8,
                                      render_size=render_size))
            model = video.frame_model(load_translator(options), run)
            warm = np.zeros((args.height, args.width, 3), np.uint8)
            model.picture(warm, model.colour(warm))  # tracing, not counted
            result = video.translate_video(os.path.join(clips, "clip.mp4"),
                                           os.path.join(scratch, f"out{render_size}.mp4"), model, options,
                                           colorization=True)
            assert result.ok, result.error
            print(f"RESULT {label}: {result.frames / result.seconds:.2f} frames/s "
                  f"({result.frames} frames in {result.seconds:.1f} s: decode, generator, encode)")

if __name__ == "__main__":
    main()
