"""Tables and figures of the SGT chapter's pages (presentation only: nothing here is computed that a
table or figure does not show). Numbers come from :class:`roarkit.sgt_runs.Study` entries."""
from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch

from roarkit import attribution, paper, sgt
from roarkit.sgt_runs import LABELS

__all__ = ["runs_frame", "mean_std", "summary", "paper_comparison", "verdict", "fig_drop_curves", "fig_saliency_maps",
           "fig_k", "fig_masks", "fig_validation",
           "foreground_share"]

METHOD_LABELS = {"grad": "Saliency", "ig": "Integrated Gradients", "grad_sg": "SmoothGrad", "random": "Random"}
TITLES = {"mnist": "MNIST", "fashion_mnist": "Fashion-MNIST"}  #: datasets of the SGT pages, as the papers name them


def _mlabel(m: str) -> str:
    return METHOD_LABELS.get(m, attribution.label(m))


def runs_frame(study, variants, seeds, **eval_kw) -> pd.DataFrame:
    """One row per (training, seed): accuracy, seconds, AUC per method, motivational shares, SMOOT's K."""
    rows = []
    for v in variants:
        for s in seeds:
            t, d = study.train(v, s), study.evaluate(v, s, **eval_kw)
            h = t.value["history"]
            row = {"training": v, "seed": s, "accuracy": t.value["metrics"]["accuracy"],
                   "val_accuracy": h["val_accuracy"][h["selected_epoch"]], "selected_epoch": h["selected_epoch"] + 1,
                   "seconds": t.value["seconds"], "s_per_epoch": float(np.mean(h["seconds"])),
                   "n_train": t.value["n_train"], "from_store": t.hit and d.hit}
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
    return pd.DataFrame(rows)


def mean_std(x: pd.Series) -> str:
    """``"mean ± std"`` (2 decimals) of a series; the mean alone for one value, "–" for none."""
    x = x.dropna()
    if x.empty:
        return "–"
    return f"{x.mean():.2f} ± {x.std():.2f}" if len(x) > 1 else f"{x.mean():.2f}"


def summary(df: pd.DataFrame, methods) -> pd.DataFrame:
    """Mean ± std over seeds of accuracy (%) and AUC per method, one row per training."""
    out = {}
    for v, g in df.groupby("training", sort=False):
        r = {"seeds": len(g), "test accuracy (%)": mean_std(100 * g["accuracy"])}
        r |= {f"AUC {_mlabel(m)}": mean_std(g[f"auc_{m}"]) for m in methods}
        r["s / epoch"] = f"{g['s_per_epoch'].mean():.1f}"
        out[LABELS.get(v, v)] = r
    return pd.DataFrame(out).T


def paper_comparison(df: pd.DataFrame, dataset: str, k_sgt: int) -> pd.DataFrame:
    """Paper (SMOOT Tables 2-3) beside ours (mean over seeds): accuracy (%), AUC of Saliency, K of SMOOT."""
    rows = []
    for v in ("traditional", "sgt", "smoot"):
        g = df[df.training == v]
        if g.empty:
            continue
        pv = paper.value(f"smoot.{dataset}.{v}")
        acc, auc = 100 * g["accuracy"].mean(), g["auc_grad"].mean()
        # tolerance: twice the seed-to-seed standard deviation of ours (the paper reports none)
        tol_acc, tol_auc = (2 * 100 * g["accuracy"].std(), 2 * g["auc_grad"].std()) if len(g) > 1 else (math.nan,) * 2
        row = {"training": LABELS[v], "paper accuracy (%)": 100 * pv["accuracy"], "our accuracy (%)": acc,
               "Δ accuracy (pp)": acc - 100 * pv["accuracy"], "tolerance (pp)": tol_acc,
               "paper AUC": pv["auc"], "our AUC (Saliency)": auc, "Δ AUC": auc - pv["auc"], "tolerance (AUC)": tol_auc}
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
    """Whether mean AUC orders SMOOT < SGT < traditional, and whether each gap exceeds the larger std."""
    m = df.groupby("training")[f"auc_{method}"].agg(["mean", "std"])
    need = ("smoot", "sgt", "traditional")
    if any(v not in m.index for v in need):
        return {"holds": False, "text": "not all three trainings ran", "means": {}}
    a = {v: float(m.loc[v, "mean"]) for v in need}
    s = {v: float(m.loc[v, "std"]) if not math.isnan(m.loc[v, "std"]) else 0.0 for v in need}
    holds = a["smoot"] < a["sgt"] < a["traditional"]
    clear = holds and all(a[hi] - a[lo] > max(s[hi], s[lo]) for lo, hi in (("smoot", "sgt"), ("sgt", "traditional")))
    text = (f"SMOOT {a['smoot']:.2f} {'<' if a['smoot'] < a['sgt'] else '≥'} SGT {a['sgt']:.2f} "
            f"{'<' if a['sgt'] < a['traditional'] else '≥'} traditional {a['traditional']:.2f}")
    return {"holds": holds, "clear": clear, "text": text, "means": a, "stds": s}


def fig_drop_curves(study, variants, seeds, methods, percents, **eval_kw):
    """Accuracy over removed percentage, one panel per saliency method, one line per training (mean ± std)."""
    fig, axes = plt.subplots(1, len(methods), figsize=(3.3 * len(methods), 3.2), sharey=True)
    axes = np.atleast_1d(axes)
    for ax, m in zip(axes, methods):
        for v in variants:
            acc = np.array([study.evaluate(v, s, methods=methods, percents=percents, **eval_kw).value[m]["accuracy"]
                            for s in seeds]) * 100
            mu, sd = acc.mean(0), acc.std(0)
            ax.plot(percents, mu, marker="o", ms=3, label=LABELS.get(v, v))
            ax.fill_between(percents, mu - sd, mu + sd, alpha=0.2)
        ax.set(title=_mlabel(m), xlabel="salient pixels removed (%)")
    axes[0].set_ylabel("test accuracy (%)")
    axes[-1].legend(fontsize=8)
    fig.tight_layout()
    return fig


def fig_saliency_maps(models: dict, x: torch.Tensor, y: torch.Tensor, ds):
    """Paper Fig. 2: images (top row) and their gradient magnitude (Saliency, true class) per training."""
    n, rows = len(x), len(models) + 1
    fig, axes = plt.subplots(rows, n, figsize=(1.35 * n, 1.4 * rows))
    axes = np.atleast_2d(axes)
    img = ds.unnormalize(x).cpu()
    for j in range(n):
        axes[0, j].imshow(img[j].permute(1, 2, 0).squeeze(-1).clamp(0, 1), cmap="gray_r", vmin=0, vmax=1)
        axes[0, j].set_title(ds.classes[int(y[j])], fontsize=8)
    for i, (name, net) in enumerate(models.items(), start=1):
        g = sgt.input_gradient(net, x, y)[0].abs().sum(1).cpu()
        for j in range(n):
            axes[i, j].imshow(g[j] / g[j].max().clamp(min=1e-12), cmap="hot", vmin=0, vmax=1)
        axes[i, 0].set_ylabel(name, fontsize=8)
    axes[0, 0].set_ylabel("image", fontsize=8)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    return fig


def foreground_share(model, x: torch.Tensor, y: torch.Tensor, ds, k: int, seed: int = 0) -> dict:
    """Share of SGT's masked pixels that are foreground (original pixel value > 0), per ranking."""
    grad = sgt.input_gradient(model, x, y)[0]
    fg = (ds.unnormalize(x).amax(1).flatten(1) > 1e-6)
    out = {}
    for rank_by in sgt.RANK_BY:
        g = torch.Generator(device=x.device).manual_seed(seed)
        mask = sgt.lowest_mask(sgt.pixel_scores(grad, rank_by), k, g)
        out[rank_by] = float((mask & fg).sum() / mask.sum())
    out["foreground"] = float(fg.float().mean())
    return out


def fig_k(entries: list, pixels: int, paper_k: dict | None = None):
    """SMOOT's per-image K: histogram of the final K (all seeds) and its quantiles over epochs."""
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.4))
    k = torch.cat([e.value["smoot"]["k_final"].float() for e in entries]).numpy()
    a.hist(k, bins=40, color="C2")
    a.axvline(np.median(k), color="k", lw=1, label=f"ours: {int(k.min())}/{int(np.median(k))}/{int(k.max())}")
    if paper_k:
        for key, ls in (("k_min", ":"), ("k_median", "--"), ("k_max", ":")):
            a.axvline(paper_k[key], color="C3", ls=ls, lw=1)
        a.plot([], [], color="C3", ls="--", label=f"paper: {paper_k['k_min']}/{paper_k['k_median']}/{paper_k['k_max']}")
    a.set(xlabel=f"final K (pixels masked of {pixels})", ylabel="training images", title="final K (min/median/max)")
    a.legend(fontsize=8)
    for i, e in enumerate(entries):
        q = e.value["smoot"]["k_quantiles"].numpy()  # (epochs + 1, levels)
        ep = np.arange(len(q))
        b.plot(ep, q[:, 3], color=f"C{i}", label=f"seed {i}: median")
        b.fill_between(ep, q[:, 1], q[:, 5], color=f"C{i}", alpha=0.15)
        b.plot(ep, q[:, 0], color=f"C{i}", ls=":", lw=0.8)
        b.plot(ep, q[:, 6], color=f"C{i}", ls=":", lw=0.8)
    b.set(xlabel="epoch", ylabel="K (pixels)", title="K over epochs: median, 5-95 % band, min/max dotted")
    b.xaxis.set_major_locator(plt.MaxNLocator(integer=True))
    b.legend(fontsize=8)
    fig.tight_layout()
    return fig


def fig_masks(model, x: torch.Tensor, y: torch.Tensor, ds, k: int, seed: int = 0):
    """The masked input x̃ under magnitude and signed ranking of the same gradients (same k)."""
    grad = sgt.input_gradient(model, x, y)[0]
    rows = {"image": x}
    for rank_by in sgt.RANK_BY:
        g = torch.Generator(device=x.device).manual_seed(seed)
        rows[f"x̃, rank_by={rank_by}"] = sgt.mask_lowest(x, grad, k, rank_by, g)
    fig, axes = plt.subplots(len(rows), len(x), figsize=(1.3 * len(x), 1.45 * len(rows)))
    for i, (name, t) in enumerate(rows.items()):
        img = ds.unnormalize(t).cpu()
        for j in range(len(x)):
            axes[i, j].imshow(img[j].permute(1, 2, 0).squeeze(-1).clamp(0, 1), cmap="gray_r", vmin=0, vmax=1)
            axes[i, j].set_xticks([])
            axes[i, j].set_yticks([])
        axes[i, 0].set_ylabel(name, fontsize=8)
    fig.tight_layout()
    return fig


def fig_validation(study, variants, seeds):
    """Validation accuracy per epoch (mean over seeds) and the training loss terms."""
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.2))
    for v in variants:
        hs = [study.train(v, s).value["history"] for s in seeds]
        va = 100 * np.mean([h["val_accuracy"] for h in hs], 0)
        ep = np.arange(1, len(va) + 1)
        a.plot(ep, va, marker="o", ms=3, label=LABELS.get(v, v))
        b.plot(ep, np.mean([h["ce"] for h in hs], 0), marker="o", ms=3, label=f"{LABELS.get(v, v)}: CE")
        if v != "traditional":
            b.plot(ep, np.mean([h["kl"] for h in hs], 0), ls="--", marker="x", ms=3, label=f"{LABELS.get(v, v)}: KL")
    a.set(xlabel="epoch", ylabel="validation accuracy (%)")
    for ax in (a, b):
        ax.xaxis.set_major_locator(plt.MaxNLocator(integer=True))
    b.set(xlabel="epoch", ylabel="mean training loss term")
    a.legend(fontsize=8)
    b.legend(fontsize=7)
    fig.tight_layout()
    return fig
