"""roarkit.experiments.sgt: the SGT pages' tables and verdict rules on hand-worked numbers, and the
result :func:`run` assembles from a small real MNIST run."""
import math
import re
import types
from pathlib import Path

import pandas as pd
import pytest
import torch

from roarkit.experiments import sgt as S

SOURCE = Path(__file__).resolve().parents[2] / "notebooks" / "sgt.py"


def frame(aucs: dict, acc=None) -> pd.DataFrame:
    """One row per (training, seed) with ``auc_grad`` from ``{training: [per seed]}``."""
    rows = [{"training": t, "seed": s, "auc_grad": a, "accuracy": (acc or {}).get(t, [0.9] * len(v))[s]}
            for t, v in aucs.items() for s, a in enumerate(v)]
    return pd.DataFrame(rows)


# -- verdict ------------------------------------------------------------------------------------------
def test_verdict_order_holds_clearly_when_each_gap_exceeds_the_larger_std():
    # means 11 < 16 < 21, every std √2 ≈ 1.41, gaps 5 and 5
    v = S.verdict(frame({"traditional": [20, 22], "sgt": [15, 17], "smoot": [10, 12]}))
    assert v["holds"] and v["clear"]
    assert v["means"] == {"smoot": 11.0, "sgt": 16.0, "traditional": 21.0}
    assert v["stds"]["sgt"] == pytest.approx(math.sqrt(2))
    assert v["text"] == "SMOOT 11.00 < SGT 16.00 < traditional 21.00"
    assert S.verdict_short(v) == "holds"
    assert S.verdict_tail(v, 2) == ", and each gap is larger than the seed-to-seed standard deviation."


def test_verdict_holds_within_seed_noise_when_a_gap_is_below_the_larger_std():
    # SGT [14, 20]: mean 17, std √18 ≈ 4.24; gap to traditional (21) is 4 < 4.24, to SMOOT (11) is 6
    v = S.verdict(frame({"traditional": [20, 22], "sgt": [14, 20], "smoot": [10, 12]}))
    assert v["holds"] and not v["clear"]
    assert S.verdict_short(v) == "holds, within seed noise"
    assert S.verdict_tail(v, 2) == ", but at least one gap is within the seed-to-seed standard deviation."
    # the same gap of 4 against stds of √2 is clear
    assert S.verdict(frame({"traditional": [20, 22], "sgt": [16, 18], "smoot": [10, 12]}))["clear"]


def test_verdict_fails_on_a_wrong_order_names_it_and_needs_all_three_trainings():
    v = S.verdict(frame({"traditional": [16.64], "sgt": [9.84], "smoot": [10.0]}))
    assert not v["holds"] and not v["clear"]
    assert v["text"] == "SMOOT 10.00 ≥ SGT 9.84 < traditional 16.64"
    assert S.verdict_short(v) == "does not hold" and S.verdict_tail(v, 1) == "."
    v = S.verdict(frame({"traditional": [20], "sgt": [30], "smoot": [10]}))
    assert v["text"] == "SMOOT 10.00 < SGT 30.00 ≥ traditional 20.00" and not v["holds"]
    missing = S.verdict(frame({"traditional": [20], "sgt": [15]}))
    assert not missing["holds"] and missing["text"] == "not all three trainings ran"


def test_one_seed_has_no_std_so_the_order_alone_decides():
    v = S.verdict(frame({"traditional": [20.0], "sgt": [19.99], "smoot": [19.98]}))
    assert v["holds"] and v["clear"] and v["stds"] == {"smoot": 0.0, "sgt": 0.0, "traditional": 0.0}
    assert S.verdict_tail(v, 1) == " (one seed: no standard deviation to compare the gaps with)."


# -- paper comparison -----------------------------------------------------------------------------------
def test_paper_comparison_deltas_and_tolerance_of_twice_the_seed_std():
    df = frame({"traditional": [30.0, 34.0], "sgt": [33.0], "smoot": [31.0, 33.0]},
               acc={"traditional": [0.98, 0.99], "sgt": [0.99], "smoot": [0.99, 0.99]})
    df.loc[df.training == "smoot", ["k_min", "k_median", "k_max"]] = [[300, 390, 500], [250, 396, 480]]
    c = S.paper_comparison(df, "mnist", 392)
    assert list(c.index) == ["Traditional", "SGT", "SMOOT"]
    t = c.loc["Traditional"]  # paper (SMOOT Table 2, MNIST): 99.40 %, AUC 36.35
    assert t["paper accuracy (%)"] == pytest.approx(99.40) and t["our accuracy (%)"] == pytest.approx(98.5)
    assert t["Δ accuracy (pp)"] == pytest.approx(-0.9)
    assert t["tolerance (pp)"] == pytest.approx(2 * math.sqrt(0.5))  # std of 98 and 99 is √0.5
    assert t["our AUC (Gradient)"] == pytest.approx(32.0) and t["Δ AUC"] == pytest.approx(32.0 - 36.35)
    assert t["tolerance (AUC)"] == pytest.approx(2 * math.sqrt(8))  # std of 30 and 34 is √8
    assert t["paper K min/median/max"] == t["our K min/median/max"] == "–"
    g = c.loc["SGT"]  # one seed: no tolerance
    assert math.isnan(g["tolerance (pp)"]) and math.isnan(g["tolerance (AUC)"])
    assert g["Δ AUC"] == pytest.approx(33.0 - 34.67) and g["paper K min/median/max"] == "392"
    assert g["our K min/median/max"] == "392"
    m = c.loc["SMOOT"]
    assert m["tolerance (pp)"] == 0.0 and m["paper K min/median/max"] == "234/388/544"
    assert m["our K min/median/max"] == "250/393/500"  # min of mins, median of medians, max of maxes
    assert S.paper_comparison(df, "fashion_mnist", 392).loc["SGT", "paper K min/median/max"] == "–"


# -- summary ------------------------------------------------------------------------------------------
def test_mean_std_and_summary_format():
    assert S.mean_std(pd.Series([1.0, 2.0, 3.0])) == "2.00 ± 1.00"
    assert S.mean_std(pd.Series([16.644])) == "16.64"
    assert S.mean_std(pd.Series([float("nan")])) == "–"
    df = pd.DataFrame({"training": ["sgt", "sgt", "traditional"], "accuracy": [0.5, 0.7, 0.54],
                       "auc_grad": [10.0, 12.0, 16.64], "auc_random": [20.0, 20.0, 25.5],
                       "s_per_epoch": [9.0, 10.0, 2.84]})
    t = S.summary(df, ["grad", "random"])
    assert list(t.index) == ["SGT", "Traditional"]  # order of appearance
    assert list(t.columns) == ["seeds", "test accuracy (%)", "AUC Gradient", "AUC Random"]
    assert t.loc["SGT"].tolist() == [2, "60.00 ± 14.14", "11.00 ± 1.41", "20.00 ± 0.00"]
    assert t.loc["Traditional"].tolist() == [1, "54.00", "16.64", "25.50"]
    # the speed, per training and the device that trained it (a page from the store can mix devices)
    gpu = "NVIDIA H200 (cuda:0)"
    runs = pd.DataFrame({"training": ["sgt", "sgt", "smoot", "sgt"], "device": ["CPU: x", "CPU: x", gpu, gpu],
                         "s_per_epoch": [100.0, 110.0, 2.0, 3.0], "n_train": [54_000] * 4})
    tm = S.timing(runs)
    assert list(tm.index) == ["SGT", "SMOOT", "SGT"] and tm.device.tolist() == ["CPU: x", gpu, gpu]
    assert tm.trainings.tolist() == [2, 1, 1] and tm["s / epoch here"].tolist() == [105.0, 2.0, 3.0]
    assert tm.iloc[:, -1].tolist() == [8.75, 0.17, 0.25]  # 100 epochs, 3 seeds
    assert S.timing_text(tm) == f"about 9 h on CPU: x (SGT) and 25 min on {gpu} (SMOOT, SGT)"


def test_control_orders_the_trainings_by_the_random_minus_gradient_gap():
    df = pd.DataFrame({"training": ["traditional", "sgt", "sgt", "smoot"], "auc_random": [25.0, 12.0, 14.0, 13.0],
                       "auc_grad": [17.0, 10.0, 10.0, 10.5]})
    table, text = S.control(df)
    assert text == "ordered by that gap, Traditional 8.00 > SGT 3.00 > SMOOT 2.50."
    assert table.loc["SGT"].tolist() == ["13.00 ± 1.41", "10.00 ± 0.00", "3.00 ± 1.41"]
    assert list(table.columns) == ["AUC Random", "AUC Gradient", "Random − Gradient"]


def test_plateau_compares_the_last_window_with_the_one_before_against_seed_noise():
    ramp = [i / 100 for i in range(10)]  # still rising: 1 pp per epoch
    level = [0.5] * 5 + [0.9] * 5  # levelled off after epoch 5
    hs = {"traditional": [{"val_accuracy": level}, {"val_accuracy": [a + 0.001 for a in level]}],
          "sgt": [{"val_accuracy": ramp}, {"val_accuracy": ramp}],
          "smoot": [{"val_accuracy": [0.5] * 8 + [0.9, 0.91]}, {"val_accuracy": [0.5] * 8 + [0.88, 0.89]}]}
    table, text = S.plateau(hs)  # windows of 2 epochs: 9-10 against 7-8
    assert table.gain["traditional"] == pytest.approx(0.0) and table.flat["traditional"]
    assert table.gain["sgt"] == pytest.approx(2.0) and table.seed_std["sgt"] == pytest.approx(0.0) and not table.flat["sgt"]
    assert table.gain["smoot"] == pytest.approx(39.5) and table.seed_std["smoot"] == pytest.approx(2 ** 0.5)
    assert not table.flat["smoot"]
    assert text == ("over the last 2 of the 10 epochs the mean validation accuracy changed by +0.00 / +2.00 / +39.50 pp "
                    "(Traditional / SGT / SMOOT) against the 2 epochs before: flat for Traditional only (flat: a change "
                    "within the seed-to-seed std of the last 2 epochs' accuracy).")
    # one seed: flat within 0.1 pp; a wider window; too few epochs to compare
    one = {"traditional": [{"val_accuracy": [0.5] * 10 + [0.9] * 10}]}
    table, text = S.plateau(one, window=0.25)
    assert table.gain["traditional"] == 0.0 and table.flat["traditional"] and text.startswith("over the last 5 of the 20")
    assert "flat for every training" in text
    table, text = S.plateau({"sgt": [{"val_accuracy": [0.5, 0.6, 0.7]}]})
    assert not table.flat["sgt"] and text.startswith("with 3 epoch(s) there are not two windows of 2 epochs")


def test_signed_comparison_sentence_and_the_not_run_note():
    table, text = S.official_comparison(pd.DataFrame(), None, ["grad"], 0, "sgt_signed")
    assert text == "this profile did not run the signed ranking (signed_seeds = 0)." and "note" in table
    runs = pd.DataFrame({"training": ["sgt", "sgt"], "seed": [0, 1], "accuracy": [0.9, 0.8], "auc_grad": [17.59, 30.0],
                         "s_per_epoch": [1.0, 1.0]})
    signed = pd.DataFrame({"training": ["sgt_signed"], "seed": [0], "accuracy": [0.85], "auc_grad": [26.67],
                           "s_per_epoch": [1.0]})
    table, text = S.official_comparison(runs, signed, ["grad"], 1, "sgt_signed")  # seed 1 of SGT is not compared
    assert text == ("over 1 seed(s), the signed ranking gives a Gradient AUC of 26.67 against 17.59 with the "
                    "magnitude ranking (a slower accuracy drop), at test accuracy 85.00 % against 90.00 %.")
    assert table["AUC Gradient"].tolist() == ["17.59", "26.67"]


def test_log_prob_comparison_sentence_rows_and_the_not_run_note():
    table, text = S.official_comparison(pd.DataFrame(), None, ["grad"], 0, "sgt_log_prob")
    assert text == "this profile did not run the saliency of the log-probability (log_prob_seeds = 0)."
    runs = pd.DataFrame({"training": ["sgt", "sgt"], "seed": [0, 1], "accuracy": [0.9, 0.8], "auc_grad": [17.59, 30.0],
                         "s_per_epoch": [1.0, 1.0]})
    other = pd.DataFrame({"training": ["sgt_log_prob"], "seed": [0], "accuracy": [0.95], "auc_grad": [12.5],
                          "s_per_epoch": [1.0]})
    table, text = S.official_comparison(runs, other, ["grad"], 1, "sgt_log_prob")
    assert text == ("over 1 seed(s), the saliency of the log-probability gives a Gradient AUC of 12.50 against "
                    "17.59 with that of the logit (a faster accuracy drop), at test accuracy 95.00 % against 90.00 %.")
    assert table.index.tolist() == ["SGT, saliency of the logit (this book)", "SGT, saliency of log p_y (official code)"]
    assert table["AUC Gradient"].tolist() == ["17.59", "12.50"]


# -- foreground share ---------------------------------------------------------------------------------
def test_foreground_share_on_hand_made_images():
    # image 0: foreground at pixels 1 and 3; image 1: at pixel 0 only
    images = torch.tensor([[0.0, 0.5, 0.0, 1.0], [1.0, 0.0, 0.0, 0.0]]).view(2, 1, 2, 2)
    grad = torch.tensor([[0.1, -3.0, 2.0, -0.2], [5.0, 1.0, -2.0, 0.5]]).view(2, 1, 2, 2)
    fg = S.foreground_share(grad, images, k=2)
    # |grad| masks the 2 smallest magnitudes: image 0 pixels 0, 3 (one foreground); image 1 pixels 3, 1 (none)
    assert fg["abs"] == pytest.approx(1 / 4)
    # signed masks the 2 most negative: image 0 pixels 1, 3 (both foreground); image 1 pixels 2, 3 (none)
    assert fg["signed"] == pytest.approx(2 / 4)
    assert fg["foreground"] == pytest.approx(3 / 8)
    assert S.foreground_share(grad, images, k=4)["abs"] == pytest.approx(3 / 8)  # everything masked


# -- run() ----------------------------------------------------------------------------------------------
def params(**kw):
    p = dict(profile="quick", dataset="mnist", n_train=200, n_test=40, subset_seed=0, val_fraction=0.1, seeds=1,
             epochs=1, batch_size=64, lr=1.0, sgt_k=0.5, lam=1.0, rank_by="abs", alpha=0.95, top_n=5, w=0.1,
             k_min=0.2, k_max=0.8, k_init=0.5, signed_seeds=1, log_prob_seeds=1, drop_methods=["grad", "random"], n_drop=16,
             ig_steps=2, nt_samples=2, device="cpu")
    return types.SimpleNamespace(**(p | kw))


@pytest.fixture(scope="module")
def result(run_experiment):
    store, result = run_experiment(S.run, params())
    return result, store


def test_run_assembles_every_table_and_number_of_the_page(result):
    R, _ = result
    n = R.numbers
    assert R.runs.training.tolist() == ["traditional", "sgt", "smoot"] and R.signed.training.tolist() == ["sgt_signed"]
    assert n["n_loaded"] == 200 and n["n_train_used"] + n["n_val"] == 200 and n["n_test_used"] == 40
    assert n["k_sgt"] == 392 and n["pixels"] == 784 and n["n_drop_used"] == 16 and n["fg_n"] == 40
    assert n["dname"] == "MNIST" and n["w_pixels"] == 78 and n["kmin_pct"] == 20.0
    acc = {t: 100 * R.runs.set_index("training").accuracy[t] for t in S.VARIANTS}
    assert n["acc_ours"] == " / ".join(f"{acc[t]:.2f}" for t in S.VARIANTS) + " %"
    assert n["acc_spread"] == pytest.approx(max(acc.values()) - min(acc.values()))
    assert n["order_ours"] == R.verdict["text"] and n["verdict_text"].startswith(R.verdict["text"])
    assert n["order_paper"] == "SMOOT 33.16 < SGT 34.67 < traditional 36.35"
    assert n["pk_page"] == "234 / 388 / 544" and n["paper_mot"] == pytest.approx(16.0)
    assert n["mot_trad"] == pytest.approx(100 * R.runs.rises_prob.iloc[0])
    assert n["signed_text"].startswith("over 1 seed(s), the signed ranking gives a Gradient AUC of")
    assert R.log_prob.training.tolist() == ["sgt_log_prob"]
    assert n["log_prob_text"].startswith("over 1 seed(s), the saliency of the log-probability gives a Gradient AUC")
    kf = R.k_final[0].float()
    assert (n["k_lo"], n["k_med"], n["k_hi"]) == (int(kf.min()), int(kf.median()), int(kf.max()))
    assert len(kf) == n["n_train_used"] and R.k_quantiles[0].shape[0] == 2  # epochs + 1
    # tables: one row per training, labelled
    for t in (R.summary, R.timing, R.comparison, R.control, R.motivational):
        assert list(t.index) == ["Traditional", "SGT", "SMOOT"]
    assert R.summary.loc["SGT", "AUC Gradient"] == f"{R.runs.auc_grad.iloc[1]:.2f}"
    tm = R.timing
    assert list(tm.columns[:2]) == ["device", "trainings"] and (tm.trainings == 1).all()  # one seed, one device here
    assert n["paper_time"] == S.timing_text(tm) and n["paper_time"].startswith("about ")
    assert n["paper_time"].endswith(f" on {tm.device.iloc[0]} (Traditional, SGT, SMOOT)")
    assert n["plateau_text"] == S.plateau(R.histories)[1]


def test_run_curves_histories_and_figure_images(result):
    R, _ = result
    c = R.curves
    assert len(c) == 3 * 1 * 2 * 11 and sorted(c.percent.unique()) == list(range(0, 101, 10))
    # before any pixel is removed every method sees the same images: one accuracy per training
    assert c[c.percent == 0].groupby("training").accuracy.nunique().eq(1).all()
    auc = c[(c.training == "sgt") & (c.method == "grad")].accuracy
    assert R.runs.auc_grad.iloc[1] == pytest.approx(float(torch.trapezoid(torch.tensor(auc.values), dx=10.0)))
    assert {t: len(h) for t, h in R.histories.items()} == {"traditional": 1, "sgt": 1, "smoot": 1}
    assert list(R.masks) == ["image", "x̃, rank_by=abs", "x̃, rank_by=signed"]
    masked = (R.masks["x̃, rank_by=abs"] != R.masks["image"]).flatten(1).sum(1)
    assert bool((masked <= 392).all()) and bool((masked > 300).all())  # 392 pixels replaced by noise
    assert float(R.masks["image"].min()) >= -1e-5 and float(R.masks["image"].max()) <= 1 + 1e-5  # in [0, 1]
    assert list(R.maps) == ["Traditional", "SGT", "SMOOT"] and R.maps["SGT"].shape == (6, 28, 28)
    assert R.map_images.shape == (6, 1, 28, 28) and len(R.map_titles) == 6
    assert {k: R.paper_k[k] for k in ("k_min", "k_median", "k_max")} == {"k_min": 234, "k_median": 388, "k_max": 544}


def test_run_reads_every_unit_back_and_refuses_cifar(result):
    R, store = result
    again = S.run(params(), store)
    assert again.runs.from_store.all() and again.numbers == R.numbers
    with pytest.raises(ValueError, match="CIFAR is the page sgt_cifar"):
        S.run(params(dataset="cifar10"), store)


def test_the_official_code_variants_train_and_evaluate_in_the_main_grids_calls(run_experiment, monkeypatch):
    """The official code's variants join the three trainings' executor calls (one for the trainings, one for
    the curves), so that no worker idles while the others finish a call of their own."""
    from roarkit.store import Store
    calls, real_map = [], Store.map

    def recording(self, units, **kw):  # the real map, with the units it has to compute counted first
        units = list(units)
        calls.append((kw.get("desc"), sum(self._get_unit(u) is None for u in units)))
        return real_map(self, units, **kw)

    monkeypatch.setattr(Store, "map", recording)
    run_experiment(S.run, params(seeds=2, signed_seeds=1, log_prob_seeds=2))
    computed = [c for c in calls if c[1]]  # 3 x 2 trainings, 1 signed, 2 log p_y: 9 units in each call
    assert computed == [("trainings", 9), ("accuracy-drop curves", 9)], calls


def test_curves_stored_from_other_weights_stop_the_page_naming_their_files(run_experiment):
    """A drop unit's key names its training's parameters, not its weights: curves computed from other weights
    (as from a training retrained on another machine) and stored under that key stop the page, which names them."""
    from roarkit.experiments.sgt_study import drop_value
    p = params(seeds=2, signed_seeds=0, log_prob_seeds=0, n_drop=40)  # the curves on all 40 test images
    store, R = run_experiment(S.run, p)
    st = S.study(p, R.data, store)
    unit = st.evaluate_unit("sgt", 0, methods=p.drop_methods, n_drop=40, attr=S.AttributionConfig(2, 2))
    assert store.get(unit.kind, unit.params, unit.data, unit.code).value["grad"]["accuracy"][0] == \
        R.runs.set_index(["training", "seed"]).accuracy["sgt", 0]  # the page's own curves start at the weights' accuracy
    other = st.train("traditional", 1).value  # weights scoring at least two images differently on the test set
    assert abs(other["metrics"]["accuracy"] - st.train("sgt", 0).value["metrics"]["accuracy"]) > 1.5 / 40
    wrong = drop_value(*unit.args[:3], other["state_dict"], *unit.args[4:])
    path = store.put(unit.kind, unit.params, unit.data, wrong, seconds=0.0, code=unit.code).path
    with pytest.raises(RuntimeError, match=r"computed from other weights than their stored trainings .*: sgt seed 0 \("
                                           + re.escape(str(path)) + r"\): .* Delete these files, rerun the page"):
        S.run(p, store)
    path.unlink()  # the fix the message names: the page recomputes the curves from the stored weights
    assert S.run(p, store).runs.auc_grad.tolist() == R.runs.auc_grad.tolist()
    # on a subset of the test set the curve's start is not the test accuracy, and the page does not compare them
    sub = S.run(params(seeds=2, signed_seeds=0, log_prob_seeds=0, n_drop=16), store)
    start = sub.curves[(sub.curves.percent == 0) & (sub.curves.method == "grad")].set_index(["training", "seed"])
    assert ((start.accuracy - sub.runs.set_index(["training", "seed"]).accuracy).abs() > 1.5 / 40).any()


def test_every_glue_reference_of_the_page_is_glued(result):
    R, _ = result
    text = SOURCE.read_text()
    used = set(re.findall(r"\{glue:(?:text|md)\}`(\w+)", text)) | set(re.findall(r"```\{glue:\w+\} (\w+)", text))
    by_page = {"provenance", "exercises_intro", "page_minutes", "page_name", "paper_cmd"}
    figures = set(re.findall(r'page\.figure\("(\w+)"', text))
    missing = used - by_page - figures - set(R.numbers)
    assert not missing, f"glued nowhere: {sorted(missing)}"
    assert {"fig_masks", "fig_validation", "fig_drop", "fig_k", "fig_maps"} <= figures & used


def test_the_official_code_variants_each_change_one_sgt_setting():
    from roarkit.core import sgt, training
    from roarkit.experiments.sgt_study import Study
    st = Study(None, training.TrainConfig(), sgt.SGTConfig(k=0.3, lam=0.5))
    book = st.train_params("sgt", 0)
    for variant, change in (("sgt_signed", {"rank_by": "signed"}), ("sgt_log_prob", {"grad_of": "log_prob"})):
        p = st.train_params(variant, 0)
        assert p["training"] == "sgt" and p["sgt"] == book["sgt"] | change
        assert st._resolve(variant)[1] == sgt.SGTConfig(**book["sgt"] | change)
    with pytest.raises(ValueError, match="unknown training 'sgt_other'"):
        st.train_params("sgt_other", 0)
