"""The video codecs infer can write (OpenCV's FFmpeg writer), TF- and OpenCV-free so options can ask.

fourcc -> the file extension its container takes. OpenCV's wheels write mp4v (MPEG-4 part 2)
in .mp4, VP8/VP9 in .webm (which browsers play), MJPG and XVID in .avi. All of them are
written as 4:2:0 video, which needs even sides: OpenCV silently drops a last odd row or column,
so video.py does it itself and says so.
"""

CODEC_EXTENSIONS = {"mp4v": ".mp4", "VP80": ".webm", "VP90": ".webm", "MJPG": ".avi", "XVID": ".avi"}
EVEN_SIDE_CODECS = frozenset(CODEC_EXTENSIONS)  # measured: 47x35 comes back 46x34 from each
