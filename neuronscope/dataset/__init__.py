"""Dataset analysis: streaming, mergeable per-unit statistics and examples of a layer over images.

    stats = compute_stats(model, "block6_expand", "images/", out_dir="out/stats")
    stats.mean, stats.std, stats.frac_positive, stats.quantile(0.99), stats.top(7)
    load_stats("out/stats"); merge_results(["shard1", "shard2"], "merged")
    plot_quilt(stats, 7, "quilt.png", attribution=True)      # examples, and where they come from
    LabelSession("out/stats", 7)                              # blind labels (see dataset.labelling)
"""

from neuronscope.dataset.figures import plot_distribution, plot_overview, write_figures
from neuronscope.dataset.histogram import tail_fits
from neuronscope.dataset.labelling import LabelSession, label_in_terminal, make_server, plot_label_figures
from neuronscope.dataset.quilt import plot_quilt
from neuronscope.dataset.result import Example, Stats, load_stats
from neuronscope.dataset.run import compute_stats, merge_results
from neuronscope.dataset.sources import ImageSource, resolve_source

__all__ = [
    "Example",
    "ImageSource",
    "LabelSession",
    "Stats",
    "compute_stats",
    "label_in_terminal",
    "load_stats",
    "make_server",
    "merge_results",
    "plot_distribution",
    "plot_label_figures",
    "plot_overview",
    "plot_quilt",
    "resolve_source",
    "tail_fits",
    "write_figures",
]
