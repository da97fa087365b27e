"""The wearer's phone, as a library and `cloudpin phone`: the reference
client of the pin's phone service (docs/phone-api.md) on the emulated air
or a real Bluetooth adapter (bleak)."""
from host_tools.phone.client import PinClient, PhoneClientError

__all__ = ["PinClient", "PhoneClientError"]
