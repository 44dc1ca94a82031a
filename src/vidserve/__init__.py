"""vidserve: self-hosted video generation behind fal's Kling API."""

__version__ = "0.1.0"
