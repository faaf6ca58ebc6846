"""Media handling: probing, decoding, image ingest, encoding and joining clips.

Modules: `ffmpeg` (finding and running the binary), `probe` (what a file contains,
via PyAV), `frames` (first/last/all frames), `images` (safe image ingest, keyframe
files), `encode` (frames to an MP4 clip), `concat` (joining clips). Import the
module you need; this package imports nothing so that `import ttv` stays light.
"""
