"""Media helpers: image and mask handling, trajectories and streaming video encoding."""
