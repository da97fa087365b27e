# CloudPin: what ports/esp32/boards/ESP32_GENERIC builds, plus ROMFS
# (mpconfigboard.h) and the partition table with a "romfs" partition.
# Built from outside the MicroPython tree: `make firmware` (docs/firmware.md).
include(boards/mpconfigboard_esp32_common.cmake)

list(APPEND SDKCONFIG_DEFAULTS
    boards/sdkconfig.csi)

# ESP-IDF resolves a relative CONFIG_PARTITION_TABLE_CUSTOM_FILENAME against
# ports/esp32, and an sdkconfig fragment cannot name this folder, so the
# setting is written here, at configure time, with the CSV's absolute path;
# the last fragment wins over sdkconfig.base's partitions-4MiBplus.csv.
set(CLOUDPIN_PARTITIONS ${CMAKE_BINARY_DIR}/sdkconfig.cloudpin-partitions)
file(WRITE ${CLOUDPIN_PARTITIONS}
    "CONFIG_PARTITION_TABLE_CUSTOM=y\n"
    "CONFIG_PARTITION_TABLE_CUSTOM_FILENAME=\"${MICROPY_BOARD_DIR}/partitions-cloudpin.csv\"\n")
list(APPEND SDKCONFIG_DEFAULTS ${CLOUDPIN_PARTITIONS})
