import json

import pytest

from jdfd import runtime


def test_jittor_home_follows_env_then_jittors_memory(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("JITTOR_HOME", raising=False)
    assert runtime.jittor_home() == tmp_path
    cfg = tmp_path / ".cache" / "jittor" / "config.json"
    cfg.parent.mkdir(parents=True)
    cfg.write_text(json.dumps({"JITTOR_HOME": str(tmp_path / "elsewhere")}))
    assert runtime.jittor_home() == tmp_path / "elsewhere"
    assert runtime.dnnl_dir() == tmp_path / "elsewhere" / ".cache" / "jittor" / "mkl" / runtime.DNNL_DIRNAME
    monkeypatch.setenv("JITTOR_HOME", str(tmp_path / "env"))
    assert runtime.jittor_home() == tmp_path / "env"


def test_device_choice(monkeypatch):
    monkeypatch.setattr(runtime, "gpu_present", lambda: False)
    assert runtime.choose_device("auto") == "cpu"
    assert runtime.choose_device("cpu") == "cpu"
    with pytest.raises(RuntimeError, match="no NVIDIA GPU"):
        runtime.choose_device("cuda")
    with pytest.raises(ValueError, match="unknown device"):
        runtime.choose_device("tpu")


def test_wire_dnnl_builds_the_folder_jittor_expects(tmp_path, monkeypatch):
    monkeypatch.setenv("JITTOR_HOME", str(tmp_path))
    if runtime.system_dnnl_library() is None:
        assert runtime.wire_dnnl() is False
        return
    assert runtime.wire_dnnl() is True
    d = runtime.dnnl_dir()
    assert (d / "lib" / "libmkldnn.so").resolve().exists()
    assert (d / "include" / "dnnl.hpp").exists()
    assert runtime.wire_dnnl() is True  # idempotent
