"""Every bad-input path of ``jdfd generate`` is a one-line error and exit code 2."""

import numpy as np
import pytest
from conftest import draw_sketch
from PIL import Image

from jdfd.cli import main


@pytest.fixture()
def sketches(tmp_path):
    d = tmp_path / "in"
    d.mkdir()
    Image.fromarray(draw_sketch(0)).save(d / "a.png")
    rgba = Image.fromarray(draw_sketch(1)).convert("RGBA").resize((300, 200))
    rgba.save(d / "b_rgba_small.png")
    Image.fromarray(draw_sketch(2)).convert("RGB").save(d / "c.jpg")
    return d


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_generate_writes_faces_and_shadows(tmp_path, sketches, tiny_model_dir, capsys):
    code, out, err = run(capsys, "generate", sketches, "-o", tmp_path / "out", "--model", tiny_model_dir,
                         "--blend", "eye1=0.5,remainder=0.2", "--shadow", tmp_path / "sh", "--gender", "female",
                         "--k", "5")
    assert code == 0, err
    for stem in ("a", "b_rgba_small", "c"):
        img = np.asarray(Image.open(tmp_path / "out" / f"{stem}.png"))
        assert img.shape == (512, 512, 3)
        assert np.asarray(Image.open(tmp_path / "sh" / f"{stem}_shadow.png")).shape == (512, 512)
    assert "3 face(s) written" in out


def test_single_output_file(tmp_path, sketches, tiny_model_dir, capsys):
    code, _, err = run(capsys, "generate", sketches / "a.png", "-o", tmp_path / "face.png", "--model", tiny_model_dir)
    assert code == 0, err
    assert (tmp_path / "face.png").exists()


def test_bad_inputs_fail_alone(tmp_path, sketches, tiny_model_dir, capsys):
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "text.png").write_text("hello, not an image")
    (tmp_path / "trunc.png").write_bytes((sketches / "a.png").read_bytes()[:200])
    (tmp_path / "adir").mkdir()
    code, out, err = run(capsys, "generate", tmp_path / "empty.png", tmp_path / "text.png", tmp_path / "missing.png",
                         tmp_path / "trunc.png", sketches / "a.png", "-o", tmp_path / "out", "--model", tiny_model_dir)
    assert code == 2
    lines = [line for line in err.splitlines() if line.startswith("jdfd: error:")]
    assert len(lines) == 4, err
    assert any("empty file" in line for line in lines)
    assert any("no such file" in line for line in lines)
    assert any("not a readable image" in line for line in lines)
    assert (tmp_path / "out" / "a.png").exists()  # the good sketch still completed
    assert "1 face(s) written" in out and "4 input(s) failed" in out


@pytest.mark.parametrize("argv,needle", [
    (["--blend", "nose=2"], "must be in [0, 1]"),
    (["--blend", "chin=0.5"], "unknown component"),
    (["--k", "0"], "at least 1"),
])
def test_bad_options(tmp_path, sketches, tiny_model_dir, capsys, argv, needle):
    code, _, err = run(capsys, "generate", sketches / "a.png", "-o", tmp_path / "o", "--model", tiny_model_dir, *argv)
    assert code == 2 and needle in err


def test_bad_model_folders(tmp_path, sketches, capsys):
    code, _, err = run(capsys, "generate", sketches / "a.png", "-o", tmp_path / "o", "--model", tmp_path / "none")
    assert code == 2 and "cannot load model" in err and "not a jdfd model folder" in err
    code, _, err = run(capsys, "generate", sketches / "a.png", "-o", tmp_path / "o", "--params", tmp_path / "none")
    assert code == 2 and "no such Params folder" in err
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "config.json").write_text("{broken")
    code, _, err = run(capsys, "generate", sketches / "a.png", "-o", tmp_path / "o", "--model", tmp_path / "m")
    assert code == 2 and "invalid JSON" in err


def test_several_inputs_to_one_file_is_an_error(tmp_path, sketches, tiny_model_dir, capsys):
    code, _, err = run(capsys, "generate", sketches, "-o", tmp_path / "x.png", "--model", tiny_model_dir)
    assert code == 2 and "several sketches" in err


def test_help_and_doctor(capsys):
    with pytest.raises(SystemExit) as e:
        main(["generate", "--help"])
    assert e.value.code == 0
    assert "--blend" in capsys.readouterr().out
    code = main(["doctor"])
    out = capsys.readouterr().out
    assert "jittor" in out and "onednn" in out and "device" in out
    assert code in (0, 1)
    from jdfd import kernels, runtime  # noqa: PLC0415

    expected = "jdfd's oneDNN kernels" if kernels.load() is not None else "Jittor's own layers"
    assert f"inference: {expected}" in out
    if runtime.device() == "cpu" and runtime.dnnl_active():  # unless oneDNN would run them in reference loops
        assert kernels.load() is not None or "reference kernels" in kernels.unavailable_reason(), \
            f"on a CPU with oneDNN jdfd must run its own kernels: {kernels.unavailable_reason()}"


def test_default_model_lookup(tmp_path, monkeypatch, tiny_model_dir, sketches, capsys):
    """$JDFD_MODEL, else the package's own copy (an installed wheel), else pretrained/ beside the source."""
    from jdfd import shipped  # noqa: PLC0415

    monkeypatch.delenv(shipped.MODEL_ENV, raising=False)
    assert shipped.candidates() == [shipped.PACKAGE_DIR / "pretrained", shipped.PACKAGE_DIR.parent / "pretrained"]
    monkeypatch.setenv(shipped.MODEL_ENV, str(tiny_model_dir))
    assert shipped.default_model() == tiny_model_dir
    code, out, err = run(capsys, "generate", sketches / "a.png", "-o", tmp_path / "out")
    assert code == 0, err
    assert Image.open(tmp_path / "out" / "a.png").size == (512, 512)
    # a wrong $JDFD_MODEL is an error that says so, never silently another model
    monkeypatch.setenv(shipped.MODEL_ENV, str(tmp_path / "nowhere"))
    code, _, err = run(capsys, "generate", sketches / "a.png", "-o", tmp_path / "out2")
    assert code == 2 and "$JDFD_MODEL is" in err and "not a jdfd model folder" in err
    # no model anywhere: says where it looked and what to pass
    monkeypatch.delenv(shipped.MODEL_ENV)
    monkeypatch.setattr(shipped, "PACKAGE_DIR", tmp_path / "site-packages" / "jdfd")
    code, _, err = run(capsys, "generate", sketches / "a.png", "-o", tmp_path / "out3")
    assert code == 2 and "no default model" in err and "--model DIR" in err and "JDFD_MODEL" in err
    assert err.count("\n") == 1 and not (tmp_path / "out3").exists()
