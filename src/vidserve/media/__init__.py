"""Media helpers: image and mask handling, trajectories, audio (decoding, checks, features,
encoding), input videos, and streaming video encoding with an optional audio track."""
