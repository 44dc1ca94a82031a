"""Faces for the engines: detection, the 468-point mesh, what it measures, tracking through a
video, and a person mask. MediaPipe's models on the LiteRT runtime, on the CPU.

Install with the ``faces`` extra and ``python -m vidserve.engines.faces.install`` (see
:mod:`.models`). Importing this package loads no model and needs no runtime: the first call
does, and raises :class:`FacesUnavailableError` (a :class:`~vidserve.errors.ConfigError`)
saying how to install what is missing. Never imported by ``api``.

Images are RGB ``uint8`` arrays (h, w, 3); points are ``(x, y)`` pixels from the image's
top-left corner (pixel centres at +0.5), with a relative depth ``z`` on mesh points.
"""

from vidserve.engines.faces.detect import Face, Keypoint, detect_faces, largest_face
from vidserve.engines.faces.measure import (
    FACE_OVAL,
    JAW,
    LEFT_EYE,
    LIPS_INNER,
    LIPS_OUTER,
    RIGHT_EYE,
    EyeOpenness,
    HeadPose,
    eye_openness,
    face_size,
    head_pose,
    lip_gap,
)
from vidserve.engines.faces.mesh import Mesh, landmarks, read_mesh, roi_from_face, roi_from_points
from vidserve.engines.faces.models import (
    ENV_MODELS,
    INSTALL_HINT,
    FacesUnavailableError,
    check_available,
    models_dir,
)
from vidserve.engines.faces.segment import person_mask
from vidserve.engines.faces.tracker import FaceTracker, TrackedFace

__all__ = [
    "ENV_MODELS",
    "FACE_OVAL",
    "INSTALL_HINT",
    "JAW",
    "LEFT_EYE",
    "LIPS_INNER",
    "LIPS_OUTER",
    "RIGHT_EYE",
    "EyeOpenness",
    "Face",
    "FaceTracker",
    "FacesUnavailableError",
    "HeadPose",
    "Keypoint",
    "Mesh",
    "TrackedFace",
    "check_available",
    "detect_faces",
    "eye_openness",
    "face_size",
    "head_pose",
    "landmarks",
    "largest_face",
    "lip_gap",
    "models_dir",
    "person_mask",
    "read_mesh",
    "roi_from_face",
    "roi_from_points",
]
