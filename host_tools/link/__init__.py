"""The serial link to running badges: one raw-REPL session every tool uses
(session), which ports are badges (usb), and one worker per port for tools
that serve many badges at once (pool)."""
