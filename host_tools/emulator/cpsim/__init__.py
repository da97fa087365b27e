# Simulation core shared by the emulated `machine`, `bluetooth` and `esp32`
# modules. Runs under CPython and under the MicroPython unix port.
