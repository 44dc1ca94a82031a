"""The built-in CPU engine: camera moves, motion brush and start-to-end transitions."""

from vidserve.engines.motion.engine import MotionEngine

__all__ = ["MotionEngine"]
