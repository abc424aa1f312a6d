"""tinyml: compile int8 TFLite models ahead of time into plain C for Cortex-M microcontrollers."""
__version__ = "0.1.0"
