"""A float32 export against a --mixed_precision bfloat16 one: latency per picture, video frames/s, PSNR.

    python benchmarks/export_precision.py [--rounds 4] [--pictures 4] [--frames 12] [--ngf 64] [--crop_size 256]
    python benchmarks/export_precision.py --checkpoint TRAIN_DIR --photos DIR   # PSNR of a trained model

Builds an untrained Lab model of the reference's size (crop_size 256, ngf 64: speed does not depend
on the weights) unless --checkpoint names a training directory, exports it --deterministic twice
(float32 and bfloat16), loads both SavedModels and times them in interleaved rounds (float32,
bfloat16, float32, ...): the `serving_default` signature on one 256x256 JPEG per call (decode,
generator, Lab conversion, PNG encode), and the video path infer takes on an export (the
frame_colour and frame_picture signatures, frame by frame on a 640x360 clip, decode and encode
included). With --photos, the PSNR (on 8-bit RGB) of the bfloat16 export's pictures against the
float32 export's, for every photo in that folder.
"""

import argparse
import glob
import os
import statistics
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from machine import cpu_name  # noqa: E402
from video_speed import untrained_run, write_clip  # noqa: E402

PRECISIONS = ("float32", "bfloat16")


def psnr(a, b):
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return 10 * np.log10(255.0 ** 2 / mse) if mse else float("inf")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--pictures", type=int, default=4, help="pictures per round and precision")
    parser.add_argument("--frames", type=int, default=12, help="video frames per round and precision")
    parser.add_argument("--ngf", type=int, default=64)
    parser.add_argument("--crop_size", type=int, default=256,
                        help="the untrained model's crop size (default 256, the reference's)")
    parser.add_argument("--checkpoint", help="a training directory to export (default: an untrained model)")
    parser.add_argument("--photos", help="a folder of photos for the PSNR")
    args = parser.parse_args()

    import tensorflow as tf

    from pix2pix.inference import video
    from pix2pix.io.cpu_features import native_bfloat16
    from pix2pix.modes.export import export_mode
    from pix2pix.modes.preparation import prepare
    from pix2pix.options.record import Options

    with tempfile.TemporaryDirectory() as scratch:
        run = args.checkpoint or untrained_run(os.path.join(scratch, "run"), args.ngf, args.crop_size)
        exports = {p: export_mode(Options(mode="export", checkpoint=run, output_dir=os.path.join(scratch, p),
                                          deterministic=True, mixed_precision=p)) for p in PRECISIONS}
        loaded = {p: tf.saved_model.load(path) for p, path in exports.items()}
        serve = {p: model.signatures["serving_default"] for p, model in loaded.items()}
        frames = {p: video.frame_model(model, exports[p]) for p, model in loaded.items()}
        infer_options = prepare(Options(mode="infer", checkpoint=exports["float32"], output_dir=scratch))
        size = infer_options.crop_size  # the model's (a --checkpoint's own), from its export
        picture = np.random.default_rng(0).integers(0, 256, (size, size, 3), np.uint8)
        picture = cv2.GaussianBlur(picture, (31, 31), 0)
        jpeg = tf.constant([cv2.imencode(".jpg", picture)[1].tobytes()])
        clip = os.path.join(scratch, "clip.mp4")
        write_clip(clip, args.frames, 640, 360)
        for p in PRECISIONS:  # tracing and oneDNN's first calls, not counted
            serve[p](images=jpeg)
            warm = np.zeros((360, 640, 3), np.uint8)
            frames[p].picture(warm, frames[p].colour(warm))

        latency = {p: [] for p in PRECISIONS}
        fps = {p: [] for p in PRECISIONS}
        cpu = native_bfloat16()
        print(f"{os.cpu_count()}-core {cpu_name()} (native bfloat16: {cpu or 'none'}), TF {tf.__version__}; "
              f"{'a trained model' if args.checkpoint else f'untrained Lab U-Net ngf {args.ngf}'} at {size}x{size}, "
              f"load average {'/'.join(f'{x:.1f}' for x in os.getloadavg())}", flush=True)
        for r in range(args.rounds):
            for p in PRECISIONS:
                start = time.perf_counter()
                for _ in range(args.pictures):
                    serve[p](images=jpeg)["outputs"].numpy()
                latency[p].append((time.perf_counter() - start) / args.pictures * 1000)
                result = video.translate_video(clip, os.path.join(scratch, f"out-{p}.mp4"), frames[p],
                                               infer_options, colorization=True)
                assert result.ok, result.error
                fps[p].append(result.frames / result.seconds)
            print(f"  round {r + 1}: " + ", ".join(f"{p} {latency[p][-1]:.0f} ms/picture {fps[p][-1]:.2f} frames/s"
                                                   for p in PRECISIONS), flush=True)
        for p in PRECISIONS:
            print(f"RESULT {p}: {statistics.median(latency[p]):.0f} ms per {size}x{size} picture (rounds "
                  f"{min(latency[p]):.0f}-{max(latency[p]):.0f}); video 640x360 at {size}x{size}: "
                  f"{statistics.median(fps[p]):.2f} frames/s (rounds {min(fps[p]):.2f}-{max(fps[p]):.2f})")
        ratios = [a / b for a, b in zip(latency["float32"], latency["bfloat16"])]
        video_ratios = [b / a for a, b in zip(fps["float32"], fps["bfloat16"])]
        print(f"RESULT bfloat16 over float32: {statistics.median(ratios):.2f}x per picture (rounds "
              f"{min(ratios):.2f}-{max(ratios):.2f}), {statistics.median(video_ratios):.2f}x in video frames/s "
              f"(rounds {min(video_ratios):.2f}-{max(video_ratios):.2f})")

        if args.photos:
            values = []
            for path in sorted(glob.glob(os.path.join(args.photos, "*"))):
                data = tf.constant([open(path, "rb").read()])
                a, b = (tf.io.decode_png(serve[p](images=data)["outputs"][0]).numpy() for p in PRECISIONS)
                values.append(psnr(a, b))
            print(f"RESULT PSNR of the bfloat16 export against the float32 export, {len(values)} photos: median "
                  f"{statistics.median(values):.1f} dB, lowest {min(values):.1f} dB, highest {max(values):.1f} dB")


if __name__ == "__main__":
    main()
