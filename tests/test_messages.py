"""Honest messages (issue 15, items 5 and 8): what a user reads names the real problem, usage
errors exit 2, Python callers are not told about command-line flags, numpy works where tensors do."""
from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

import hiface
from hiface import weights as W
from hiface.cli.restore import restore
from hiface.errors import HifaceError, WeightsError, cli_mode

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def run(*args):
    r = CliRunner().invoke(restore, [str(a) for a in args], catch_exceptions=False)
    return r.exit_code, r.output + (r.stderr if r.stderr_bytes is not None else "")


def test_random_bytes_are_not_a_checkpoint_not_a_dangerous_pickle(tmp_path):
    rng = np.random.default_rng(0)
    cases = {"rand.pth": rng.bytes(4000), "text.pth": b"just some notes\n",
             "pickleish.pth": b"\x80\x03" + rng.bytes(4000)}
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
        with pytest.raises(WeightsError) as ei:
            W.load_state_dict_file(tmp_path / name)
        msg = str(ei.value)
        assert "not a readable checkpoint" in msg, msg
        assert "arbitrary code" not in msg and "weights_only=False" not in msg
    assert "text file" in str(pytest.raises(WeightsError, W.load_state_dict_file, tmp_path / "text.pth").value)
    # through the command: one line, exit 1
    pytest.importorskip("dlib")
    code, out = run(EXAMPLES / "face_tiny.png", "-o", tmp_path / "o", "--weights", tmp_path / "rand.pth")
    assert code == 1 and "not a readable checkpoint" in out and "Traceback" not in out


def test_code_pickles_are_still_refused(tmp_path):
    import collections

    p = tmp_path / "obj.pth"
    torch.save({"a": torch.zeros(1), "o": collections.OrderedDict, "f": os.getcwd}, p)
    with pytest.raises(WeightsError, match="pickles Python objects"):
        W.load_state_dict_file(p)


def test_old_pickle_protocols_leak_no_torch_warning(tmp_path):
    sd = {"w": torch.arange(3.0)}
    for proto in (2, 4):
        p = tmp_path / f"old{proto}.pth"
        torch.save(sd, p, _use_new_zipfile_serialization=False, pickle_protocol=proto)
        with warnings.catch_warnings(record=True) as rec:
            warnings.simplefilter("always")
            try:
                got = W.load_state_dict_file(p)
                assert torch.equal(got["w"], sd["w"])
            except WeightsError as e:  # protocol 4 framing: refused with a reason, not a warning
                assert "not a readable checkpoint" in str(e)
        assert not [w for w in rec if "pickle protocol" in str(w.message)], [str(w.message) for w in rec]


def test_state_dict_message_without_keys():
    with pytest.raises(WeightsError) as ei:
        W.select_state_dict({"x": 1}, (), source="f.pth")
    assert "any of []" not in str(ei.value) and "not a flat dict of tensors" in str(ei.value)


def test_unknown_model_is_a_usage_error():
    code, out = run(EXAMPLES / "face_tiny.png", "-o", "/tmp/never", "--model", "codeformr")
    assert code == 2 and "unknown model 'codeformr'" in out and "codeformer" in out


def test_no_face_note_suggests_other_detectors(tmp_path):
    pytest.importorskip("dlib")
    Image.fromarray(np.full((40, 50, 3), 90, np.uint8)).save(tmp_path / "wall.png")
    code, out = run(tmp_path / "wall.png", "-o", tmp_path / "o", "--model", "identity")
    assert code == 0 and "no face found" in out
    assert "--detector dlib-cnn" in out and "--detector retinaface" in out


def test_python_errors_do_not_name_cli_flags(tmp_path):
    import hiface.models as M
    from hiface.faces.pipeline import FacePipeline

    pipe = FacePipeline(hiface.create_restorer("identity"), "dlib")
    with pytest.raises(HifaceError) as ei:
        pipe(np.zeros((32, 32, 3), np.float32), guide=np.zeros((32, 32, 3), np.float32))
    assert "--" not in str(ei.value) and "guide" in str(ei.value)
    with pytest.raises(HifaceError) as ei:
        M.resolve_weights(M.PretrainedConfig(name="x", arch="a:b", restorer="a:b", native_size=8, template="t"),
                          "default")
    assert "--weights" not in str(ei.value) and "weights=PATH" in str(ei.value)
    with cli_mode(), pytest.raises(HifaceError, match="--weights"):
        M.resolve_weights(M.PretrainedConfig(name="x", arch="a:b", restorer="a:b", native_size=8, template="t"),
                          "default")
    from hiface.photo import check_output_size

    with pytest.raises(HifaceError) as ei:
        check_output_size(12000, 12000, 2, 100)
    assert "--" not in str(ei.value) and "max_megapixels" in str(ei.value)


def test_restorer_accepts_numpy_images():
    r = hiface.create_restorer("identity")
    rng = np.random.default_rng(0)
    u8 = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
    out = r.restore(u8)
    assert out.dtype == np.uint8 and out.shape == (64, 64, 3) and np.array_equal(out, u8)
    f = rng.random((2, 32, 32, 3)).astype(np.float32)
    np.testing.assert_allclose(r.restore(f), f, atol=1e-6)
    with pytest.raises(HifaceError, match="numpy image"):
        r.restore([[0.0]])
    with pytest.raises(HifaceError, match=r"\(H, W, 3\)"):
        r.restore(np.zeros((3, 64, 64), np.uint8))


def test_retinaface_download_is_pinned_on_first_use(tmp_path, monkeypatch, capsys):
    from hiface.faces.retinaface import RETINAFACE_CONFIG, retinaface_weights

    monkeypatch.setenv("HIFACE_CACHE", str(tmp_path))
    monkeypatch.setenv("HIFACE_OFFLINE", "1")
    monkeypatch.delenv("HIFACE_RETINAFACE_SHA256", raising=False)
    f = tmp_path / RETINAFACE_CONFIG["filename"]
    f.write_bytes(b"pretend weights")
    assert retinaface_weights() == f
    side = tmp_path / (f.name + ".sha256")
    assert side.read_text().startswith(W.sha256_file(f)) and "not verified" in capsys.readouterr().err
    assert retinaface_weights() == f  # unchanged: fine, no second note
    assert "not verified" not in capsys.readouterr().err
    f.write_bytes(b"something else")
    with pytest.raises(WeightsError, match="changed since it was first used"):
        retinaface_weights()
    monkeypatch.setenv("HIFACE_RETINAFACE_SHA256", "0" * 64)  # a pinned checksum wins
    with pytest.raises(WeightsError, match="checksum mismatch"):
        retinaface_weights()


def test_a_damaged_global_name_is_corruption_not_code(tmp_path):
    import io

    b = io.BytesIO()
    torch.save({"w": torch.zeros(2)}, b)
    data = bytearray(b.getvalue())
    i = data.find(b"_utils\n")
    data[i + 6] = 0x0E  # one flipped byte inside "torch._utils\n_rebuild_tensor_v2"
    (tmp_path / "f.pth").write_bytes(bytes(data))
    with pytest.raises(WeightsError) as ei:
        W.load_state_dict_file(tmp_path / "f.pth")
    assert "not a readable checkpoint: corrupt" in str(ei.value) and "arbitrary code" not in str(ei.value)
    assert "\x0e" not in str(ei.value)
