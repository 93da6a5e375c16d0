"""Page parameters: unknown names and invalid values fail with one message naming each and the fix."""
import pytest

from roarkit.book.page import Page
from roarkit.book.params import RULES, ParameterError, check

DEFAULTS = {"profile": "paper", "datasets": ["mnist"], "epochs": 10, "lr": 1e-3, "momentum": 0.9,
            "thresholds": [10, 30, 50, 70, 90], "device": "auto", "note": "text"}


def test_defaults_pass_unchanged():
    assert check(dict(DEFAULTS), DEFAULTS) == DEFAULTS


def test_int_accepted_where_float_default():
    assert check({**DEFAULTS, "lr": 1}, DEFAULTS)["lr"] == 1


@pytest.mark.parametrize("name,value,words", [
    ("epochs", 0, "at least 1"),
    ("epochs", 2.5, "whole number"),
    ("epochs", True, "whole number"),
    ("lr", -0.1, "(0.0, inf)"),
    ("momentum", 1.0, "[0.0, 1.0)"),
    ("thresholds", [10, 100], "strictly between 0 and 100"),
    ("thresholds", [0, 50], "strictly between 0 and 100"),
    ("datasets", ["mnist", "imagenet"], "unknown dataset"),
    ("datasets", "mnist", "non-empty list"),
    ("device", "tpu", "'auto', 'cpu'"),
    ("note", 3, "same kind as its default"),
])
def test_invalid_value_named_in_one_message(name, value, words):
    _invalid(name, value, words)


@pytest.mark.parametrize("value,words", [
    ({"imagenet": 5}, "unknown dataset"),
    ({"fashion_mnist": -1}, "whole numbers >= 0"),
    ({"fashion_mnist": 2.5}, "whole numbers >= 0"),
    ([20000], "mapping of dataset name to image count"),
])
def test_per_dataset_training_counts_are_checked(value, words):
    defaults = {**DEFAULTS, "n_train_by_dataset": {}}
    assert check({**defaults, "n_train_by_dataset": {"fashion_mnist": 20000, "mnist": 0}}, defaults)
    _invalid("n_train_by_dataset", value, words, defaults)


def _invalid(name, value, words, defaults=DEFAULTS):
    with pytest.raises(ParameterError) as err:
        check({**defaults, name: value}, defaults, page="page 'x'")
    msg = str(err.value)
    assert msg.startswith("page 'x': parameter " + repr(name))
    assert words in msg
    assert "Fix the -p option or profile file" in msg


def test_unknown_and_invalid_reported_together_with_the_list_of_parameters():
    with pytest.raises(ParameterError) as err:
        check({**DEFAULTS, "seedz": 3, "epochs": -1}, DEFAULTS)
    msg = str(err.value)
    assert "unknown parameter 'seedz'" in msg and "parameter 'epochs' must be at least 1" in msg
    for name in DEFAULTS:  # the page's parameters are listed with their paper values
        assert f"  {name} = {DEFAULTS[name]!r}" in msg


def test_every_rule_has_help():
    assert all(rule.help for rule in RULES.values())


def test_page_sees_injected_names_as_unknown():
    import roarkit
    ns = {"roarkit": roarkit, "__name__": "__main__", "_": None, "In": [], "epochs": 10, "datasets": ["mnist"]}
    page = Page("demo", ns)
    ns["page"] = page
    assert page.defaults == {"epochs": 10, "datasets": ["mnist"]}
    ns["epochs"] = 3  # an override papermill injected: fine
    assert page.start(ns).epochs == 3
    ns["batchsize"] = 64  # a typo injected by -p: rejected
    with pytest.raises(ParameterError, match="unknown parameter 'batchsize'"):
        page.start(ns)


def test_provenance_writes_an_image_count_of_zero_as_all():
    """The paper profile's ``n_images = 0`` means every test image; the block must not say "paper: 0"."""
    from roarkit.book.page import markdown
    rec = {"profile": "full-cpu", "parameters": {"n_images": 2000, "epochs": 3}, "data": [], "device": "cpu",
           "versions": {}, "commit": "abc", "executed": "2026-12-03 00:00 UTC", "seconds": 1.0,
           "units": {}, "rerun": "python -m roarkit run x",
           "reduced": {"n_images": {"ran": 2000, "paper": 0}, "epochs": {"ran": 3, "paper": 100},
                       "n_train": {"ran": 0, "paper": 500}}}
    head = markdown(rec).splitlines()[2]
    assert "`n_images` 2000 (paper: all)" in head
    assert "`epochs` 3 (paper: 100)" in head
    assert "`n_train` all (paper: 500)" in head
