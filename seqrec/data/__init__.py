"""Data loading: raw-file readers and the registry of benchmark datasets."""
