"""Badges' USB serial adapters: which ports look like ESP32 boards (by the
USB vendor and product id of their USB-UART bridge: `--all` in flash, deploy
and logs), every USB adapter plugged in (the desk's hot-plug), and the
adapter's own serial number as a label.

Every lister reads pyserial's list_ports at the call, so tests can hand in
their own entries."""
import os

from serial.tools import list_ports

# USB-UART bridges found on ESP32 boards, by (VID, PID).
USB_SERIAL = {
    (0x10C4, 0xEA60): "Silicon Labs CP210x",
    (0x1A86, 0x7523): "WCH CH340",
    (0x1A86, 0x55D4): "WCH CH9102",
    (0x0403, 0x6001): "FTDI FT232R",
    (0x0403, 0x6015): "FTDI FT231X",
    (0x303A, 0x1001): "Espressif USB-Serial/JTAG",
}


def discover_ports(comports=None):
    """Device names of the USB serial ports that look like ESP32 boards."""
    entries = (comports or list_ports.comports)()
    return sorted(p.device for p in entries if (p.vid, p.pid) in USB_SERIAL)


def none_found():
    """The error line when `--all` finds no badge."""
    return "error: no USB serial port found; known adapters: %s" % ", ".join(
        "%s (%04X:%04X)" % (n, v, p) for (v, p), n in USB_SERIAL.items())


def usb_serial_ports():
    """Device paths of the USB serial adapters plugged in now (a USB vendor
    id tells them from the motherboard's own ttyS ports)."""
    return sorted(p.device for p in list_ports.comports() if p.vid is not None)


def adapter_label(port, comports=None):
    """usb-<serial number> of the USB adapter behind `port`, if it has one."""
    real = os.path.realpath(port)
    for p in (comports or list_ports.comports)():
        if os.path.realpath(p.device) == real and getattr(p, "serial_number", None):
            return "usb-" + p.serial_number
    return None
