"""Endpoints: the wire schema of each served endpoint id and its adapter to a VideoRequest.

``ENDPOINTS`` maps every served endpoint id to its :class:`EndpointSpec`; the API validates
with ``spec.input_model`` and the worker turns a validated input into a
:class:`~vidserve.engines.base.VideoRequest` with ``spec.to_video_request``.
"""

from vidserve.endpoints.base import (
    EndpointSpec,
    FileInput,
    OutputSettings,
    app_id,
    validate_input,
    validation_details,
)
from vidserve.endpoints.kling import KLING_ENDPOINTS

ENDPOINTS: dict[str, EndpointSpec] = {spec.endpoint_id: spec for spec in KLING_ENDPOINTS}

__all__ = [
    "ENDPOINTS",
    "EndpointSpec",
    "FileInput",
    "OutputSettings",
    "app_id",
    "validate_input",
    "validation_details",
]
