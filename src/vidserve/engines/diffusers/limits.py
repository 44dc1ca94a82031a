"""What a loaded model can take, read from its own configs, and the fitting of a request
inside it; no torch.

A diffusion transformer cannot run every shape: Wan's rotary table has ``rope_max_seq_len``
rows per axis, CogVideoX 1.0's image model learned positions for one latent size and
length, CogVideoX 1.5 slices its rotary grid from the sample size, and every model wants
sides in multiples of its VAE stride times its patch size and frame counts in its VAE's
temporal steps. :class:`ModelLimits` holds these; the engines read them when they are made,
refuse at start an option that asks for more (a ``max_area`` larger than the positional
table), and fit each request inside them, so no request reaches the model with a shape it
cannot run.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from vidserve.engines.diffusers.common import fit_size
from vidserve.engines.diffusers.options import DiffusionOptions
from vidserve.errors import ConfigError


@dataclass(frozen=True)
class ModelLimits:
    """The shapes one weights folder's model can run."""

    #: Both sides are multiples of this (VAE stride x patch size, and the pipeline's own).
    size_multiple: int
    #: Frame counts are ``frame_multiple * k + 1`` (the VAE's temporal stride).
    frame_multiple: int
    #: The widest and tallest frame its positional table reaches (None: no table).
    max_width: int | None = None
    max_height: int | None = None
    #: The most frames one generation may have (None: no table).
    max_frames: int | None = None
    #: The one size learned positions allow, else None.
    fixed_size: tuple[int, int] | None = None
    #: Where the limits come from, for messages ("its rotary table, rope_max_seq_len 32").
    source: str = ""

    @property
    def largest_area(self) -> int | None:
        """The most pixels a frame can have, or None when any size runs."""
        if self.fixed_size is not None:
            return self.fixed_size[0] * self.fixed_size[1]
        if self.max_width is None or self.max_height is None:
            return None
        return self.max_width * self.max_height

    def check_options(self, engine: str, label: str, options: DiffusionOptions) -> None:
        """ConfigError, at start, for a ``max_area`` or ``max_frames`` the model cannot take."""
        area, largest = options.max_area, self.largest_area
        smallest = self.size_multiple**2
        if area is not None and area < smallest:
            raise ConfigError(
                f"engine {engine}: max_area = {area} is smaller than one {self.size_multiple}x"
                f"{self.size_multiple} frame, the smallest {label} renders"
            )
        if area is not None and self.fixed_size is not None and largest is not None:
            if area < largest:
                raise ConfigError(
                    f"engine {engine}: max_area = {area} is less than {label} renders: "
                    f"{self.describe_size()} ({self.source}); set max_area >= {largest} or "
                    "remove it"
                )
        elif area is not None and largest is not None and area > largest:
            raise ConfigError(
                f"engine {engine}: max_area = {area} is more than {label} can render: "
                f"{self.describe_size()} ({self.source}); set max_area <= {largest} or remove it"
            )
        most = self.max_frames
        if options.max_frames is not None and most is not None and options.max_frames > most:
            raise ConfigError(
                f"engine {engine}: max_frames = {options.max_frames} is more than {label} "
                f"renders at once: {most} ({self.source}); set max_frames <= {most} or remove it"
            )

    def describe_size(self) -> str:
        """The sizes it takes, in words."""
        if self.fixed_size is not None:
            return f"only {self.fixed_size[0]}x{self.fixed_size[1]}"
        return f"at most {self.max_width} wide and {self.max_height} high"

    def size(self, width: int, height: int, max_area: int) -> tuple[int, int]:
        """The output size for a request of ``width`` x ``height``: its aspect ratio, at most
        ``max_area`` pixels, inside the positional table, in multiples of the stride."""
        if self.fixed_size is not None:
            return self.fixed_size
        area = max_area
        aspect = width / height
        # Shrink the area until the aspect-kept frame fits both sides of the table.
        if self.max_width is not None:
            area = min(area, math.floor(self.max_width**2 / aspect))
        if self.max_height is not None:
            area = min(area, math.floor(self.max_height**2 * aspect))
        fitted = fit_size(width, height, self.size_multiple, max(area, self.size_multiple**2))
        return self._clamped(*fitted)

    def _clamped(self, width: int, height: int) -> tuple[int, int]:
        # A rounding at an extreme aspect ratio can still pass a side by one stride.
        if self.max_width is not None:
            width = min(width, self.max_width // self.size_multiple * self.size_multiple)
        if self.max_height is not None:
            height = min(height, self.max_height // self.size_multiple * self.size_multiple)
        return max(width, self.size_multiple), max(height, self.size_multiple)

    def frame_cap(self, option: int | None, default: int | None = None) -> int | None:
        """The most frames one generation renders: the option (checked at start), else the
        family's default, never past the model's table."""
        wanted = option if option is not None else default
        if wanted is None:
            return self.max_frames
        return wanted if self.max_frames is None else min(wanted, self.max_frames)


def table_side(rows: int, patch: int, stride: int, multiple: int) -> int:
    """The largest side, in pixels and a multiple of ``multiple``, that a positional table
    of ``rows`` rows reaches through a patch of ``patch`` latents of ``stride`` pixels."""
    return rows * patch * stride // multiple * multiple
