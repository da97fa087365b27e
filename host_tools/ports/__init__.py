"""Badges' serial ports: which ports are badges (usb), and one worker per port for the
tools that serve many badges at once (pool)."""
