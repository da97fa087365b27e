# Status LED: an RGB LED or a single one, either polarity (from boards/).
_COLOURS = {
    "off": (0, 0, 0),
    "red": (1, 0, 0),
    "green": (0, 1, 0),
    "blue": (0, 0, 1),
    "yellow": (1, 1, 0),
    "cyan": (0, 1, 1),
    "magenta": (1, 0, 1),
    "white": (1, 1, 1),
}


class Led:
    def __init__(self, pins, active_low=False):
        """pins: machine.Pin outputs, 3 for RGB or 1 for a single LED."""
        self._pins = pins
        self._off = 1 if active_low else 0
        self.colour = "off"
        self.set("off")

    def set(self, colour):
        rgb = _COLOURS.get(colour)
        if rgb is None:
            raise ValueError("unknown colour %r" % colour)
        if len(self._pins) == 1:
            # A single LED shows any colour as "on".
            self._pins[0].value(self._off ^ (1 if colour != "off" else 0))
        else:
            for i in range(3):
                self._pins[i].value(self._off ^ rgb[i])
        self.colour = colour
