"""Scale benchmark: a synthetic region in the real source formats, the build and page queries timed at size."""

# Imported first so openpyxl, whenever it loads, writes with the standard library (see common/__init__.py).
import common  # noqa: F401
