"""qsys: a Grid Engine-style batch system."""

__version__ = "0.1.0"
