"""The device wing: board profiles, firmware build and flashing, the transports and the framed serial protocol on
them, targets (QEMU, the host runner, the cycle estimate) and the benchmark. It never imports `train` or `cli`."""
