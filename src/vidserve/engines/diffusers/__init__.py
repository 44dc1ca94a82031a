"""Open-weight image-to-video engines through diffusers: Wan (:mod:`.wan`), LTX-Video
(:mod:`.ltx`) and CogVideoX (:mod:`.cogvideox`), loaded from local folders only.

Importing these modules imports neither torch nor diffusers: the weights folder is checked
from its JSON when an engine is made (a worker fails fast, the API stays light), and the
libraries load with the model, in the engine's child process (:mod:`vidserve.worker.child`).
"""
