# What the phone role needs at boot, before any phone comes (the rest of
# the phone service is imported on the first double tap or write: ~11 KB of a
# pin's heap that a pin nobody pairs with never spends).
from micropython import const

SERVICE_UUID = "441050e0-0cce-49cc-b8ae-553248e3a2ab"
RX_UUID = "441050e1-0cce-49cc-b8ae-553248e3a2ab"  # phone -> pin: write (with or without response)
TX_UUID = "441050e2-0cce-49cc-b8ae-553248e3a2ab"  # pin -> phone: notify

# event codes (inside a sealed EVENT)
EV_FRIEND = const(1)  # a friend entry
EV_UPDATE = const(2)  # slot u16 | steps u32 | made u16 | unix s u32
EV_DESIGN = const(3)  # index u8: a design was unlocked
EV_BATTERY = const(4)  # percent u8 | low u8
