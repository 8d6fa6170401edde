"""Atomic writes."""


def test_atomic_write_permissions_and_content(tmp_path) -> None:
    import os
    import stat

    from seqrec.io import read_json, write_json_atomic

    target = tmp_path / "out" / "m.json"
    write_json_atomic(target, {"a": 1})
    assert read_json(target) == {"a": 1}
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o666 & ~_current_umask()
    assert [p.name for p in target.parent.iterdir()] == ["m.json"]  # no temporary file left


def _current_umask() -> int:
    import os

    mask = os.umask(0)
    os.umask(mask)
    return mask
