"""Procedural worlds: small synthetic text-to-image domains with exact answers.

Each world samples scenes, renders them, captions them and scores images against them, so that a model
can be trained and judged on this machine without any downloaded data. Worlds never import training code.
"""
