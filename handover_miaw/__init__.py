"""handover-miaw: hand a chatbot conversation over to Salesforce MIAW agents and carry it both ways."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("handover-miaw")
except PackageNotFoundError:  # an unpacked archive run without installing
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
