import copy

import pytest
import yaml

from ovlt_data.build import build, plan
from ovlt_data.card import load_card
from ovlt_eval.errors import UserError

from .helpers import REPO, demo_card

# nothing listens here: any model call would fail with a connection error, not a card error
DEAD = "http://127.0.0.1:9/v1"


@pytest.mark.parametrize(
    "round_n, preset", [(1, None), (2, "released"), (2, "paper"), (3, "released"), (3, "paper")]
)
def test_round_cards_validate_and_plan_offline(round_n, preset, monkeypatch):
    if preset:
        monkeypatch.setenv("OVLT_ROUND_PRESET", preset)
    card = load_card(REPO / "ovlt_cards" / "rounds" / f"round{round_n}.yaml")
    assert card.round == round_n and card.preset == preset
    p = plan(REPO / "ovlt_cards" / "rounds" / f"round{round_n}.yaml")
    stages = [s["stage"] for s in p["stages"]]
    assert stages[0] == "decontaminate" and "difficulty" in stages and "verify" in stages
    assert ("caption" in stages) == (round_n == 1)
    if preset == "released":  # ydeng9/sft_seed's size was never read: the plan says unknown
        assert p["max_generations"] is None
        assert [s["rows"] for s in p["sources"] if s["pool"] == "grpo"]
    else:
        assert p["max_generations"] > 0


def _err(card: dict, tmp_path) -> str:
    with pytest.raises(UserError) as e:
        build(card, out=tmp_path)
    msg = str(e.value)
    assert "\n" not in msg
    return msg


@pytest.mark.parametrize(
    "mutate, expect",
    [
        (
            lambda c: c["sources"][0].update(kind="nope"),
            "sources[0].kind: unknown source kind 'nope'",
        ),
        (lambda c: c["stages"].append({"stage": "magic"}), "unknown stage 'magic'"),
        (
            lambda c: c["models"]["reasoner"].update(temprature=0.3),
            "models.reasoner.temprature: unknown field",
        ),
        (
            lambda c: c["models"]["reasoner"]["sampling"].update(temperature="hot"),
            "models.reasoner.sampling.temperature",
        ),
        (lambda c: c["stages"][1].update(model="ghost"), "stages[1].model: unknown model 'ghost'"),
        (lambda c: c["stages"][1].update(k=0), "stages[1].k"),
        (lambda c: c["stages"][1].update(temperature=1), "stages[1].temperature: unknown field"),
        (lambda c: c["stages"].pop(0), "stage distill needs a `caption` stage before it"),
        (lambda c: c["stages"].pop(2), "stage select needs a `verify` stage before it"),
        (lambda c: c["sources"][0].update(n="many"), "sources[0].n"),
        (lambda c: c["sources"][1].update(name="synthetic_sft"), "duplicate source name"),
        (lambda c: c.pop("version"), "field version: Field required"),
        (lambda c: c["models"]["policy"].update(engine="tgi"), "unknown engine 'tgi'"),
        (
            lambda c: c.update(stages=[s for s in c["stages"] if s["stage"] != "difficulty"]),
            "needs a `difficulty` stage",
        ),
    ],
)
def test_card_mistakes_are_one_line_naming_the_field(mutate, expect, tmp_path):
    card = demo_card(DEAD)
    mutate(card)
    assert expect in _err(card, tmp_path)


def test_card_file_errors(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\n  version: : :\n")
    with pytest.raises(UserError, match="invalid YAML"):
        load_card(bad)
    with pytest.raises(UserError, match="card not found"):
        load_card(tmp_path / "missing.yaml")


def test_env_expansion(monkeypatch):
    card = yaml.safe_load((REPO / "ovlt_cards" / "rounds" / "demo.yaml").read_text())
    monkeypatch.setenv("OVLT_DEMO_BASE_URL", "http://10.0.0.1:1234/v1")
    parsed = load_card(copy.deepcopy(card))
    assert parsed.models["reasoner"].options["base_urls"] == ["http://10.0.0.1:1234/v1"]
    card["models"]["reasoner"]["model"] = "${OVLT_SURELY_UNSET_VAR}"
    with pytest.raises(UserError, match="OVLT_SURELY_UNSET_VAR is not set"):
        load_card(card)
