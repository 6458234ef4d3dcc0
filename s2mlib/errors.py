"""Exceptions raised for bad input. Every message names the file (or ID) and the problem."""


class S2MError(Exception):
    """Base class of struc2map's user-facing errors (the CLI prints them without a traceback)."""


class MapError(S2MError, ValueError):
    """A density map file is missing, not an MRC/CCP4 map, truncated, corrupt, or holds NaN/Inf."""


class StructureError(S2MError, ValueError):
    """A model file is missing, not PDB/mmCIF, empty, or has atoms of unknown element."""


class ManifestError(S2MError, ValueError):
    """A manifest table is missing columns or points at files that do not exist."""


class DownloadError(S2MError, OSError):
    """A download failed (bad ID, HTTP error, truncated or corrupt file)."""
