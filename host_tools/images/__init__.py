"""What goes onto a badge's flash: MicroPython firmware written with esptool (flash), and
per-badge images (image) of the app's LittleFS filesystem (fsimage) and the identity's NVS
partition (nvsimage), laid out for the ESP32 family (chips)."""
