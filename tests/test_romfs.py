"""The firmware package as a ROMFS image (host_tools/images/romfs.py): built
with mpremote's writer, read back, size-checked, and mounted in the
MicroPython VM as the chip mounts its romfs partition (vfs.VfsRom at /rom,
"/rom" and "/rom/lib" appended to sys.path), where the app imports from it."""
import pytest

from host_tools import FIRMWARE_DIR
from host_tools.demo import vm_arch
from host_tools.fw import vm
from host_tools.images import romfs
from host_tools.images.fsimage import ImageError


@pytest.fixture(scope="module")
def vm_files():
    return romfs.package_files(vm_arch(vm.micropython_binary()))


def test_the_image_holds_the_package_as_mpy_and_reads_back(vm_files):
    image = romfs.build(vm_files)
    assert image[:3] == romfs.HEADER and len(image) % 2 == 0  # the format's rule: an even record
    back = romfs.files(image)
    assert back == vm_files
    assert "/cloudpin/app.mpy" in back and "/cloudpin/social/meet.mpy" in back
    # boot.py and main.py stay on littlefs, as source; nothing else is left out
    assert "/boot.py" not in back and "/main.py" not in back
    sources = {p.relative_to(FIRMWARE_DIR).as_posix() for p in FIRMWARE_DIR.rglob("*.py")
               if "__pycache__" not in p.parts}
    assert {"/" + s[:-3] + ".mpy" for s in sources} - set(back) == {"/boot.mpy", "/main.mpy"}


def test_size_check_and_bad_images():
    image = romfs.build({"/a/b.txt": b"x" * 100, "/c": b""})
    assert romfs.files(image) == {"/a/b.txt": b"x" * 100, "/c": b""}
    assert romfs.check_size(image, len(image)) == len(image)
    with pytest.raises(ImageError, match="does not fit"):
        romfs.check_size(image, len(image) - 1)
    with pytest.raises(ImageError, match="no RM1 header"):
        romfs.files(b"\0" + image[1:])
    with pytest.raises(ImageError, match="says"):
        romfs.files(image[:-4])
    with pytest.raises(ImageError, match="both a file and a directory"):
        romfs.build({"/a": b"1", "/a/b": b"2"})


_IMPORT = """
import os
print("PATH", sys.path)
print("LIST", " ".join(sorted(os.listdir("/rom/cloudpin"))))
import cloudpin.app
print("FILE", cloudpin.app.__file__)
print("APP", hasattr(cloudpin.app, "App"))
"""


def test_the_image_mounts_in_the_vm_and_the_app_imports_from_rom(vm_files):
    image = romfs.build(vm_files)
    # the emulator only on the path: the firmware can come from nowhere but /rom
    out = vm.run_script(romfs.vm_mount_source("fw.romfs") + _IMPORT, {"fw.romfs": image}, what="romfs import", heap="4m",
                        path=[vm.emulator_dir()])
    lines = dict(line.split(" ", 1) for line in out.splitlines() if " " in line)
    assert lines["FILE"] == "/rom/cloudpin/app.mpy"
    assert lines["PATH"].endswith("'/rom', '/rom/lib']"), lines["PATH"]  # appended: the folders before win
    assert lines["APP"] == "True"
    assert "app.mpy" in lines["LIST"].split() and "social" in lines["LIST"].split()
