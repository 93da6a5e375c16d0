"""The SGT chapter's pages on MNIST and Fashion-MNIST (``sgt_mnist``, ``sgt_fashion_mnist``, one source):
traditional, SGT and SMOOT trainings over seeds, their accuracy-drop curves, the paper comparison and
the verdict on SMOOT's claimed order.

:func:`run` computes the page from its parameters through :class:`roarkit.experiments.sgt_study.Study`
(units ``sgt_train`` and ``sgt_drop``). The verdict rules: the paper's order *holds* when the mean AUC
of the gradient ranking orders SMOOT < SGT < traditional, and holds *clearly* when each of the two gaps
exceeds the larger seed-to-seed std of its pair (:func:`verdict`); a difference from the paper's value
is beyond seed noise when it exceeds twice our seed-to-seed std (:data:`TOLERANCE`,
:func:`paper_comparison`). The gradient map is labelled "Gradient" (SMOOT's tables call it Saliency).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from roarkit.core import curves, paper, removal, sgt, smoot, training
from roarkit.core import data as D
from roarkit.core.device import resolve_device
from roarkit.core.labels import label
from roarkit.core.saliency import AttributionConfig
from roarkit.experiments.sgt_study import Study
from roarkit.store import Store

__all__ = ["DATASETS", "VARIANTS", "TOLERANCE", "PAPER_IMAGES", "runs_frame", "curves_frame", "mean_std", "summary",
           "paper_comparison", "verdict", "verdict_short", "verdict_tail", "foreground_share", "timing", "timing_text", "control",
           "motivational", "plateau", "OFFICIAL", "official_comparison", "masked_views", "gradient_maps", "SGTResult", "study", "run"]

#: The datasets of these pages (CIFAR is the page ``sgt_cifar``).
DATASETS = ("mnist", "fashion_mnist")
#: The three trainings compared, in the papers' order of columns.
VARIANTS = ("traditional", "sgt", "smoot")
#: A difference from the paper's value is beyond seed noise past this many of our seed-to-seed stds.
TOLERANCE = 2
#: Training images per epoch of the paper profile (60,000 less the 10 % validation split), for the timing.
PAPER_IMAGES = 54_000
GRAD = label("method", "grad")


def runs_frame(study, variants, seeds, extra=(), **eval_kw) -> pd.DataFrame:
    """One row per (training, seed), ``extra`` pairs included (run in the same calls, so that no worker idles
    between them): accuracy, seconds, AUC per method, motivational shares, SMOOT's K. A curve's key names its
    training's parameters, not its weights: with the curves on the whole test set, one that starts (0 % removed)
    over one image away from its weights' test accuracy was computed from other weights, and raises."""
    rows, runs, bad, n = [], [(v, s) for v in variants for s in seeds] + list(extra), [], len(study.data.y_test)
    at_0 = eval_kw.get("n_drop") == n and list(eval_kw.get("percents", curves.PERCENTS))[0] == 0 and [*eval_kw.get("methods", ["grad"])][0]
    trains = study.train_all(runs)                   # the missing trainings run concurrently,
    drops = study.evaluate_all(runs, trains, **eval_kw)  # then the missing curves
    for (v, s), t, d in zip(runs, trains, drops):
        h = t.value["history"]
        row = {"training": v, "seed": s, "accuracy": t.value["metrics"]["accuracy"],
               "val_accuracy": h["val_accuracy"][h["selected_epoch"]], "selected_epoch": h["selected_epoch"] + 1,
               "seconds": t.value["seconds"], "s_per_epoch": float(np.mean(h["seconds"])),
               "n_train": t.value["n_train"], "from_store": t.hit and d.hit, "device": t.provenance.get("device", "?")}
        if at_0 and abs(d.value[at_0]["accuracy"][0] - row["accuracy"]) > 1.5 / n:
            bad.append(f"{v} seed {s} ({d.path}): {d.value[at_0]['accuracy'][0]:.2%} against {row['accuracy']:.2%}")
        for m, r in d.value.items():
            if m != "rises_first":
                row[f"auc_{m}"] = r["auc"]
        if "rises_first" in d.value:
            row["rises_prob"] = d.value["rises_first"]["prob"]
            row["rises_correct"] = d.value["rises_first"]["correct"]
        if "smoot" in t.value:
            k = t.value["smoot"]["k_final"].float()
            row |= {"k_min": int(k.min()), "k_median": int(k.median()), "k_max": int(k.max())}
        rows.append(row)
    if bad:
        raise RuntimeError("accuracy-drop curves computed from other weights than their stored trainings (curve at 0 % "
                           f"removed against the weights' test accuracy): {'; '.join(bad)}. Delete these files, rerun the page.")
    return pd.DataFrame(rows)


def curves_frame(study, variants, seeds, **eval_kw) -> pd.DataFrame:
    """The accuracy-drop curves, one row per (training, seed, method, percent): accuracy as a fraction."""
    percents = list(eval_kw.get("percents", curves.PERCENTS))
    runs = [(v, s) for v in variants for s in seeds]
    rows = [{"training": v, "seed": s, "method": m, "percent": p, "accuracy": a}
            for (v, s), e in zip(runs, study.evaluate_all(runs, **eval_kw)) for m, r in e.value.items()
            if m != "rises_first" for p, a in zip(percents, r["accuracy"])]
    return pd.DataFrame(rows)


def mean_std(x: pd.Series) -> str:
    """``"mean ± std"`` (2 decimals) of a series; the mean alone for one value, "–" for none."""
    x = x.dropna()
    return "–" if x.empty else f"{x.mean():.2f} ± {x.std():.2f}" if len(x) > 1 else f"{x.mean():.2f}"


def summary(df: pd.DataFrame, methods) -> pd.DataFrame:
    """Mean ± std over seeds of accuracy (%) and AUC per method, one row per training (the speed: :func:`timing`,
    per device)."""
    out = {}
    for v, g in df.groupby("training", sort=False):
        r = {"seeds": len(g), "test accuracy (%)": mean_std(100 * g["accuracy"])}
        r |= {f"AUC {label('method', m)}": mean_std(g[f"auc_{m}"]) for m in methods}
        out[label("training", v)] = r
    return pd.DataFrame(out).T


def paper_comparison(df: pd.DataFrame, dataset: str, k_sgt: int) -> pd.DataFrame:
    """Paper (SMOOT Tables 2-3) beside ours (mean over seeds): accuracy (%), AUC of the gradient
    ranking, K; each tolerance is :data:`TOLERANCE` × our seed-to-seed std (NaN for one seed)."""
    rows = []
    for v in VARIANTS:
        g = df[df.training == v]
        if g.empty:
            continue
        pv = paper.value(f"smoot.{dataset}.{v}")
        acc, auc = 100 * g["accuracy"].mean(), g["auc_grad"].mean()
        tol_acc, tol_auc = ((TOLERANCE * 100 * g["accuracy"].std(), TOLERANCE * g["auc_grad"].std()) if len(g) > 1
                            else (math.nan,) * 2)
        row = {"training": label("training", v), "paper accuracy (%)": 100 * pv["accuracy"], "our accuracy (%)": acc,
               "Δ accuracy (pp)": acc - 100 * pv["accuracy"], "tolerance (pp)": tol_acc,
               "paper AUC": pv["auc"], f"our AUC ({GRAD})": auc, "Δ AUC": auc - pv["auc"], "tolerance (AUC)": tol_auc}
        row["paper K min/median/max"], row["our K min/median/max"] = "–", "–"
        if v == "smoot":
            row["paper K min/median/max"] = f"{pv['k_min']}/{pv['k_median']}/{pv['k_max']}"
            row["our K min/median/max"] = (f"{int(g['k_min'].min())}/{int(g['k_median'].median())}/"
                                           f"{int(g['k_max'].max())}")
        elif v == "sgt":
            row["paper K min/median/max"] = str(pv.get("k", "–"))
            row["our K min/median/max"] = str(k_sgt)
        rows.append(row)
    return pd.DataFrame(rows).set_index("training")


def verdict(df: pd.DataFrame, method: str = "grad") -> dict:
    """Whether mean AUC orders SMOOT < SGT < traditional (``holds``), and whether each gap exceeds the
    larger std of its pair (``clear``; a single seed's std counts as 0)."""
    m = df.groupby("training")[f"auc_{method}"].agg(["mean", "std"])
    need = ("smoot", "sgt", "traditional")
    if any(v not in m.index for v in need):
        return {"holds": False, "clear": False, "text": "not all three trainings ran", "means": {}}
    a = {v: float(m.loc[v, "mean"]) for v in need}
    s = {v: float(m.loc[v, "std"]) if not math.isnan(m.loc[v, "std"]) else 0.0 for v in need}
    holds = a["smoot"] < a["sgt"] < a["traditional"]
    clear = holds and all(a[hi] - a[lo] > max(s[hi], s[lo]) for lo, hi in (("smoot", "sgt"), ("sgt", "traditional")))
    text = (f"SMOOT {a['smoot']:.2f} {'<' if a['smoot'] < a['sgt'] else '≥'} SGT {a['sgt']:.2f} "
            f"{'<' if a['sgt'] < a['traditional'] else '≥'} traditional {a['traditional']:.2f}")
    return {"holds": holds, "clear": clear, "text": text, "means": a, "stds": s}


def verdict_short(v: dict) -> str:
    """The verdict in a few words (the landing page's "results at a glance")."""
    return ("holds" if v["clear"] else "holds, within seed noise") if v["holds"] else "does not hold"


def verdict_tail(v: dict, seeds: int) -> str:
    """What follows the order in the verdict sentence: whether the gaps exceed the seed noise."""
    return ("." if not v["holds"] else " (one seed: no standard deviation to compare the gaps with)." if seeds < 2
            else ", and each gap is larger than the seed-to-seed standard deviation." if v["clear"]
            else ", but at least one gap is within the seed-to-seed standard deviation.")


def foreground_share(grad: torch.Tensor, images: torch.Tensor, k: int, seed: int = 0) -> dict:
    """Share of SGT's ``k`` masked pixels that are foreground (an original pixel value > 0 in some
    channel of ``images``, in [0, 1]), per ranking of ``grad`` (both (N, C, H, W)); ``"foreground"``:
    the foreground share of all pixels. Ties are broken by a generator seeded with ``seed``."""
    fg = images.amax(1).flatten(1) > 1e-6
    out = {}
    for rank_by in sgt.RANK_BY:
        g = torch.Generator(device=grad.device).manual_seed(seed)
        mask = sgt.lowest_mask(sgt.pixel_scores(grad, rank_by), k, g)
        out[rank_by] = float((mask & fg).sum() / mask.sum())
    out["foreground"] = float(fg.float().mean())
    return out


def timing(runs: pd.DataFrame, epochs: int = 100, seeds: int = 3) -> pd.DataFrame:
    """Seconds per epoch measured per training and the device that trained it (a page read from the store can hold
    trainings of several devices), scaled per image to :data:`PAPER_IMAGES` and to the paper profile."""
    by = runs.assign(per_image=runs.s_per_epoch / runs.n_train).groupby(["training", "device"], sort=False)
    per_image = by.per_image.mean()
    t = pd.DataFrame({"trainings": by.size(), "s / epoch here": by.s_per_epoch.mean().round(1),
                      "images / epoch here": by.n_train.first(), "s / epoch at 54,000 images": (per_image * PAPER_IMAGES).round(0),
                      f"paper profile, {seeds} seeds (h)": (per_image * PAPER_IMAGES * epochs * seeds / 3600).round(2)})
    t = t.reset_index(level="device")
    t.index = [label("training", v) for v in t.index]
    return t


def timing_text(tm: pd.DataFrame) -> str:
    """The paper profile's training time per device of :func:`timing`: "about 18 h on CPU: … (Traditional, SGT) and …"."""
    return "about " + " and ".join((f"{h.sum():.0f} h" if h.sum() >= 2 else f"{60 * h.sum():.0f} min")
                                   + f" on {d} ({', '.join(h.index)})" for d, h in tm.iloc[:, -1].groupby(tm.device, sort=False))


def control(runs: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """The random control: per training, the random ranking's AUC, the gradient's, and their gap
    (random − gradient, mean ± std over seeds), with a sentence ordering the trainings by that gap."""
    gap = runs.assign(gap=runs.auc_random - runs.auc_grad).groupby("training", sort=False)
    table = pd.DataFrame({f"AUC {label('method', 'random')}": gap.auc_random.apply(mean_std),
                          f"AUC {GRAD}": gap.auc_grad.apply(mean_std),
                          f"Random − {GRAD}": gap.gap.apply(mean_std)})
    table.index = [label("training", t) for t in table.index]
    gm = gap.gap.mean()
    order = " > ".join(f"{label('training', t)} {gm[t]:.2f}" for t in gm.sort_values(ascending=False).index)
    return table, f"ordered by that gap, {order}."


def plateau(histories: dict, window: float = 0.2) -> tuple[pd.DataFrame, str]:
    """Whether the validation accuracy has levelled off by the last epochs. Per training: the validation
    accuracy per epoch averaged over seeds; its mean over the last ``w = max(2, round(window · epochs))``
    epochs minus its mean over the ``w`` epochs before (the gain, pp); and the seed-to-seed std of each
    seed's mean over the last ``w`` epochs (pp). The curve counts as flat when the gain is at most that
    std, or at most 0.1 pp with one seed: the last epochs then add no more than seed noise.
    ``histories``: training -> one history (``val_accuracy`` per epoch, fractions) per seed."""
    acc = {t: 100 * np.asarray([h["val_accuracy"] for h in hs], dtype=float) for t, hs in histories.items()}
    epochs = next(iter(acc.values())).shape[1]
    w = max(2, round(window * epochs))
    if epochs < 2 * w:
        return (pd.DataFrame({"gain": np.nan, "seed_std": np.nan, "flat": False}, index=list(acc)),
                f"with {epochs} epoch(s) there are not two windows of {w} epochs to compare, so this run cannot "
                "show whether the validation accuracy levelled off.")
    last = {t: a[:, -w:].mean(1) for t, a in acc.items()}
    table = pd.DataFrame({"gain": {t: float(last[t].mean() - a[:, -2 * w:-w].mean()) for t, a in acc.items()},
                          "seed_std": {t: float(x.std(ddof=1)) if len(x) > 1 else 0.0 for t, x in last.items()}})
    table["flat"] = [abs(table.gain[t]) <= (table.seed_std[t] if len(last[t]) > 1 else 0.1) for t in table.index]
    flat = [label("training", t) for t in table.index if table.flat[t]]
    word = ("flat for every training" if len(flat) == len(table) else
            f"flat for {', '.join(flat)} only" if flat else "still rising (or falling) for every training")
    return table, (f"over the last {w} of the {epochs} epochs the mean validation accuracy changed by "
                   f"{' / '.join(f'{g:+.2f}' for g in table.gain)} pp "
                   f"({' / '.join(label('training', t) for t in table.index)}) against the {w} epochs before: "
                   f"{word} (flat: a change within the seed-to-seed std of the last {w} epochs' accuracy).")


def motivational(runs: pd.DataFrame) -> pd.DataFrame:
    """SGT's motivational shares (%) per training: true-class probability rises, misclassified → correct."""
    mot = runs.groupby("training", sort=False)[["rises_prob", "rises_correct"]].mean() * 100
    mot.index = [label("training", t) for t in mot.index]
    mot.columns = ["true-class probability rises (%)", "misclassified → correct (%)"]
    return mot


#: The official code's choices the page compares with SGT as this book runs it: variant -> (its page
#: parameter, its row label, what it is called in the sentence, what the book's own SGT is called).
OFFICIAL = {"sgt_signed": ("signed_seeds", "SGT, rank_by=signed (official code)", "the signed ranking",
                           "the magnitude ranking"),
            "sgt_log_prob": ("log_prob_seeds", "SGT, saliency of log p_y (official code)",
                             "the saliency of the log-probability", "that of the logit")}
_BOOK_ROW = {"sgt_signed": "SGT, rank_by=abs (paper)", "sgt_log_prob": "SGT, saliency of the logit (this book)"}


def official_comparison(runs: pd.DataFrame, other: pd.DataFrame | None, methods, n_seeds: int,
                        variant: str = "sgt_signed"):
    """SGT as this book runs it against one of the official code's choices (``variant`` of
    :data:`OFFICIAL`), on the first ``n_seeds`` seeds: the summary table and the sentence the page quotes."""
    param, row, name, ours = OFFICIAL[variant]
    if other is None:
        return (pd.DataFrame({"note": [f"not run in this profile ({param} = 0)"]}),
                f"this profile did not run {name} ({param} = 0).")
    seeds = sorted(other.seed.unique())
    both = pd.concat([runs.loc[(runs.training == "sgt") & runs.seed.isin(seeds)], other])
    diff = summary(both, methods)
    diff.index = [_BOOK_ROW[variant], row]
    a_book, a_other = both.groupby("training").auc_grad.mean()[["sgt", variant]]
    acc = {t: 100 * both[both.training == t].accuracy.mean() for t in ("sgt", variant)}
    return diff, (f"over {n_seeds} seed(s), {name} gives a {GRAD} AUC of {a_other:.2f} against "
                  f"{a_book:.2f} with {ours} ({'a slower' if a_other > a_book else 'a faster'} accuracy "
                  f"drop), at test accuracy {acc[variant]:.2f} % against {acc['sgt']:.2f} %.")


def masked_views(model, x: torch.Tensor, y: torch.Tensor, k: int, seed: int = 0) -> dict:
    """``x`` and SGT's x̃ under magnitude and signed ranking of the same gradients (same ``k``)."""
    grad = sgt.input_gradient(model, x, y)[0]
    rows = {"image": x}
    for rank_by in sgt.RANK_BY:
        g = torch.Generator(device=x.device).manual_seed(seed)
        rows[f"x̃, rank_by={rank_by}"] = sgt.mask_lowest(x, grad, k, rank_by, g)
    return rows


def gradient_maps(models: dict, x: torch.Tensor, y: torch.Tensor) -> dict:
    """Per named model: the magnitude of the true class's input gradient summed over channels, (N, H, W)."""
    return {name: sgt.input_gradient(net, x, y)[0].abs().sum(1).cpu() for name, net in models.items()}


@dataclass
class SGTResult:
    """What the page shows: the per-run table (``runs``; ``signed`` and ``log_prob`` for the SGT runs with the
    official code's ranking and saliency), the tables, the curves (tidy), the training histories and SMOOT's
    K per seed, the images of the figures (in [0, 1]) and the numbers the text quotes (glue name -> value)."""

    dataset: str
    data: D.Dataset
    runs: pd.DataFrame
    signed: pd.DataFrame | None
    log_prob: pd.DataFrame | None
    curves: pd.DataFrame
    summary: pd.DataFrame
    timing: pd.DataFrame
    comparison: pd.DataFrame
    control: pd.DataFrame
    motivational: pd.DataFrame
    signed_table: pd.DataFrame
    log_prob_table: pd.DataFrame
    verdict: dict
    histories: dict          # training -> [history per seed]
    k_final: list            # SMOOT's final K per training image, one tensor per seed
    k_quantiles: list        # SMOOT's K quantiles per epoch, (epochs + 1, levels) per seed
    masks: dict              # row name -> (8, C, H, W) images, SGT's masked inputs
    map_images: torch.Tensor  # (6, C, H, W) test images of the saliency-map figure
    map_titles: list
    maps: dict               # training label -> (6, H, W) gradient magnitude
    paper_k: dict            # the paper's SMOOT row: accuracy, auc, k_min, k_median, k_max
    numbers: dict

    @property
    def infos(self) -> list:
        """The DataInfo of every dataset the result ran on (what the page records)."""
        return [self.data.info]


def study(p, ds, store: Store) -> Study:
    """The page's :class:`~roarkit.experiments.sgt_study.Study` of ``ds`` from its parameters ``p``."""
    return Study(ds, training.TrainConfig(epochs=p.epochs, batch_size=p.batch_size, optimizer="adadelta", lr=p.lr),
                 sgt.SGTConfig(k=p.sgt_k, lam=p.lam, rank_by=p.rank_by),
                 smoot.SMOOTConfig(alpha=p.alpha, top_n=p.top_n, w=p.w, k_min=p.k_min, k_max=p.k_max, k_init=p.k_init),
                 val_fraction=p.val_fraction, split_seed=p.subset_seed, store=store, progress=False)


def _numbers(p, ds, runs, v, pixels, k_sgt, n_drop, fg, smoot_entries) -> dict:
    acc = 100 * runs.groupby("training").accuracy.mean()
    pv = {t: paper.value(f"smoot.{p.dataset}.{t}") for t in VARIANTS}
    pk = {d: paper.value(f"smoot.{d}.smoot") for d in DATASETS}
    kf = torch.cat([e.value["smoot"]["k_final"].float() for e in smoot_entries])
    n_used = int(runs.n_train.iloc[0])
    return {
        "dname": label("dataset", p.dataset), "n_train_used": n_used, "n_val": len(ds.y_train) - n_used,
        "n_test_used": len(ds.y_test), "epochs_run": p.epochs, "seeds_run": p.seeds, "n_drop_used": n_drop,
        "k_sgt": k_sgt, "pixels": pixels, "n_loaded": ds.info.n_train, "n_avail": ds.info.n_train_available,
        "k_pct": 100 * p.sgt_k, "lam_run": p.lam, "alpha_run": p.alpha, "top_n_run": p.top_n, "w_run": p.w,
        "kmin_pct": 100 * p.k_min, "kmax_pct": 100 * p.k_max, "kinit_pct": 100 * p.k_init,
        "w_pixels": round(p.w * pixels), "w_example": 100 * p.w * 0.5, "bs_run": p.batch_size, "lr_run": p.lr,
        "fg_all": 100 * fg["foreground"], "fg_abs": 100 * fg["abs"], "fg_signed": 100 * fg["signed"],
        "fg_n": fg["n"], "val_pct": 100 * p.val_fraction,
        "verdict_word": "holds" if v["holds"] else "does not hold", "acc_spread": float(acc.max() - acc.min()),
        "verdict_text": v["text"] + verdict_tail(v, p.seeds), "order_ours": v["text"], "verdict_short": verdict_short(v),
        **{f"paper_auc_{t}": pv[t]["auc"] for t in VARIANTS},
        "order_paper": " < ".join(f"{n} {pv[t]['auc']:.2f}" for n, t in
                                  (("SMOOT", "smoot"), ("SGT", "sgt"), ("traditional", "traditional"))),
        "acc_ours": " / ".join(f"{acc[t]:.2f}" for t in VARIANTS) + " %",
        "acc_paper": " / ".join(f"{100 * pv[t]['accuracy']:.2f}" for t in VARIANTS) + " %",
        "k_lo": int(kf.min()), "k_med": int(kf.median()), "k_hi": int(kf.max()),
        "pk_page": "{k_min} / {k_median} / {k_max}".format(**pk[p.dataset]),
        "pk_mnist": "{k_min}-{k_max}".format(**pk["mnist"]), "pk_fashion": "{k_min}-{k_max}".format(**pk["fashion_mnist"]),
        "pk_cifar": "{k_min}-{k_max}".format(**paper.value("smoot.cifar_k_range")),
        "k_step": float(torch.stack([e.value["smoot"]["k_step"] for e in smoot_entries]).mean()),
        "paper_mot": 100 * paper.value("sgt.motivational_share_cifar10"),
    }


def run(p, store: Store | None = None) -> SGTResult:
    """The page from its parameters ``p`` (``dataset``, the data, training, SGT/SMOOT and drop settings)."""
    if p.dataset not in DATASETS:
        raise ValueError(f"dataset {p.dataset!r}: this page runs on {', '.join(DATASETS)}; CIFAR is the page sgt_cifar")
    device = resolve_device(p.device)
    ds = D.load(p.dataset, n_train=p.n_train or None, n_test=p.n_test or None, seed=p.subset_seed, device=device)
    st = study(p, ds, store or Store())
    seeds = list(range(p.seeds))
    n_drop = min(p.n_drop, len(ds.y_test))
    ev = dict(methods=p.drop_methods, percents=list(curves.PERCENTS), n_drop=n_drop,
              attr=AttributionConfig(ig_steps=p.ig_steps, nt_samples=p.nt_samples))
    pixels = ds.image_shape[1] * ds.image_shape[2]
    k_sgt = removal.n_pixels(p.sgt_k, pixels)
    extra = {v: seeds[:getattr(p, OFFICIAL[v][0], 0)] for v in OFFICIAL}  # the official code's variants
    frame = runs_frame(st, VARIANTS, seeds, extra=[(v, s) for v, ss in extra.items() for s in ss], **ev)
    runs = frame[frame.training.isin(VARIANTS)].reset_index(drop=True)
    signed, log_prob = (frame[frame.training == v].reset_index(drop=True) if extra[v] else None for v in OFFICIAL)
    base = st.model("traditional", 0)
    some = torch.arange(min(256, len(ds.y_test)))
    x, y = ds.x_test[some], ds.y_test[some]
    fg = foreground_share(sgt.input_gradient(base, x, y)[0], ds.unnormalize(x), k_sgt) | {"n": len(some)}
    masks = {k: ds.unnormalize(t).cpu() for k, t in masked_views(base, ds.x_test[:8], ds.y_test[:8], k_sgt).items()}
    pick = torch.tensor([3, 2, 1, 18, 4, 8])
    maps = gradient_maps({label("training", t): st.model(t, 0) for t in VARIANTS}, ds.x_test[pick], ds.y_test[pick])
    smoot_entries = [st.train("smoot", s) for s in seeds]
    v = verdict(runs, "grad")
    tm = timing(runs)
    ctl, control_text = control(runs)
    mot = motivational(runs)
    (signed_table, signed_text), (log_prob_table, log_prob_text) = (
        official_comparison(runs, part, p.drop_methods, len(extra[v]), v) for v, part in zip(OFFICIAL, (signed, log_prob)))
    histories = {t: [st.train(t, s).value["history"] for s in seeds] for t in VARIANTS}
    _, plateau_text = plateau(histories)
    numbers = _numbers(p, ds, runs, v, pixels, k_sgt, n_drop, fg, smoot_entries) | {
        "plateau_text": plateau_text, "paper_time": timing_text(tm), "control_text": control_text,
        "mot_trad": float(mot.iloc[0, 0]), "signed_text": signed_text, "log_prob_text": log_prob_text}
    return SGTResult(p.dataset, ds, runs, signed, log_prob, curves_frame(st, VARIANTS, seeds, **ev),
                     summary(runs, p.drop_methods), tm, paper_comparison(runs, p.dataset, k_sgt), ctl, mot, signed_table,
                     log_prob_table, v, histories,
                     [e.value["smoot"]["k_final"] for e in smoot_entries],
                     [e.value["smoot"]["k_quantiles"] for e in smoot_entries],
                     masks, ds.unnormalize(ds.x_test[pick]).cpu(), [ds.classes[int(c)] for c in ds.y_test[pick]],
                     maps, paper.value(f"smoot.{p.dataset}.smoot"), numbers)
