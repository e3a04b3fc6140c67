"""batchai_kit: Azure Batch AI resources as context managers, with an embedded local emulator."""

__version__ = "0.1.0"

__all__ = ["__version__"]
