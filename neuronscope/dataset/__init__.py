"""Dataset analysis: streaming, mergeable per-unit statistics and examples of a layer over images.

    stats = compute_stats(model, "block6_expand", "images/", out_dir="out/stats")
    stats.mean, stats.std, stats.frac_positive, stats.quantile(0.99), stats.top(7)
    load_stats("out/stats"); merge_results(["shard1", "shard2"], "merged")
"""

from neuronscope.dataset.figures import plot_distribution, plot_overview, plot_quilt, write_figures
from neuronscope.dataset.histogram import tail_fits
from neuronscope.dataset.result import Example, Stats, load_stats
from neuronscope.dataset.run import compute_stats, merge_results
from neuronscope.dataset.sources import ImageSource, resolve_source

__all__ = [
    "Example",
    "ImageSource",
    "Stats",
    "compute_stats",
    "load_stats",
    "merge_results",
    "plot_distribution",
    "plot_overview",
    "plot_quilt",
    "resolve_source",
    "tail_fits",
    "write_figures",
]
