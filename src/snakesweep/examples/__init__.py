"""Example experiments that ship with snakesweep."""
