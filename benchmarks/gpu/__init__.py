"""Scripts for the one-off GPU run of the model zoo (see run_zoo.sh, run_zoo.py, merge_back.py)."""
