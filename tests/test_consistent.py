"""--consistent: one condition for a whole batch."""

import cv2
import numpy as np
from typer.testing import CliRunner

from csrtouch.cli import app
from csrtouch.engine import Retoucher

runner = CliRunner()


def test_shared_condition_is_the_mean(astronaut, coffee):
    r = Retoucher("expertC", exact=True)  # the network itself, whatever the count of colours
    mean = (r.condition(astronaut) + r.condition(coffee)) / 2
    assert r.share_condition([astronaut, coffee]) == 2
    np.testing.assert_allclose(r.shared[0], mean, rtol=1e-6)
    # With the condition shared, every image goes through the same colour function.
    both = np.concatenate([astronaut[:300, :400], coffee[:300, :400]], axis=1)
    out = r(both)
    # To float precision: BLAS may round a colour differently in a batch of another size.
    assert np.abs(out[:, :400].astype(int) - r(astronaut[:300, :400])).max() <= 1


def test_cli_consistent(tmp_path, astronaut):
    src = tmp_path / "burst"
    src.mkdir()
    for i in range(3):  # a pan across one scene: frames of different brightness content
        cv2.imwrite(str(src / f"f{i}.png"), np.ascontiguousarray(astronaut[:, i * 100 : i * 100 + 300, ::-1]))
    (src / "bad.png").write_bytes(b"broken")
    result = runner.invoke(app, ["apply", "--consistent", str(src), str(tmp_path / "out")])
    assert result.exit_code == 1, result.output
    assert "condition shared across 3 images" in result.output and "bad.png" in result.output
    r = Retoucher("expertC")
    r.share_condition([astronaut[:, i * 100 : i * 100 + 300] for i in range(3)])
    got = cv2.imread(str(tmp_path / "out" / "f1.png"))[..., ::-1]
    np.testing.assert_array_equal(got, r(np.ascontiguousarray(astronaut[:, 100:400])))
