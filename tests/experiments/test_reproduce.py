"""The paper is rendered from generated numbers only, and figures are drawn from real result folders."""
from __future__ import annotations

import os
import re

import pytest

from experiments import figures
from experiments.reproduce import PLACEHOLDER, ROOT, render
from experiments.sweep import run_experiment
from tests.experiments.test_results import ycsb_sweep_config


def test_render_fills_formats_and_refuses_missing_numbers():
    nums = {"a": {"x": 0.12345, "t": "| table |"}, "n": None}
    assert render("x={{ a.x:.2f }} pct={{a.x:.1%}} {{ a.t }} {{ n }}", nums) == "x=0.12 pct=12.3% | table | n/a"
    with pytest.raises(KeyError, match="a.y"):
        render("{{ a.x }} {{ a.y }}", nums)


def test_template_placeholders_are_well_formed():
    with open(os.path.join(ROOT, "paper", "paper.template.md")) as f:
        text = f.read()
    keys = {m.group(1).split(".")[0] for m in PLACEHOLDER.finditer(text)}
    assert keys <= set(figures.FIGURES) | {"zipf", "provenance"}
    assert not re.search(r"\{\{(?![^}]*\}\})", text), "an unterminated placeholder"


def test_occ_figure_and_numbers_from_a_real_sweep(tmp_path):
    out = run_experiment(ycsb_sweep_config(), out_root=str(tmp_path))
    nums = figures.fig_occ_abort(out, str(tmp_path / "fig"))
    assert os.path.getsize(tmp_path / "fig" / "occ_abort.png") > 1000
    assert (tmp_path / "fig" / "occ_abort.svg").read_text().lstrip().startswith("<?xml")
    assert nums["points"] == 2 and 0 <= nums["mean_abs_error_pure"] <= 1
    assert "t099_c4" in "".join(nums) and nums["table"].startswith("| threads |")
