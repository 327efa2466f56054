"""`llmdiff serve`: a web page and a JSON API in front of one shared pipeline.

One module per job: `config` (what the operator sets), `limits` (what one request may ask for),
`queue` (one model call at a time, a bounded wait), `generation` (pipeline call → saved PNGs),
`auth` (the access token), `api` (JSON routes), `page` (the Gradio page), `app` (wiring and the server).
"""

from llmdiff.serve.config import ServeConfig
from llmdiff.serve.limits import GenerationSettings, Limits

__all__ = ["GenerationSettings", "Limits", "ServeConfig"]
