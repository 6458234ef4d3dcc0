"""struc2map: experimental-like cryo-EM density maps from atomic structures (after struc2mapGAN)."""

from .atoms import Structure, read_structure
from .errors import DownloadError, ManifestError, MapError, S2MError, StructureError
from .io import DensityMap, read_map, write_map

__all__ = [
    "DensityMap",
    "Structure",
    "read_map",
    "read_structure",
    "write_map",
    "S2MError",
    "MapError",
    "StructureError",
    "ManifestError",
    "DownloadError",
]
__version__ = "0.1.0"
