"""`llmdiff plan`: what a training config needs, worked out from model configs on the meta device.

| module | job |
| --- | --- |
| `sources.py` | config files of a local folder, or shipped ones for well-known hub ids |
| `meta_models.py` | LLM, UNet, VAE and CLIP encoders built on the meta device |
| `components.py` | which models a stage holds, which learn (whole or LoRA), in which dtype |
| `activations.py` | bytes kept for backward, traced on meta tensors, with and without checkpointing |
| `memory.py` | bytes per GPU under DDP, ZeRO-2 and ZeRO-3 / FSDP |
| `plan.py` | the plan of a config |
| `report.py` | the plan as a table or JSON |
"""

from llmdiff.plan.plan import RunPlan, make_plan

__all__ = ["RunPlan", "make_plan"]
