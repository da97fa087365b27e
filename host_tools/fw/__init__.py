"""The firmware as host tools see it: what they take from its source (source), the
MicroPython VM it runs in on the host (vm), and its static checks for the ESP32
(static_check)."""
