"""Shared air for virtual badges: one emulated radio (cpsim.radio) in the host
process that every badge VM of a farm, and host-side centrals, are stations
of. docs/radio.md, "Shared air"."""
from host_tools.air.central import Advert, Central, Connection, GattError
from host_tools.air.hub import AirHub

__all__ = ["Advert", "AirHub", "Central", "Connection", "GattError"]
