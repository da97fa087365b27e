# CloudPin: what ports/esp32/boards/ESP32_GENERIC builds (its sdkconfig
# fragments, spelled out so that MicroPython 1.26 to 1.28, which have no
# mpconfigboard_esp32_common.cmake, build it too; the Wi-Fi CSI fragment that
# later versions add is left out), plus ROMFS (mpconfigboard.h) and the
# partition table with a "romfs" partition. Built from outside the
# MicroPython tree: `make firmware` (docs/firmware.md).
set(IDF_TARGET esp32)

set(SDKCONFIG_DEFAULTS
    boards/sdkconfig.base
    boards/sdkconfig.ble
)

# ESP-IDF resolves a relative CONFIG_PARTITION_TABLE_CUSTOM_FILENAME against
# ports/esp32, and an sdkconfig fragment cannot name this folder, so the
# setting is written here, at configure time, with the CSV's absolute path;
# the last fragment wins over sdkconfig.base's partitions-4MiBplus.csv.
set(CLOUDPIN_PARTITIONS ${CMAKE_BINARY_DIR}/sdkconfig.cloudpin-partitions)
file(WRITE ${CLOUDPIN_PARTITIONS}
    "CONFIG_PARTITION_TABLE_CUSTOM=y\n"
    "CONFIG_PARTITION_TABLE_CUSTOM_FILENAME=\"${MICROPY_BOARD_DIR}/partitions-cloudpin.csv\"\n")
list(APPEND SDKCONFIG_DEFAULTS ${CLOUDPIN_PARTITIONS})
