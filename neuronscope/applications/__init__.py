"""Applications of the curve family: tracing curves as splines, and NMF factorisation of activations.

Sub-modules are imported on first use: `splines` (the differentiable stroke renderer), `trace`
(`trace_curves`, `Spline`), `factorize` (`factorize`, `factorize_images`, `Groups`).
"""

import importlib

_EXPORTS = {
    "StrokeImage": "splines",
    "Spline": "trace", "trace_curves": "trace",
    "Factorization": "factorize", "Groups": "factorize", "factorize": "factorize",
    "factorize_images": "factorize", "find": "factorize",
}

__all__ = ["Factorization", "Groups", "Spline", "StrokeImage", "factorize", "factorize_images", "find",
           "trace_curves"]


def __getattr__(name):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"neuronscope.applications.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'neuronscope.applications' has no attribute {name!r}")
