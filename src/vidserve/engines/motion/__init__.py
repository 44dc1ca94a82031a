"""The built-in CPU engine: camera moves, motion brush, start-to-end transitions, storyboards,
images in turn (elements, references) and effect scenes."""

from vidserve.engines.motion.engine import MotionEngine

__all__ = ["MotionEngine"]
