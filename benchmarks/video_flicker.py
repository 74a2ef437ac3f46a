"""Flicker of colorized video with and without --temporal_smoothing: the README's figures.

    python benchmarks/video_flicker.py --checkpoint LAB_TRAIN_DIR --first PHOTO --second PHOTO

A 48-frame 160x120 clip: 24 frames of FIRST with film-grain noise (Gaussian, sd 4 grey levels,
new every frame) and a disc moving across, then a hard cut to 24 frames of SECOND, likewise.
For each smoothing value the flicker figure is the mean frame-to-frame change of the predicted
ab (network units x 110 = Lab ab units) at the generator's resolution, over the pixels the disc
does not cover in either frame, the step across the cut left out; also the cuts found.
"""

import argparse
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import cv2  # noqa: E402
import numpy as np  # noqa: E402


def clip_frames(first, second, frames=48, width=160, height=120, seed=0):
    rng = np.random.default_rng(seed)
    out, masks = [], []
    for i in range(frames):
        photo = cv2.resize(first if i < frames // 2 else second, (width, height), interpolation=cv2.INTER_AREA)
        frame = np.clip(photo + rng.normal(0, 4, photo.shape[:2])[..., None], 0, 255).astype(np.uint8)
        mask = np.zeros((height, width), np.uint8)
        cv2.circle(mask, (10 + 6 * (i % (frames // 2)), height // 2), 12, 1, -1)
        frame[mask > 0] = (30, 30, 220)
        out.append(frame)
        masks.append(mask)
    return out, masks


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--first", required=True)
    parser.add_argument("--second", required=True)
    parser.add_argument("--alphas", default="0,0.5,0.8,0.9")
    args = parser.parse_args()

    from pix2pix.inference import video
    from pix2pix.inference.translator import load_translator
    from pix2pix.modes.preparation import prepare
    from pix2pix.options.record import Options

    frames, masks = clip_frames(cv2.imread(args.first), cv2.imread(args.second))
    cut = len(frames) // 2
    with tempfile.TemporaryDirectory() as scratch:
        clip = os.path.join(scratch, "clip.avi")
        writer = cv2.VideoWriter(clip, cv2.VideoWriter_fourcc(*"MJPG"), 25.0, (160, 120))
        for frame in frames:
            writer.write(frame)
        writer.release()
        base = prepare(Options(mode="infer", checkpoint=args.checkpoint, output_dir=scratch))
        model = video.frame_model(load_translator(base), args.checkpoint)
        print("| --temporal_smoothing | flicker (mean abs change of ab per frame, still pixels) | cuts found |")
        print("|---|---|---|")
        for alpha in (float(a) for a in args.alphas.split(",")):
            used = []
            recording = video.FrameModel(colour=model.colour,
                                         picture=lambda f, c: (used.append(np.array(c)), model.picture(f, c))[1])
            options = prepare(Options(mode="infer", checkpoint=args.checkpoint, output_dir=scratch,
                                      temporal_smoothing=alpha))
            result = video.translate_video(clip, os.path.join(scratch, f"out{alpha}.mp4"), recording, options,
                                           colorization=True)
            assert result.ok, result.error
            changes = []
            for t in range(1, len(used)):
                if t == cut:
                    continue
                h, w = used[t].shape[:2]
                moving = cv2.resize(np.maximum(masks[t], masks[t - 1]).astype(np.float32), (w, h),
                                    interpolation=cv2.INTER_AREA) > 0
                changes.append(np.abs(used[t] - used[t - 1])[~moving].mean() * 110)
            print(f"| {alpha:g} | {np.mean(changes):.3f} | {', '.join(map(str, result.cuts)) or 'none'} |")


if __name__ == "__main__":
    main()
