"""Maps from models and from maps, arrays in and arrays out: the simulators, the generator's input, map
operations and filters, B-factors and secondary structure, the noise model of sample maps and its quality.

Imports :mod:`s2mlib.io` and :mod:`s2mlib.metrics` (the layer it shares), never the network.
"""
