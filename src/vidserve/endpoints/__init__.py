"""Endpoints: the Kling catalog, each endpoint's wire schema, rules and adapter.

``ENDPOINTS`` maps every served endpoint id to its :class:`EndpointSpec`; the API validates
with ``spec.validate`` (schema and Kling's rules on the body), the worker fetches
``spec.files``, checks them with ``spec.check_files`` and builds the engine-neutral
:class:`~vidserve.engines.base.VideoRequest` with ``spec.to_video_request``.
"""

from vidserve.endpoints.adapter import Asks, output_size, refusals
from vidserve.endpoints.base import (
    EndpointSpec,
    Price,
    app_id,
    validate_input,
    validation_details,
)
from vidserve.endpoints.catalog import CATALOG
from vidserve.endpoints.files import FileInput
from vidserve.endpoints.tiers import OutputSettings

ENDPOINTS: dict[str, EndpointSpec] = {spec.endpoint_id: spec for spec in CATALOG}

__all__ = [
    "ENDPOINTS",
    "Asks",
    "EndpointSpec",
    "FileInput",
    "OutputSettings",
    "Price",
    "app_id",
    "output_size",
    "refusals",
    "validate_input",
    "validation_details",
]
