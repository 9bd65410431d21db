"""One module per sub-command; see `neuronscope.cli`."""
