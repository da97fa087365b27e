# The pin's Bluetooth LE layer, in the manner of micropython-lib's aioble:
# one owner of bluetooth.BLE() (radio) and a module per role (advertiser,
# scanner, central, server). API and design choices: docs/ble.md.
