# CloudPin. `make demo` sets up and shows two virtual badges meeting; `make test` runs every test.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STUBS  := $(VENV)/esp32-stubs
BOARD  ?= cloudpin_ref
PORT   ?=
FIRMWARE ?=
STEPS_DATA ?= ../shared/data/steps

.PHONY: install test demo bench static flash image deploy logs desk clean help

help:
	@echo "make install   create .venv with every tool (idempotent)"
	@echo "make demo      install, then two virtual badges: provisioned at the desk, tapped together, both logs"
	@echo "make test      all tests: CPython + MicroPython VM, mpy-cross, type check, virtual badges"
	@echo "make bench     benchmarks, written to bench/results.json"
	@echo "make flash BOARD=$(BOARD) PORT=/dev/ttyUSB0|all FIRMWARE=micropython.bin"
	@echo "make image BOARD=$(BOARD)   LittleFS + NVS + firmware merged image"
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
