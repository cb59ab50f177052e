"""querysight: record every SQL query of each unit of work and report it to the querysight server."""

__version__ = "0.1.0"

__all__ = ["__version__"]
