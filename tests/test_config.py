from pathlib import Path

import pytest

from seqrec.config import ConfigError, build_config, load_config
from seqrec.data.registry import list_datasets

CONFIGS = sorted((Path(__file__).resolve().parents[1] / "configs").glob("*.yaml"))


@pytest.mark.parametrize("path", CONFIGS, ids=[p.name for p in CONFIGS])
def test_shipped_configs_validate(path: Path) -> None:
    cfg = load_config(path)
    assert cfg.data.dataset in {spec.name for spec in list_datasets()}


def test_unknown_key_is_named() -> None:
    with pytest.raises(ConfigError, match=r"training\.lrr: unknown key"):
        build_config({"data": {"dataset": "x"}}, ["training.lrr=0.1"])


def test_bad_value_is_named() -> None:
    with pytest.raises(ConfigError, match=r"model\.dropout"):
        build_config({"data": {"dataset": "x"}, "model": {"name": "sasrec", "dropout": 1.5}})
    with pytest.raises(ConfigError, match=r"training\.loss"):
        build_config({"data": {"dataset": "x"}}, ["training.loss=hinge"])


def test_overrides_are_parsed_as_yaml(tmp_path) -> None:
    path = tmp_path / "run.yaml"
    path.write_text("data:\n  dataset: ml-1m-head\nmodel:\n  name: sasrec\n  hidden: 32\n")
    cfg = load_config(path, ["model.hidden=64", "training.betas=[0.9, 0.99]", "evaluation.ks=[5, 10]"])
    assert cfg.model.hidden == 64
    assert cfg.training.betas == (0.9, 0.99)
    assert cfg.evaluation.ks == (5, 10)


def test_yaml_errors_name_the_file(tmp_path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("data: [unclosed\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml line"):
        load_config(path)
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "missing.yaml")


def test_heads_must_divide_hidden() -> None:
    with pytest.raises(ConfigError, match="divisible"):
        build_config({"data": {}, "model": {"name": "sasrec", "hidden": 50, "heads": 3}})


def test_override_syntax_error() -> None:
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        build_config({"data": {}}, ["training.lr"])
