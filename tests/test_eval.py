import importlib.util
import json

import numpy as np
from conftest import REPO, draw_sketch
from PIL import Image

from jdfd.cli import main


def test_eval_runs_end_to_end_on_a_tiny_model(tmp_path, tiny_model_dir, capsys):
    photos = tmp_path / "photos"
    photos.mkdir()
    for i in range(3):
        sk = draw_sketch(i)
        Image.fromarray(np.where(sk[:, :, None] < 128, 40, 180).astype(np.uint8).repeat(3, axis=2)).save(
            photos / f"p{i}.jpg")
    out = tmp_path / "eval"
    code = main(["eval", "--model", str(tiny_model_dir), "--photos", str(photos), "--out", str(out),
                 "--blends", "1,0", "--degrade", "drop,jitter", "--strengths", "1", "--no-fid", "--k", "3"])
    assert code == 0, capsys.readouterr().err
    res = json.loads((out / "results.json").read_text())
    assert res["n_images"] == 3
    # clean + 2 degradations, each for 2 blends
    assert len(res["rows"]) == 6
    assert {r["method"] for r in res["rows"]} == {"w=1", "w=0"}
    for r in res["rows"]:
        assert 0 <= r["l1"] <= 1 and 0 <= r["ssim"] <= 1 and r["psnr"] > 0
    for f in ("results.md", "metrics_vs_strength.png", "grid.png", "samples.png"):
        assert (out / f).exists()
    with Image.open(out / "samples.png") as im:  # a row per photo: sketch, w=1, w=0, photo
        assert im.size == (4 * 192, 3 * 192)
    assert "| drop | 1.00 | w=1 |" in (out / "results.md").read_text()
    # sketch following, in layout space only without FID features; chance for N = 3 under the table
    following = ("layout_top1", "layout_top5", "variety")
    for r in res["rows"]:
        assert 0 <= r["layout_top1"] <= 1 and r["layout_top5"] == 1 and r["variety"] >= 0
        assert "inception_top1" not in r
    assert res["chance"] == {"top1": 1 / 3, "top5": 1.0}
    md = (out / "results.md").read_text()
    assert "| lay@1 ↑ | lay@5 ↑ | variety |" in md and "chance: top-1 33.3 %, top-5 100.0 %" in md

    # an evaluation from before the measure existed: --merge keeps its rows as they are
    for r in res["rows"]:
        for key in following:
            del r[key]
    (out / "results.json").write_text(json.dumps(res))

    # --merge adds a method without recomputing the others: their rows stay exactly as they were
    code = main(["eval", "--model", str(tiny_model_dir), "--photos", str(photos), "--out", str(out),
                 "--blends", "0.5", "--degrade", "drop,jitter", "--strengths", "1", "--no-fid", "--k", "3",
                 "--merge"])
    assert code == 0, capsys.readouterr().err
    merged = json.loads((out / "results.json").read_text())
    assert len(merged["rows"]) == 9 and merged["spec"]["blends"] == [1.0, 0.5, 0.0]
    assert [r for r in merged["rows"] if r["method"] != "w=0.5"] == res["rows"]
    assert [r["method"] for r in merged["rows"][:3]] == ["w=1", "w=0", "w=0.5"]
    with Image.open(out / "grid.png") as im:  # sketch, three methods, photo
        assert im.size[0] == 5 * 192
    assert all(key in r for r in merged["rows"] if r["method"] == "w=0.5" for key in following)
    assert "| w=1 | " in (md := (out / "results.md").read_text()) and "| — | — | — |" in md
    spec = importlib.util.spec_from_file_location("eval_summary", REPO / "scripts" / "eval_summary.py")
    eval_summary = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(eval_summary)
    text = eval_summary.summary(merged)
    assert "| clean | " in text and "lay@5 w=0.5" in text and "top-5 100.0 %" in text and "—" in text
    # a different experiment is not merged into
    assert main(["eval", "--model", str(tiny_model_dir), "--photos", str(photos), "--out", str(out),
                 "--blends", "0.5", "--degrade", "drop", "--strengths", "1", "--no-fid", "--merge"]) == 2
    assert "different experiment" in capsys.readouterr().err


def test_eval_bad_arguments(tmp_path, tiny_model_dir, capsys):
    assert main(["eval", "--model", str(tiny_model_dir), "--photos", str(tmp_path / "none"), "--no-fid"]) == 2
    assert "no such folder" in capsys.readouterr().err
    (tmp_path / "p").mkdir()
    Image.fromarray(draw_sketch(0)).convert("RGB").save(tmp_path / "p" / "a.jpg")
    assert main(["eval", "--model", str(tiny_model_dir), "--photos", str(tmp_path / "p"), "--degrade", "smudge",
                 "--no-fid", "--out", str(tmp_path / "o")]) == 2
    assert "unknown degradation" in capsys.readouterr().err
