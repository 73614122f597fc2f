"""What the notes say about covariates and populations stays within what the evidence digest states
(the tenth session's clinical-facts audit)."""

from __future__ import annotations

from sonomsk.nerve.assess import assess


def _notes(d: dict) -> list[str]:
    return [n for m in d["measurements"] for n in m["notes"]]


def test_a_site_list_chosen_by_sonomsk_says_so() -> None:
    d = assess(
        {"patient": {"sex": "M"}, "measurements": [{"site": "sural_calf", "side": "right", "csa_mm2": 2.0}]}
    ).to_dict()
    hsieh = next(n for n in _notes(d) if "Hsieh 2021" in n)
    assert "the sites are sonomsk's reading of the source" in hsieh


def test_the_height_note_quotes_the_digest_and_names_the_cohorts_that_disagree() -> None:
    d = assess(
        {
            "patient": {"height_cm": 180},
            "measurements": [{"site": "median_wrist", "side": "right", "csa_mm2": 9.0}],
        }
    ).to_dict()
    zaidman = next(n for n in _notes(d) if "Zaidman 2009" in n)
    assert "'normal CSA rises with height, at proximal sites and at entrapment sites'" in zaidman
    assert "no correlation with height in Kerasnoudis 2013" in zaidman


def test_won_2012_is_not_given_a_population_the_digest_does_not_state() -> None:
    d = assess(
        {
            "reference_set": "korean",
            "measurements": [{"site": "c5_root", "side": "right", "level": "foraminal", "csa_mm2": 6.0}],
        }
    ).to_dict()
    lim = d["measurements"][0]["limit"]
    assert lim["source"] == "won_2012" and "population not stated" in lim["population"]
    assert "Korean" not in lim["population"]


def test_a_declared_level_against_a_reference_of_unknown_level_is_flagged() -> None:
    d = assess(
        {
            "reference_set": "korean",
            "measurements": [
                {
                    "site": "brachial_plexus_trunk",
                    "side": "right",
                    "trunk": "upper",
                    "level": "supraclavicular",
                    "csa_mm2": 25.0,
                }
            ],
        }
    ).to_dict()
    notes = d["measurements"][0]["limit"]["notes"]
    assert any("whether the declared level 'supraclavicular' matches it is not verified" in n for n in notes)


def test_yoons_control_ratio_beside_the_guyon_ratio_says_it_is_for_information_only() -> None:
    d = assess(
        {
            "measurements": [
                {"site": "ulnar_elbow", "side": "right", "csa_mm2": 12.0},
                {"site": "ulnar_wrist", "side": "right", "csa_mm2": 5.0},
            ]
        }
    ).to_dict()
    swell = next(
        i for i in d["entrapment_indices"] if i["name"] == "ulnar_max_to_wrist" and i["side"] == "right"
    )
    assert "for information only: Yoon's 'distal' site is not stated to be Guyon's canal" in swell["healthy"]
