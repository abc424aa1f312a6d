"""`python -m tinyml.cli`: the same command line as `tinyml`."""
from tinyml.cli import main

main()
