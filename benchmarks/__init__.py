"""Scale benchmark: a synthetic region in the real source formats, the build and page queries timed at size."""
