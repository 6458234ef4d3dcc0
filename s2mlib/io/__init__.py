"""Files in and out: density maps and atomic models (MRC/CCP4, PDB/mmCIF), manifests and curation tables,
downloads and their sources, caches of work done, output files written whole, memory checks, progress bars.

The first layer: its modules import nothing of s2mlib but :mod:`s2mlib.errors`, :mod:`s2mlib.version` and each other.
"""
