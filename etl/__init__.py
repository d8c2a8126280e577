# Imported first so openpyxl, whenever it loads, writes with the standard library (see common/__init__.py).
import common  # noqa: F401
