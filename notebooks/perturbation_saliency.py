# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# (perturbation-saliency)=
# # Perturbation saliency and its baselines
#
# ```{glue:md} provenance
# :format: myst
# ```
#
# Input perturbation methods explain a classifier by removing part of the input and watching the
# output change. Occlusion {cite}`zeiler2014visualizing` slides a patch over the image; RISE
# {cite}`petsiuk2018rise` averages over thousands of random masks. Both must put *something* in place
# of what they remove: a baseline image that is supposed to be neutral. Brunke et al.
# {cite}`brunke2020evaluating` claim that (a) arguably neutral baselines still change the saliency
# maps, and (b) many hyperparameter choices make the maps diverge. This page tests both claims on the
# base models of {ref}`data-and-models`, with seven baselines and a grid of hyperparameters, image by
# image over the test images named in the provenance block.

# %% tags=["remove-cell"]
import warnings

warnings.filterwarnings("ignore", message="IProgress not found")  # tqdm, imported by Captum, in a kernel without widgets
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
import torch
from IPython.display import display
from myst_nb import glue

from roarkit import baselines as B
from roarkit import data, divergence, maps, results, similarity, train
from roarkit.page import Page

torch.set_num_threads(1)  # small tensors: one thread is faster than two contended OpenMP threads

# %% tags=["parameters"]
profile = "paper"  # the settings this page runs with: "paper" or "quick"
datasets = ["mnist", "fashion_mnist"]
n_train = 0  # training images of the base model (0: all), as on the "Data and models" page
n_test = 0  # test images loaded (0: all)
n_images = 0  # test images explained (0: every loaded test image), a stratified subset
subset_seed = 0  # seed of the stratified subsets
epochs = 10  # base model: the ROAR report's training settings
batch_size = 16  # as on the "Data and models" page
lr = 1e-3
momentum = 0.9
seed = 0  # seed of the base model and of RISE's masks and the noise baselines
windows = [4, 2, 8]  # occlusion window sizes (pixels); the first of each list is the default setting
strides = [2, 1, 4]  # occlusion strides (pixels), combined with every window they do not exceed
rise_masks = [2000, 500]  # RISE mask counts (nested: the largest costs all)
rise_cell = [4, 2, 7]  # RISE cell sizes (pixels)
rise_p = [0.5, 0.25]  # RISE keep probabilities
baselines = ["zero", "white", "dataset_mean", "image_mean", "blur", "uniform", "noisy_linear"]
device = "auto"
page = Page("perturbation_saliency", globals())

# %% tags=["remove-cell"]
import dataclasses

P = page.start(globals())
store = results.Store()
grid = divergence.Grid(P.windows, P.strides, P.rise_masks, P.rise_cell, P.rise_p, P.baselines)
config = train.TrainConfig(epochs=P.epochs, batch_size=P.batch_size, optimizer="sgd", lr=P.lr, momentum=P.momentum)
CHUNK = 250  # images per stored unit of work
loaded, models, model_keys, picks, runs = {}, {}, {}, {}, {}
for name in P.datasets:
    ds = data.load(name, n_train=P.n_train or None, n_test=P.n_test or None, seed=P.subset_seed, device=page.device)
    loaded[name] = ds
    models[name], entry = maps.base_model(store, ds, config, seed=P.seed)
    model_keys[name] = entry.key  # the stored training unit: its key changes whenever the weights may
    n = len(ds.y_test) if not P.n_images or P.n_images >= len(ds.y_test) else P.n_images
    picks[name] = torch.as_tensor(data._stratified(ds.y_test.cpu().numpy(), n, P.subset_seed)) \
        if n < len(ds.y_test) else torch.arange(n)
    page.add_data(dataclasses.replace(ds.info, n_test=n))
stats = {name: B.Stats.of(ds) for name, ds in loaded.items()}
BL = [B.LABELS[b] for b in grid.baselines]

# %% [markdown]
# ## Seven "neutral" baselines
#
# Every baseline lives in the model's normalised input space: black is the input minimum and white
# the maximum; the dataset mean is 0 after normalisation (the ROAR chapter's fill); the image mean is
# each image's own average; blur is a Gaussian blur of the image (σ = 2 pixels); uniform noise spans
# the input range; and noisy linear imputation, ROAD's choice {cite}`rong2022consistent`, fills each
# removed pixel with the weighted mean of its neighbours plus a little noise. {numref}`fig-baselines`
# shows each one filling the same central patch.
#
# ```{glue:figure} fig_baselines
# :name: fig-baselines
# :alt: For one test image per dataset, the image with its central 12 by 12 patch replaced by each of the seven baselines.
#
# One test image per dataset with its central 12×12 patch replaced by each baseline (pixels shown in
# [0, 1], dark = high).
# ```

# %% tags=["remove-cell"]
fig, axes = plt.subplots(len(loaded), len(grid.baselines) + 1, figsize=(1.6 * (len(grid.baselines) + 1), 1.8 * len(loaded)),
                         squeeze=False)
for r, (name, ds) in enumerate(loaded.items()):
    x = ds.x_test[picks[name][:1]]
    patch = torch.zeros_like(x[:, :1], dtype=torch.bool)
    patch[..., 8:20, 8:20] = True
    axes[r, 0].imshow(ds.unnormalize(x)[0, 0].cpu(), cmap="gray_r", vmin=0, vmax=1)
    axes[r, 0].set_title("input" if r == 0 else "", fontsize=8)
    axes[r, 0].set_ylabel(name, fontsize=8)
    for c, b in enumerate(grid.baselines, 1):
        img = ds.unnormalize(B.perturb(x, patch, b, stats[name], seed=P.seed))[0, 0].clamp(0, 1).cpu()
        axes[r, c].imshow(img, cmap="gray_r", vmin=0, vmax=1)
        axes[r, c].set_title(B.LABELS[b] if r == 0 else "", fontsize=8)
for ax in axes.flat:
    ax.set_xticks([]), ax.set_yticks([])
fig.tight_layout()
glue("fig_baselines", fig, display=False)
plt.close(fig)

# %% [markdown]
# ## Computing the maps
#
# For every test image the page computes occlusion maps for every window and stride (a stride never
# exceeds its window) and RISE maps for every mask count, cell size and keep probability, each with
# every baseline; both explain the softmax probability of the true class. RISE's mask sets are
# nested (the first 500 masks of a seed are the same whatever the total), and RISE is run a second
# time with another mask seed at its first setting, to measure how much two RISE maps differ from
# Monte-Carlo noise alone. Work is stored in units of up to 250 images.

# %% tags=["remove-cell"]
for name, ds in loaded.items():
    idx, parts = picks[name], []
    for start in range(0, len(idx), CHUNK):
        sel = idx[start:start + CHUNK].to(ds.device)
        params = {"model": model_keys[name], "grid": grid.as_dict(), "seed": P.seed,
                  "images": {"n_images": len(idx), "subset_seed": P.subset_seed, "start": start, "stop": start + len(sel)}}
        parts.append(store.cached("divergence", params, ds.info,
                                  lambda ds=ds, sel=sel, start=start: divergence.run_chunk(
                                      models[ds.name], ds.x_test[sel], ds.y_test[sel], grid, stats[ds.name],
                                      seed=P.seed + start, examples=4 if start == 0 else 0), device=page.device,
                                  code=("divergence",)))
    runs[name] = parts


def cat(name, key):
    """Concatenate a per-image result over the stored chunks of one dataset."""
    dim = 1 if key == "neutral/prob" else 0
    vals = [p.value["neutral"][key.split("/")[1]] if key.startswith("neutral") else p.value[key] for p in runs[name]]
    return torch.cat(vals, dim)


# %% [markdown]
# ## Are the baselines neutral?
#
# A neutral baseline should tell the model nothing: on the baseline image alone, the probability of
# the true class should sit near chance (0.1). The table shows the mean over the explained images.

# %% tags=["hide-input"]
neutral = pd.DataFrame({name: [cat(name, "neutral/prob")[k].mean().item() for k in range(len(grid.baselines))]
                        for name in loaded}, index=pd.Index(BL, name="baseline image"))
neutral.loc["the test image itself"] = [cat(name, "neutral/p0").mean().item() for name in loaded]
neutral.style.format("{:.3f}").set_caption("Mean probability of the true class")

# %% [markdown]
# ```{glue:figure} fig_examples
# :name: fig-examples
# :alt: Occlusion and RISE saliency maps of one test image per dataset, one column per baseline.
#
# Occlusion (first setting of the grid) and RISE (first setting) maps of one test image per dataset,
# one column per baseline. Red: keeping the pixel supports the true class; blue: it counts against it.
# Each map has its own colour scale, symmetric about zero; RISE maps, whose values are all close to
# the mean probability, are shown relative to their mean.
# ```

# %% tags=["remove-cell"]
rows = [(name, fam) for name in loaded for fam in divergence.FAMILIES]
fig, axes = plt.subplots(len(rows), len(grid.baselines) + 1, figsize=(1.6 * (len(grid.baselines) + 1), 1.7 * len(rows)),
                         squeeze=False)
for r, (name, fam) in enumerate(rows):
    ex = runs[name][0].value["examples"][fam]  # (B, configs, E, H, W)
    axes[r, 0].imshow(loaded[name].unnormalize(loaded[name].x_test[picks[name][:1]])[0, 0].cpu(), cmap="gray_r")
    axes[r, 0].set_ylabel(f"{name}\n{fam}", fontsize=8)
    for c in range(len(grid.baselines)):
        m = ex[c, 0, 0]
        m = m - m.mean() if fam == "rise" else m  # RISE: relative to the map's mean
        v = m.abs().max().item() or 1.0
        axes[r, c + 1].imshow(m, cmap="RdBu_r", vmin=-v, vmax=v)
        axes[r, c + 1].set_title(BL[c] if r == 0 else "", fontsize=8)
for ax in axes.flat:
    ax.set_xticks([]), ax.set_yticks([])
fig.tight_layout()
glue("fig_examples", fig, display=False)
plt.close(fig)

# %% [markdown]
# ## (a) The baseline changes the map
#
# For each image, the maps that the *same* method and setting produce with two different baselines
# are compared by Spearman's rank correlation over the pixels, the share of the top 10 % pixels they
# have in common, and SSIM. {numref}`fig-baseline-heat` shows the mean Spearman correlation over the
# test images for every pair of baselines; {numref}`fig-baseline-dist` its distribution over images.
#
# ```{glue:figure} fig_baseline_heat
# :name: fig-baseline-heat
# :alt: Heat maps of the mean Spearman correlation between maps made with each pair of baselines, for occlusion and RISE on each dataset.
#
# Mean Spearman correlation over test images between maps of the first occlusion and RISE settings
# made with two baselines.
# ```

# %% tags=["remove-cell"]
FAM = {"occlusion": "Occlusion", "rise": "RISE"}


def heat(ax, mat, labels, title):
    sns.heatmap(mat, ax=ax, vmin=-1, vmax=1, cmap="RdBu_r", annot=True, fmt=".2f", cbar=False, square=True,
                xticklabels=labels, yticklabels=labels, annot_kws={"fontsize": 6})
    ax.set_title(title, fontsize=9)
    ax.tick_params(labelsize=6)


fig, axes = plt.subplots(len(loaded), 2, figsize=(9, 4.3 * len(loaded)), squeeze=False)
for r, name in enumerate(loaded):
    for c, fam in enumerate(divergence.FAMILIES):
        mat = cat(name, f"baselines/{fam}/spearman")[:, 0].nanmean(0).numpy()
        heat(axes[r, c], mat, BL, f"{name}: {FAM[fam]} ({grid.labels(fam)[0]})")
fig.tight_layout()
glue("fig_baseline_heat", fig, display=False)
plt.close(fig)

# %% [markdown]
# ```{glue:figure} fig_baseline_dist
# :name: fig-baseline-dist
# :alt: Box plots over test images of the Spearman correlation between the map made with the first baseline and the map made with each other baseline.
#
# Distribution over test images of the Spearman correlation between the map made with the first
# baseline (zero) and the map made with each other baseline. The dotted line marks, for RISE, the
# median correlation of two RISE maps that differ only in their random masks.
# ```

# %% tags=["remove-cell"]
def boxes(panel, color):
    """One box plot per dataset (row) and method (column); ``panel(name, fam)`` gives the values
    (images x baselines, or None when there is nothing to compare), their columns, the title and
    an optional reference line."""
    fig, axes = plt.subplots(len(loaded), 2, figsize=(10, 3.2 * len(loaded)), squeeze=False)
    for r, name in enumerate(loaded):
        for c, fam in enumerate(divergence.FAMILIES):
            ax = axes[r, c]
            values, columns, title, line = panel(name, fam)
            if values is None:
                ax.text(0.5, 0.5, "one setting only", ha="center")
                continue
            df = pd.DataFrame(values, columns=columns).melt(var_name="baseline", value_name="Spearman")
            sns.boxplot(df, x="baseline", y="Spearman", ax=ax, fliersize=1, color=color)
            if line is not None:
                ax.axhline(line, ls=":", c="k")
            ax.set(title=title, xlabel="", ylim=(-1.05, 1.05))
            ax.tick_params(axis="x", labelsize=7, rotation=30)
    fig.tight_layout()
    return fig


def vs_first(name, fam):
    floor_line = cat(name, "floor/spearman").nanmedian().item() if fam == "rise" else None
    return (cat(name, f"baselines/{fam}/spearman")[:, 0, 0, 1:].numpy(), BL[1:],
            f"{name}: {FAM[fam]}, vs {BL[0]}", floor_line)


fig = boxes(vs_first, "#9ecae1")
glue("fig_baseline_dist", fig, display=False)
plt.close(fig)

# %% [markdown]
# The table summarises every measure over all pairs of baselines and every setting of the grid
# (mean over images and pairs; in brackets the lowest median over images of any pair).

# %% tags=["remove-cell"]
floor = {name: cat(name, "floor/spearman").nanmedian().item() for name in loaded}  # two RISE mask seeds


def divergent(kind, name, fam):
    """Bool per pair of settings: divergent (for RISE also below the two-seed noise floor)."""
    return divergence.diverging(cat(name, f"{kind}/{fam}/spearman"), floor[name] if fam == "rise" else None).flatten()


def summary(kind):
    rows = []
    for name in loaded:
        for fam in divergence.FAMILIES:
            row = {"dataset": name, "method": FAM[fam]}
            for meas in similarity.MEASURES:
                sim = cat(name, f"{kind}/{fam}/{meas}")
                row[similarity.LABELS[meas]] = (f"{divergence.off_diagonal(sim).nanmean().item():.3f} "
                                                f"({divergence.pair_medians(sim).min().item():.3f})")
            d = divergent(kind, name, fam)
            row["diverging pairs"] = f"{int(d.sum())} of {d.numel()}"
            rows.append(row)
    return pd.DataFrame(rows).set_index(["dataset", "method"])


def verdict(kind):
    """'supported' when every method diverges on every dataset for some pair, else which do."""
    hit = [(name, fam) for name in loaded for fam in divergence.FAMILIES if divergent(kind, name, fam).any()]
    if len(hit) == len(loaded) * len(divergence.FAMILIES):
        return "supported"
    if not hit:
        return "not supported"
    return "partly supported (" + ", ".join(f"{FAM[f]} on {n}" for n, f in hit) + " only)"


def share(kind, fam=None):
    d = torch.cat([divergent(kind, n, f) for n in loaded for f in ([fam] if fam else divergence.FAMILIES)])
    return 100 * d.float().mean().item(), d.numel()


summary_b = summary("baselines")

# %%
summary_b

# %% tags=["remove-cell"]
med_a = torch.cat([divergence.pair_medians(cat(n, f"baselines/{f}/spearman")).flatten()
                   for n in loaded for f in divergence.FAMILIES])
glue("a_share", share("baselines")[0], display=False)
glue("a_share_occ", share("baselines", "occlusion")[0], display=False)
glue("a_share_rise", share("baselines", "rise")[0], display=False)
glue("a_min", med_a.min().item(), display=False)
glue("a_mean_occ", float(np.mean([divergence.off_diagonal(cat(n, "baselines/occlusion/spearman")).nanmean().item() for n in loaded])), display=False)
glue("a_mean_rise", float(np.mean([divergence.off_diagonal(cat(n, "baselines/rise/spearman")).nanmean().item() for n in loaded])), display=False)
glue("a_floor", float(np.mean(list(floor.values()))), display=False)
glue("a_verdict", verdict("baselines"), display=False)
glue("diverge", divergence.DIVERGE, display=False)

# %% [markdown]
# **Verdict on claim (a): {glue:text}`a_verdict`.** Call two settings *divergent* when the median
# Spearman correlation of their maps over the test images is below {glue:text}`diverge:.1f`; for RISE,
# whose maps carry Monte-Carlo noise, the median must also fall below that of two RISE runs that
# differ only in their random masks (the *noise floor*, on average {glue:text}`a_floor:.2f`). Over
# both datasets and every setting of the grid, {glue:text}`a_share:.0f` % of the pairs of baselines
# diverge (occlusion {glue:text}`a_share_occ:.0f` %, RISE {glue:text}`a_share_rise:.0f` %), and the
# least similar pair reaches a median correlation of {glue:text}`a_min:.2f`. On average, maps made
# with two different baselines correlate at {glue:text}`a_mean_occ:.2f` (occlusion) and
# {glue:text}`a_mean_rise:.2f` (RISE). How the baseline also changes the
# *evaluation* of saliency maps is the subject of the next page, {ref}`saliency-metrics`.
#
# ## (b) The hyperparameters change the map
#
# The same comparison across the hyperparameters, with the baseline held fixed:
# {numref}`fig-config-heat` shows the mean Spearman correlation between every pair of settings for
# the first baseline, {numref}`fig-config-dist` how the mean over pairs spreads across images for
# every baseline.
#
# ```{glue:figure} fig_config_heat
# :name: fig-config-heat
# :alt: Heat maps of the mean Spearman correlation between maps made with each pair of hyperparameter settings, for occlusion and RISE on each dataset.
#
# Mean Spearman correlation over test images between maps made with two settings (w: window, s:
# stride; N: masks, c: cell size, p: keep probability), first baseline.
# ```

# %% tags=["remove-cell"]
ncfg = max(len(grid.labels(f)) for f in divergence.FAMILIES)
fig, axes = plt.subplots(len(loaded), 2, figsize=(2 * max(4.5, 0.55 * ncfg + 1.5), len(loaded) * max(4.3, 0.5 * ncfg + 1.5)),
                         squeeze=False)
for r, name in enumerate(loaded):
    for c, fam in enumerate(divergence.FAMILIES):
        mat = cat(name, f"configs/{fam}/spearman")[:, 0].nanmean(0).numpy()
        heat(axes[r, c], mat, grid.labels(fam), f"{name}: {FAM[fam]} ({BL[0]})")
fig.tight_layout()
glue("fig_config_heat", fig, display=False)
plt.close(fig)

# %% [markdown]
# ```{glue:figure} fig_config_dist
# :name: fig-config-dist
# :alt: Box plots over test images of the mean Spearman correlation between pairs of hyperparameter settings, one box per baseline.
#
# Per image, the mean Spearman correlation over all pairs of settings; one box per baseline.
# ```

# %% tags=["remove-cell"]
def across_settings(name, fam):
    v = divergence.off_diagonal(cat(name, f"configs/{fam}/spearman"))
    return (v.nanmean(-1).numpy() if v.shape[-1] else None), BL, f"{name}: {FAM[fam]}", None


fig = boxes(across_settings, "#fdae6b")
glue("fig_config_dist", fig, display=False)
plt.close(fig)

# %% tags=["hide-input"]
summary_c = summary("configs")
summary_c

# %% tags=["remove-cell"]
med_b = torch.cat([divergence.pair_medians(cat(n, f"configs/{f}/spearman")).flatten()
                   for n in loaded for f in divergence.FAMILIES])
glue("b_share", share("configs")[0], display=False)
glue("b_n", share("configs")[1], display=False)
glue("b_min", med_b.min().item(), display=False)
glue("b_share_occ", share("configs", "occlusion")[0], display=False)
glue("b_share_rise", share("configs", "rise")[0], display=False)
glue("b_verdict", verdict("configs"), display=False)

def group_mean(fam, same):
    """Mean Spearman (first baseline, over images and datasets) of the setting pairs for which same(a, b)."""
    cfgs = grid.occlusion_configs() if fam == "occlusion" else grid.rise_configs()
    pairs = [(i, j) for i in range(len(cfgs)) for j in range(i + 1, len(cfgs)) if same(cfgs[i], cfgs[j])]
    if not pairs:
        return float("nan")
    return float(np.mean([cat(n, f"configs/{fam}/spearman")[:, 0, i, j].nanmean().item() for n in loaded for i, j in pairs]))


glue("occ_same_w", group_mean("occlusion", lambda a, b: a[0] == b[0]), display=False)
glue("occ_diff_w", group_mean("occlusion", lambda a, b: a[0] != b[0]), display=False)
glue("rise_same_cp", group_mean("rise", lambda a, b: a[1:] == b[1:]), display=False)
glue("rise_diff_p", group_mean("rise", lambda a, b: a[1] == b[1] and a[2] != b[2]), display=False)
glue("rise_diff_c", group_mean("rise", lambda a, b: a[1] != b[1]), display=False)

# %% [markdown]
# **Verdict on claim (b): {glue:text}`b_verdict`.** Of the {glue:text}`b_n` pairs of hyperparameter
# settings (over both methods, datasets and every baseline), {glue:text}`b_share:.0f` % diverge
# (occlusion {glue:text}`b_share_occ:.0f` %, RISE {glue:text}`b_share_rise:.0f` %); the least similar
# pair has a median correlation of {glue:text}`b_min:.2f`. Which hyperparameter matters, for the
# first baseline and averaged over images: occlusion maps with the same window but different strides
# correlate at {glue:text}`occ_same_w:.2f`, with different windows at {glue:text}`occ_diff_w:.2f`;
# RISE maps that differ only in their number of (nested) masks correlate at {glue:text}`rise_same_cp:.2f`, with
# different keep probabilities (same cell) at {glue:text}`rise_diff_p:.2f`, and with different cell
# sizes at {glue:text}`rise_diff_c:.2f` (noise floor: {glue:text}`a_floor:.2f`).
#
# ## Run time
#
# Images explained per second, for all settings of the grid with one baseline (the nested RISE mask
# counts cost the largest), on the device in the provenance block. Noisy linear imputation solves a
# sparse linear system for every perturbed image: RISE with it explains {glue:text}`nl_slow:.0f` times
# fewer images per second than RISE with the zero baseline. Each stored unit records the wall time of
# the process that computed it, so where several runs shared the cores these rates are lower bounds.

# %% tags=["hide-input"]
rt = pd.DataFrame({name: {(FAM[f], B.LABELS[b]): sum(len(p.value["neutral"]["p0"]) for p in runs[name])
                          / sum(p.value["seconds"][f"{f}/{b}"] for p in runs[name])
                          for f in divergence.FAMILIES for b in grid.baselines} for name in loaded})
rt.index.names = ["method", "baseline"]
glue("nl_slow", float((rt.loc[(FAM["rise"], B.LABELS["zero"])] / rt.loc[(FAM["rise"], B.LABELS["noisy_linear"])]).mean())
     if {"zero", "noisy_linear"} <= set(grid.baselines) else float("nan"), display=False)
rt.style.format("{:.1f}").set_caption("Images per second, whole grid of settings")

# %% tags=["remove-cell"]
page.finish();

# %% [markdown]
# ## Exercises
#
# Each exercise runs on a laptop CPU with the quick profile (a few test images, a small grid); this
# page took {glue:text}`page_minutes:.1f` minutes with the settings in its provenance block. Noisy
# linear imputation dominates the run time (table above): leaving `noisy_linear` out of `baselines`
# makes any exercise faster.
#
# 1. **The baseline held fixed.** `python -m roarkit run perturbation_saliency --profile quick -p baselines "[blur, zero, noisy_linear]"`.
#    The first baseline is the reference of {numref}`fig-baseline-dist` and the one held fixed in (b).
#    Do the verdict on (b) and its share of diverging setting pairs depend on that choice? Which pair of
#    these three baselines diverges most under (a)?
# 2. **Window or stride.** `python -m roarkit run perturbation_saliency --profile quick -p windows "[3, 5, 9]" -p strides "[2, 3]"`.
#    Do occlusion maps made with different windows still correlate less than maps that differ only in
#    their stride? What does that say about the size of the features the model relies on?
# 3. **More RISE masks.** `python -m roarkit run perturbation_saliency --profile quick -p rise_masks "[600, 150]"`.
#    The largest mask count sets RISE's cost (the mask sets are nested), and more masks mean less
#    Monte-Carlo noise. How do the noise floor and RISE's share of diverging baseline pairs change: how
#    much of claim (a) for RISE was noise?
