"""Applications of the curve family: curve extraction by attribution (and its benchmark against
Canny), combing, tracing curves as splines, and NMF factorisation of activations.

    curve_map = ns.applications.extract_curves(model, image)        # (H, W) in [0, 1]
    items = ns.applications.curve_set(32, size=160, seed=0)        # images with known curves
    ns.applications.benchmark(model, n=32).save("out/")            # ODS vs Canny: bench.json, bench.md
    ns.applications.retina_figure(model, "out/")                    # extraction beside Canny, full resolution
    results, doc = ns.applications.run_combing(model, out_dir="out/")   # combing.json, combing.png

Sub-modules are imported on first use: `curves` (synthetic images with known curves), `extract`
(`extract_curves`), `bench` (the ODS benchmark), `splines` (the differentiable stroke renderer), `trace`
(`trace_curves`, `Spline`), `factorize` (`factorize.factorize` for one image, `factorize_images`, `Groups`,
`find_groups`).
"""

import importlib

_EXPORTS = {
    "extract_curves": "extract", "curve_attribution": "extract", "family_of": "extract",
    "CurveImage": "curves", "curve_image": "curves", "curve_set": "curves", "random_path": "curves",
    "stroke_coverage": "curves", "rasterize_centerline": "curves",
    "benchmark": "bench", "Benchmark": "bench",
    "combing_survey": "combing", "run_combing": "combing", "Combing": "combing",
    "retina_figure": "figures", "combing_figure": "figures",
    "StrokeImage": "splines",
    "Spline": "trace", "trace_curves": "trace",
    "Factorization": "factorize", "Groups": "factorize", "factorize_images": "factorize",
    "find_groups": "factorize",
}

__all__ = ["Benchmark", "Combing", "CurveImage", "Factorization", "Groups", "Spline", "StrokeImage", "benchmark",
           "combing_figure", "combing_survey", "curve_attribution", "curve_image", "curve_set", "extract_curves",
           "factorize_images", "family_of", "find_groups", "random_path", "rasterize_centerline", "retina_figure",
           "run_combing", "stroke_coverage", "trace_curves"]


def __getattr__(name):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"neuronscope.applications.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'neuronscope.applications' has no attribute {name!r}")
