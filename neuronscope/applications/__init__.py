"""Applications of the curve family: tracing curves as splines, and NMF factorisation of activations.

Sub-modules are imported on first use: `splines` (the differentiable stroke renderer), `trace`
(`trace_curves`, `Spline`), `factorize` (`factorize.factorize` for one image, `factorize_images`, `Groups`,
`find_groups`).
"""

import importlib

_EXPORTS = {
    "StrokeImage": "splines",
    "Spline": "trace", "trace_curves": "trace",
    "Factorization": "factorize", "Groups": "factorize", "factorize_images": "factorize",
    "find_groups": "factorize",
}

__all__ = ["Factorization", "Groups", "Spline", "StrokeImage", "factorize_images", "find_groups", "trace_curves"]


def __getattr__(name):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"neuronscope.applications.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'neuronscope.applications' has no attribute {name!r}")
