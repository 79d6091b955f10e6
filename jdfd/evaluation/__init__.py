"""Measuring the paper's claim: degradations of sketches, metrics, the ``jdfd eval`` run."""
