"""Reading and writing weights: the authors' pickles (:mod:`.authors`), jdfd's own
pickle-free format (:mod:`.pretrained`), and the strict loader both use (:mod:`.strict`)."""
