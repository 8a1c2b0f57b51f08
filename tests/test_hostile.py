"""The hostile set of issue 14 (``tests/hostile.py``), each case run against the installed
``csrtouch`` command in a child process."""

import pytest

from hostile import CASES, Skip


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_hostile(case, tmp_path):
    try:
        case.run(tmp_path)
    except Skip as e:
        pytest.skip(str(e))
