"""Open-weight video engines through diffusers: Wan (:mod:`.wan`), LTX-Video (:mod:`.ltx`)
and CogVideoX (:mod:`.cogvideox`), loaded from local folders only. Each makes what its
weights folder can (image-, text- or reference-to-video, storyboards: its ``capabilities``,
read from the folder's configs); :mod:`.shots` holds what the families share about a
request's shape, :mod:`.limits` what a model's positional table lets it render,
:mod:`.loras` the LoRA files an engine and its requests may use.

Importing these modules imports neither torch nor diffusers: the weights folder is checked
from its JSON when an engine is made (a worker fails fast, the API stays light), and the
libraries load with the model, in the engine's child process (:mod:`vidserve.worker.child`).
"""
