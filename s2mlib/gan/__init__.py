"""The network and what runs it: cube tiling, training patches and their augmentation, the U-Net++ generator and
the discriminator, the training loop with its losses and checkpoints, data-parallel plumbing, weights files, the
arithmetic and runtime of inference, generation, the batch of many structures and its writer, templates.

Imports :mod:`s2mlib.io`, :mod:`s2mlib.sim` and :mod:`s2mlib.metrics`; never the studies or the run.
"""
