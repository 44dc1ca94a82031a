"""Engines turn an engine-neutral :class:`~vidserve.engines.base.VideoRequest` into a video."""
