"""One reader for the VM's `ROW name us heap` lines (host_tools.fw.vm.rows),
which the social and designs benches both print with vm.ROW_FN."""
from host_tools.fw import vm


def test_rows_reads_row_lines_and_leaves_the_rest():
    out = "HEAP pack_kept 3600\nROW decode 12.3456 0\nnoise\nROW draw 1500.004 48\nROW short 1\nBULK x 5\n"
    assert vm.rows(out, 50) == {
        "decode": {"vm_us": 12.35, "heap_bytes": 0, "esp32_ms_estimate": 0.62},
        "draw": {"vm_us": 1500.0, "heap_bytes": 48, "esp32_ms_estimate": 75.0},
    }


def test_row_fn_in_the_vm_measures_what_a_call_allocates():
    code = vm.ROW_FN + (
        "row('nothing', lambda: None, 50)\n"
        "row('kilobyte', lambda: bytearray(1024), 5)\n"
        "row('per_op', lambda: [bytearray(16) for _ in range(4)], 5, 4)\n")
    got = vm.rows(vm.run_script(code, path=[]), 50)
    assert set(got) == {"nothing", "kilobyte", "per_op"}
    assert got["nothing"]["heap_bytes"] == 0
    assert 1024 <= got["kilobyte"]["heap_bytes"] < 1024 + 64
    assert got["per_op"]["heap_bytes"] >= 4 * 16  # a call's heap, all its operations
    assert all(r["vm_us"] >= 0 for r in got.values())
