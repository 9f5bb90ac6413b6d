"""Apache Airflow provider for image-to-video generation on the Vtrix gateway.

Importing this package is free: it holds only the version. The hook, operator,
trigger and sensor live in their own modules and are imported by name.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
