"""The compendium's plumbing: profiles and overrides, the notebooks' ``start()``, the papermill runner,
provenance, the training command (``python -m s2mlib.run.train``) and JupyterLab's git hook.

The top layer beside :mod:`s2mlib.cli`: it may import every layer below.
"""
