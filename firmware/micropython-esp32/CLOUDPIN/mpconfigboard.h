// CloudPin: MicroPython's ESP32_GENERIC board with ROMFS enabled, so that the
// firmware package's .mpy files run in place from the "romfs" partition
// instead of being loaded into the heap (docs/firmware.md).
#define MICROPY_HW_BOARD_NAME "CloudPin ESP32 module"
#define MICROPY_HW_MCU_NAME "ESP32"

// vfs.VfsRom, vfs.rom_ioctl (ports/esp32/esp32_partition.c: the data
// partition labelled "romfs") and /rom mounted at start-up.
#define MICROPY_VFS_ROM (1)
