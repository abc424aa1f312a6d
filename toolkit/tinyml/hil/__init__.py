"""Hardware in the loop: Robot Framework suites for a model on a board, run on QEMU or under Renode.

`suite` writes a suite directory (test vectors with the host's outputs, the image, Renode files), `keywords` is
the Robot keyword library, `renode` generates the Renode platform and script, `run` runs a suite and reads the
results. See docs/HIL.md.
"""
