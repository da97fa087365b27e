from cloudpin import log


def test_lines_have_level_time_module_message():
    lines = []
    lg = log.Logger("steps", sink=lines.append)
    lg.info("count=12")
    lg.debug("hidden")
    parts = lines[0].split(" ", 3)
    assert len(lines) == 1
    assert parts[0] == "I" and parts[2] == "steps" and parts[3] == "count=12"
    assert int(parts[1]) >= 0


def test_exception_logs_traceback_lines():
    lines = []
    lg = log.Logger("app", sink=lines.append)
    try:
        {}["missing"]
    except KeyError as e:
        lg.exc(e, "task crashed")
    assert lines[0].startswith("E ") and "task crashed: KeyError" in lines[0]
    assert len(lines) > 1 and all(line.startswith("  ") for line in lines[1:])
