# CloudPin. `make demo` sets up and shows two virtual badges meeting; `make test` runs every test.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STUBS  := $(VENV)/esp32-stubs
BOARD  ?= cloudpin_ref
PORT   ?=
FIRMWARE ?=
# `make firmware`: MicroPython built for CloudPin (ROMFS on, docs/firmware.md)
MICROPYTHON_DIR ?=
FW_BOARD_DIR := $(abspath firmware/micropython-esp32/CLOUDPIN)
FW_BUILD     := $(abspath build/firmware-CLOUDPIN)
FW_OUT       := build/cloudpin-esp32-firmware.bin
STEPS_DATA ?= ../shared/data/steps

.PHONY: install test demo bench static flash image deploy logs desk clean help firmware

help:
	@echo "make install   create .venv with every tool (idempotent)"
	@echo "make demo      install, then two virtual badges: provisioned at the desk, tapped together, both logs"
	@echo "make test      all tests: CPython + MicroPython VM, mpy-cross, type check, virtual badges"
	@echo "make bench     benchmarks, written to bench/results.json"
	@echo "make firmware MICROPYTHON_DIR=~/micropython   MicroPython with ROMFS, needs ESP-IDF (idf.py)"
	@echo "make flash BOARD=$(BOARD) PORT=/dev/ttyUSB0|all FIRMWARE=micropython.bin"
	@echo "make image BOARD=$(BOARD)   LittleFS (+ romfs) + NVS + firmware merged image"
	@echo "make deploy PORT=...        copy the compiled app to a running badge"
	@echo "make logs [PORT=...]        read badge logs"

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	$(BIN)/python -m pip install -q --upgrade --target $(STUBS) micropython-esp32-stubs==1.29.0.post1
	touch $@

test: install
	$(BIN)/python -m pytest -q tests

demo: install
	$(BIN)/cloudpin demo --board $(BOARD)

bench: install
	$(BIN)/cloudpin bench all --data $(STEPS_DATA) --out bench/results.json

# Each missing piece stops the build with one line naming it (CI has neither).
firmware:
	$(if $(MICROPYTHON_DIR),,$(error make firmware: MICROPYTHON_DIR is not set: give a MicroPython checkout (v1.26 or later), e.g. make firmware MICROPYTHON_DIR=~/micropython))
	$(if $(wildcard $(MICROPYTHON_DIR)/ports/esp32/esp32_partition.c),,$(error make firmware: $(MICROPYTHON_DIR) is not a MicroPython checkout (no ports/esp32/esp32_partition.c)))
	$(if $(shell grep -l mp_vfs_rom_ioctl $(MICROPYTHON_DIR)/ports/esp32/esp32_partition.c),,$(error make firmware: the MicroPython in $(MICROPYTHON_DIR) is too old: its ESP32 port has no ROMFS (v1.26 or later needed)))
	$(if $(shell command -v idf.py),,$(error make firmware: idf.py not found: install ESP-IDF (the version $(MICROPYTHON_DIR)/ports/esp32/README.md names) and source its export.sh))
	$(MAKE) -C $(MICROPYTHON_DIR)/mpy-cross
	$(MAKE) -C $(MICROPYTHON_DIR)/ports/esp32 BOARD_DIR=$(FW_BOARD_DIR) BUILD=$(FW_BUILD) submodules
	$(MAKE) -C $(MICROPYTHON_DIR)/ports/esp32 BOARD_DIR=$(FW_BOARD_DIR) BUILD=$(FW_BUILD)
	cp $(FW_BUILD)/firmware.bin $(FW_OUT)
	@echo "$(FW_OUT): bootloader, partition table (romfs at 0x200000) and app, written at 0x1000: make flash FIRMWARE=$(FW_OUT)"

flash: install
	$(BIN)/cloudpin flash --board $(BOARD) --port $(or $(PORT),all) --firmware $(FIRMWARE)

image: install
	$(BIN)/cloudpin image --board $(BOARD) -o build/$(BOARD)-image.bin $(if $(FIRMWARE),--firmware $(FIRMWARE))

deploy: install
	$(BIN)/cloudpin deploy --board $(BOARD) $(if $(PORT),--port $(PORT),--all)

logs: install
	$(BIN)/cloudpin logs $(if $(PORT),$(PORT),--all)

desk: install
	$(BIN)/cloudpin desk

clean:
	rm -rf build .pytest_cache
