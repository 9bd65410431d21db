"""`neuronscope report`: the "Curve Detectors" article for any model and layer, as a static page."""

from neuronscope.report.build import build_report

__all__ = ["build_report"]
