"""Neural building blocks with explicit typed arguments (no config objects)."""
