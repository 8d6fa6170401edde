"""The training loop, its runtime options and checkpoints."""
