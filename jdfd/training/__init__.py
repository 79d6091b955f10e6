"""Training-only pieces (losses, loops); imported only when training."""
