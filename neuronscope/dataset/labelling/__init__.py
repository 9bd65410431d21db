"""Blind labelling of a unit's dataset samples, and the figures made from the labels.

    session = LabelSession("out/stats", unit=7)                 # answers in out/stats/labels/unit_0007.jsonl
    make_server(session).serve_forever()                        # or label_in_terminal(session)
    plot_label_figures(session, "out/stats/labels/figures")     # fractions, density, contribution
"""

from neuronscope.dataset.labelling.figures import contribution_shares, plot_label_figures, split_histogram
from neuronscope.dataset.labelling.session import DEFAULT_CATEGORIES, LabelSession, sessions
from neuronscope.dataset.labelling.terminal import label_in_terminal
from neuronscope.dataset.labelling.web import make_server

__all__ = ["DEFAULT_CATEGORIES", "LabelSession", "contribution_shares", "label_in_terminal", "make_server",
           "plot_label_figures", "sessions", "split_histogram"]
