"""The HTTP API: fal's queue, run and file routes, built by :func:`create_app`."""

from vidserve.api.app import create_app

__all__ = ["create_app"]
