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
# (saliency-metrics)=
# # Saliency metrics disagree
#
# ```{glue:md} provenance
# :format: myst
# ```
#
# Perturbation is also the most common way to *evaluate* a saliency map without retraining: remove
# the pixels the map calls important and see whether the model's confidence falls
# {cite}`samek2017evaluating,petsiuk2018rise`. The previous page ({ref}`perturbation-saliency`)
# showed that perturbation maps depend on the baseline and on hyperparameters. Here the same
# perturbations act as saliency metrics, and Brunke et al.'s third claim {cite}`brunke2020evaluating`
# is tested: (c) perturbation methods are inconsistent and not robust as saliency metrics. Following
# Tomsett et al. {cite}`tomsett2020sanity`, a metric is treated as a psychometric test and its
# reliability measured; a model-randomisation test {cite}`adebayo2018sanity` and, where the ROAR
# chapter's results exist, a comparison with retraining complete the picture.

# %% tags=["remove-cell"]
import warnings

warnings.filterwarnings("ignore", message="IProgress not found")  # tqdm, imported by Captum, in a kernel without widgets
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
import torch
from IPython.display import Markdown, display
from myst_nb import glue

from roarkit import attribution, data, evaluation, maps, metrics, reliability, results, similarity, train
from roarkit import baselines as B
from roarkit.page import Page

torch.set_num_threads(1)  # small tensors: one thread is faster than two contended OpenMP threads

# %% tags=["parameters"]
profile = "paper"  # the settings this page runs with: "paper" or "quick"
datasets = ["mnist", "fashion_mnist"]
n_train = 0  # training images of the base model (0: all), as on the "Data and models" page
n_test = 0  # test images loaded (0: all)
n_images = 0  # test images evaluated (0: every loaded test image), a stratified subset
subset_seed = 0
epochs = 10  # base model: the ROAR report's training settings
batch_size = 16  # as on the "Data and models" page
lr = 1e-3
momentum = 0.9
seed = 0
methods = ["saliency", "ig", "smoothgrad", "guided_backprop", "deeplift", "occlusion", "rise", "random"]
baselines = ["zero", "white", "dataset_mean", "image_mean", "blur", "uniform", "noisy_linear"]
metric_steps = 20  # points on each perturbation curve after the start: 5 % of the pixels per step
windows = [4]  # occlusion window of the evaluated occlusion maps (the first entry is used)
strides = [2]
rise_masks = [2000]  # RISE settings of the evaluated RISE maps (the first entries are used)
rise_cell = [4]
rise_p = [0.5]
sanity_images = 500  # test images in the randomisation test (0: all n_images)
device = "auto"
page = Page("saliency_metrics", globals())

# %% tags=["remove-cell"]
import dataclasses

P = page.start(globals())
store = results.Store()
config = train.TrainConfig(epochs=P.epochs, batch_size=P.batch_size, optimizer="sgd", lr=P.lr, momentum=P.momentum)
map_config = maps.MapConfig(window=P.windows[0], stride=P.strides[0], rise_masks=P.rise_masks[0],
                            rise_cell=P.rise_cell[0], rise_p=P.rise_p[0], baseline=P.baselines[0])
methods, bls = maps.check_methods(P.methods), B.check_baselines(P.baselines)
ML = [maps.LABELS[m] for m in methods]
CHUNK = 500
loaded, models, model_keys, picks, runs, sane = {}, {}, {}, {}, {}, {}
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

# %% [markdown]
# ## Maps and metrics
#
# Eight maps are evaluated for each test image: the gradient (Saliency), Integrated Gradients,
# SmoothGrad and Guided Backprop with the ROAR chapter's settings, DeepLift {cite}`shrikumar2017learning`,
# occlusion and RISE with the first entries of the page parameters `windows`, `strides`, `rise_masks`,
# `rise_cell`, `rise_p` and `baselines` (see the provenance block), and a random map as the floor
# every method should beat. Pixels are ordered by the absolute value of the map (ties at random), as
# in the ROAR chapter. Each ordering is then scored with MoRF (most relevant first removed: a
# faithful map makes the probability of the true class fall fast, so a *low* area is good), LeRF
# (least relevant first: a *high* area is good) and their difference ABPC, each with every baseline
# of the previous page; with noisy linear imputation MoRF and LeRF are ROAD {cite}`rong2022consistent`.
# AOPC {cite}`samek2017evaluating` is the MoRF area subtracted from the unperturbed probability,
# which is the same for every method of an image, and insertion {cite}`petsiuk2018rise` is LeRF read
# backwards (a test checks both identities), so neither ranks methods differently. That makes
# {glue:text}`n_variants` metric variants.
#
# ```{glue:figure} fig_maps
# :name: fig-maps
# :alt: The saliency maps of each method for one test image per dataset.
#
# The evaluated maps of one test image per dataset (red positive, blue negative, each on its own
# symmetric scale; RISE relative to its mean).
# ```

# %% tags=["remove-cell"]
for name, ds in loaded.items():
    idx, parts = picks[name], []
    for start in range(0, len(idx), CHUNK):
        sel = idx[start:start + CHUNK].to(ds.device)
        params = {"model": model_keys[name], "methods": methods, "baselines": bls, "map": map_config.as_dict(),
                  "attr": attribution.AttributionConfig().as_dict(), "steps": P.metric_steps, "seed": P.seed,
                  "images": {"n_images": len(idx), "subset_seed": P.subset_seed, "start": start, "stop": start + len(sel)}}
        parts.append(store.cached("metric_curves", params, ds.info, lambda ds=ds, sel=sel, start=start: evaluation.run_chunk(
            models[ds.name], ds.x_test[sel], ds.y_test[sel], methods, bls, stats[ds.name], config=map_config,
            steps=P.metric_steps, seed=P.seed + start, examples=2 if start == 0 else 0), device=page.device,
            code=("evaluation",)))
    runs[name] = parts
curves = {name: torch.cat([p.value["curves"] for p in parts], 3) for name, parts in runs.items()}
score = {name: evaluation.scores(c, bls) for name, c in curves.items()}
VARIANTS = list(next(iter(score.values())))
VL = [evaluation.variant(k, b) for k, b in VARIANTS]
glue("n_variants", len(VARIANTS), display=False)

fig, axes = plt.subplots(len(loaded), len(methods) + 1, figsize=(1.5 * (len(methods) + 1), 1.7 * len(loaded)), squeeze=False)
for r, (name, ds) in enumerate(loaded.items()):
    axes[r, 0].imshow(ds.unnormalize(ds.x_test[picks[name][:1]])[0, 0].cpu(), cmap="gray_r")
    axes[r, 0].set_ylabel(name, fontsize=8)
    for c, m in enumerate(methods):
        a = runs[name][0].value["examples"][c, 0]
        a = a - a.mean() if m == "rise" else a  # RISE: relative to the map's mean
        v = a.abs().max().item() or 1.0
        axes[r, c + 1].imshow(a, cmap="RdBu_r", vmin=-v, vmax=v)
        axes[r, c + 1].set_title(ML[c] if r == 0 else "", fontsize=7)
for ax in axes.flat:
    ax.set_xticks([]), ax.set_yticks([])
fig.tight_layout()
glue("fig_maps", fig, display=False)
plt.close(fig)

# %% [markdown]
# ```{glue:figure} fig_curves
# :name: fig-curves
# :alt: Mean MoRF and LeRF perturbation curves of every method, one panel per dataset, order and baseline.
#
# Mean probability of the true class as pixels are removed, per method: MoRF (upper row of each
# dataset) and LeRF (lower row), one column per baseline.
# ```

# %% tags=["remove-cell"]
frac = np.linspace(0, 100, P.metric_steps + 1)
colors = sns.color_palette("tab10", len(methods))
fig, axes = plt.subplots(2 * len(loaded), len(bls), figsize=(1.9 * len(bls), 1.8 * 2 * len(loaded)), squeeze=False,
                         sharex=True, sharey=True)
for r, name in enumerate(loaded):
    for o, order in enumerate(evaluation.ORDERS):
        for j, b in enumerate(bls):
            ax = axes[2 * r + o, j]
            for i, m in enumerate(methods):
                ax.plot(frac, curves[name][i, j, o].mean(0), color=colors[i], lw=1, label=ML[i])
            ax.set_title(f"{B.LABELS[b]}" if r == 0 and o == 0 else "", fontsize=7)
            if j == 0:
                ax.set_ylabel(f"{name}\n{order.upper()}", fontsize=7)
            ax.tick_params(labelsize=6)
axes[0, -1].legend(fontsize=5, loc="upper right")
fig.supxlabel("% of pixels removed", fontsize=8)
fig.tight_layout()
glue("fig_curves", fig, display=False)
plt.close(fig)

# %% [markdown]
# ## Method rankings per metric variant
#
# Each variant ranks the methods by their mean score over the test images (1 = most faithful).
# {numref}`fig-rankings` shows every ranking; if the metrics measured one property, the columns
# would look alike.
#
# ```{glue:figure} fig_rankings
# :name: fig-rankings
# :alt: Heat maps of the rank of each saliency method under each metric variant, one per dataset.
#
# Rank of each method (columns) under each metric variant (rows), 1 = best, per dataset.
# ```

# %% tags=["remove-cell"]
ranks = {name: pd.DataFrame(torch.stack(list(evaluation.rankings(s).values())).numpy(), index=VL, columns=ML)
         for name, s in score.items()}
fig, axes = plt.subplots(1, len(loaded), figsize=(0.55 * len(methods) * len(loaded) + 3.5 * len(loaded), 0.28 * len(VL) + 1.5),
                         squeeze=False)
for ax, (name, df) in zip(axes[0], ranks.items()):
    sns.heatmap(df, ax=ax, annot=True, fmt=".0f", cmap="viridis_r", cbar=False, annot_kws={"fontsize": 6})
    ax.set_title(name, fontsize=9)
    ax.tick_params(labelsize=6)
fig.tight_layout()
glue("fig_rankings", fig, display=False)
plt.close(fig)

# %% tags=["hide-input"]
pd.concat(ranks, axis=1).style.format("{:.1f}").set_caption("Rank of each method (1 = best) under each metric variant")

# %% [markdown]
# ## Reliability of the metrics
#
# **Inter-rater reliability** {cite}`tomsett2020sanity`: each test image acts as a rater that ranks
# the methods by one metric variant; Krippendorff's ordinal α {cite}`krippendorff2011computing`
# measures how far the images agree (1: perfectly; 0: no more than chance; Krippendorff asks for at
# least 0.8, and 0.667 for tentative conclusions). **Agreement between variants**: the same α with the
# variants as raters of the methods' mean ranks. **Internal consistency**: for each method, the
# Spearman correlation over images between the scores of two variants, averaged over methods; variants
# that measure the same property should correlate highly.

# %% tags=["remove-cell"]
irr = pd.DataFrame({name: [reliability.inter_rater(s[k]) for k in VARIANTS] for name, s in score.items()}, index=VL)
kinds_alpha = {}
for name, s in score.items():
    kinds_alpha[name] = {"all variants": evaluation.agreement(s)}
    for kind in evaluation.KINDS:
        kinds_alpha[name][f"{evaluation.KIND_LABELS[kind]} across baselines"] = evaluation.agreement(
            {k: v for k, v in s.items() if k[0] == kind})
    for b in bls:
        kinds_alpha[name][f"MoRF, LeRF, ABPC with {B.LABELS[b]}"] = evaluation.agreement(
            {k: v for k, v in s.items() if k[1] == b})
agree = pd.DataFrame(kinds_alpha)
cons = {name: evaluation.consistency(s) for name, s in score.items()}

# %%
irr.style.format("{:.3f}").set_caption("Inter-rater reliability (Krippendorff's ordinal α over images)")

# %%
agree.style.format("{:.3f}").set_caption("Agreement between metric variants on the method ranking (Krippendorff's α)")

# %% [markdown]
# ```{glue:figure} fig_consistency
# :name: fig-consistency
# :alt: Heat maps of the mean Spearman correlation over images between the scores of every pair of metric variants.
#
# Internal consistency: Spearman correlation over test images between the scores of two metric
# variants, averaged over the methods.
# ```

# %% tags=["remove-cell"]
fig, axes = plt.subplots(1, len(loaded), figsize=(0.3 * len(VL) * len(loaded) + 2 * len(loaded), 0.3 * len(VL) + 2),
                         squeeze=False)
for k, (ax, (name, c)) in enumerate(zip(axes[0], cons.items())):
    sns.heatmap(c.numpy(), ax=ax, vmin=-1, vmax=1, cmap="RdBu_r", cbar=k == len(cons) - 1, square=True,
                xticklabels=VL, yticklabels=VL, cbar_kws={"shrink": 0.5, "label": "Spearman"})
    ax.set_title(name, fontsize=9)
    ax.tick_params(labelsize=5)
fig.tight_layout()
glue("fig_consistency", fig, display=False)
plt.close(fig)

# %% tags=["remove-cell"]
# checks of the identities on the first images: insertion vs LeRF, AOPC vs MoRF
name0 = next(iter(loaded))
ds0, sel0 = loaded[name0], picks[name0][:32].to(loaded[name0].device)
a0 = maps.saliency_map(models[name0], ds0.x_test[sel0], ds0.y_test[sel0], methods[0], stats=stats[name0], config=map_config)
r0 = attribution.ranks(attribution.scores(a0), seed=P.seed)
kw0 = dict(baseline=bls[0], stats=stats[name0], steps=P.metric_steps, seed=P.seed)
ins = metrics.insertion(models[name0], ds0.x_test[sel0], ds0.y_test[sel0], r0, **kw0)
ler = metrics.lerf(models[name0], ds0.x_test[sel0], ds0.y_test[sel0], r0, **kw0)
glue("identity_gap", (metrics.auc(ins) - metrics.auc(ler)).abs().max().item(), display=False)
c0 = curves[name0][:, 0, 0]  # (methods, N, S) MoRF with the first baseline
aopc_rank = reliability.method_ranks(torch.stack([metrics.aopc(c) for c in c0], 1))
auc_rank = reliability.method_ranks(-torch.stack([metrics.auc(c) for c in c0], 1))
glue("aopc_same", 100 * (aopc_rank == auc_rank).all(1).float().mean().item(), display=False)

mean_irr = irr.to_numpy()
glue("irr_median", float(np.nanmedian(mean_irr)), display=False)
glue("irr_max", float(np.nanmax(mean_irr)), display=False)
glue("irr_min", float(np.nanmin(mean_irr)), display=False)
glue("irr_reliable", int((mean_irr >= 0.8).sum()), display=False)
glue("irr_total", int(np.isfinite(mean_irr).sum()), display=False)
glue("alpha_all", float(agree.loc["all variants"].mean()), display=False)
glue("alpha_morf_b", float(agree.loc["MoRF across baselines"].mean()), display=False)
glue("alpha_lerf_b", float(agree.loc["LeRF across baselines"].mean()), display=False)
off = np.concatenate([c.numpy()[np.triu_indices(len(VL), 1)] for c in cons.values()])
glue("cons_mean", float(np.nanmean(off)), display=False)
glue("cons_neg", 100 * float(np.nanmean(off < 0)), display=False)
best = {name: df.idxmin(axis=1) for name, df in ranks.items()}
glue("n_winners", int(max(b.nunique() for b in best.values())), display=False)
rand_pos = {name: df[maps.LABELS["random"]] for name, df in ranks.items()} if "random" in methods else {}
glue("random_top_half", int(sum((v <= len(methods) / 2).sum() for v in rand_pos.values())), display=False)
glue("n_variant_rows", len(VL) * len(loaded), display=False)

# %% [markdown]
# The metric variants crown {glue:text}`n_winners` different methods as the most faithful. Across
# variants and datasets, the median inter-rater reliability is {glue:text}`irr_median:.2f` (from
# {glue:text}`irr_min:.2f` to {glue:text}`irr_max:.2f`); {glue:text}`irr_reliable` of the
# {glue:text}`irr_total` variant-dataset pairs reach Krippendorff's 0.8. The variants agree on the
# ranking of the methods with α = {glue:text}`alpha_all:.2f` (mean over datasets); the same metric
# under the seven baselines agrees with α = {glue:text}`alpha_morf_b:.2f` (MoRF) and
# {glue:text}`alpha_lerf_b:.2f` (LeRF): the baseline changes the *evaluation* too, the second half of
# claim (a). Internally, two variants' per-image scores correlate at {glue:text}`cons_mean:.2f` on
# average, and {glue:text}`cons_neg:.0f` % of the pairs correlate negatively. The random map ranks in
# the better half of the methods in {glue:text}`random_top_half` of the {glue:text}`n_variant_rows`
# rankings. (On the first images, the insertion and LeRF areas differ by at most
# {glue:text}`identity_gap:.1e`, and AOPC and the MoRF area rank the methods identically on
# {glue:text}`aopc_same:.0f` % of the images.)
#
# ## Sanity check: randomising the model
#
# Adebayo et al. {cite}`adebayo2018sanity` re-initialise the network's layers one by one from the
# logits down. A method that explains the model must produce different maps as the model is
# destroyed; {numref}`fig-sanity` shows the Spearman correlation of the absolute maps with the
# trained model's maps, over the first test images of the subset.
#
# ```{glue:figure} fig_sanity
# :name: fig-sanity
# :alt: Line plots of the rank correlation between maps of the trained and the progressively randomised model, per method and dataset.
#
# Cascading randomisation: Spearman correlation (median over images, absolute maps) between each
# method's map on the trained model and on the model with the named layer and all layers above it
# re-initialised.
# ```

# %% tags=["remove-cell"]
for name, ds in loaded.items():
    k = len(picks[name]) if not P.sanity_images else min(P.sanity_images, len(picks[name]))
    sel = picks[name][:k].to(ds.device)
    params = {"model": model_keys[name], "methods": methods, "map": map_config.as_dict(),
              "attr": attribution.AttributionConfig().as_dict(), "seed": P.seed,
              "images": {"n_images": len(picks[name]), "subset_seed": P.subset_seed, "first": k}}
    sane[name] = store.cached("randomisation", params, ds.info, lambda ds=ds, sel=sel: evaluation.sanity_chunk(
        models[ds.name], ds.x_test[sel], ds.y_test[sel], methods, stats[ds.name], config=map_config, seed=P.seed),
        device=page.device, code=("evaluation",)).value
layers = ["trained"] + sane[next(iter(loaded))]["layers"]
fig, axes = plt.subplots(1, len(loaded), figsize=(5.5 * len(loaded), 3.6), squeeze=False, sharey=True)
for ax, (name, s) in zip(axes[0], sane.items()):
    for i, m in enumerate(methods):
        ax.plot(range(len(layers)), [1.0] + s["spearman"][:, i].nanmedian(1).values.tolist(), marker="o", ms=3,
                color=colors[i], label=ML[i])
    ax.set_xticks(range(len(layers)), layers, rotation=30, fontsize=7)
    ax.set(title=name, ylabel="Spearman with trained-model map", ylim=(-0.2, 1.05))
axes[0, -1].legend(fontsize=6)
fig.tight_layout()
glue("fig_sanity", fig, display=False)
plt.close(fig)
final = {name: pd.Series(s["spearman"][-1].nanmedian(1).values.numpy(), index=ML) for name, s in sane.items()}
glue("sanity_images", int(min(len(s["spearman"][0, 0]) for s in sane.values())), display=False)

# %% [markdown]
# The table gives the median correlation after the whole network is re-initialised, over
# {glue:text}`sanity_images` images per dataset (the random map, which ignores the model, stays at 1
# by construction).

# %%
pd.DataFrame(final).style.format("{:.3f}").set_caption("Median Spearman with the trained-model map, all layers randomised")

# %% [markdown]
# ## Run time
#
# Images per second on the device in the provenance block: each saliency method's maps, and each
# metric (one order with one baseline, for all the methods' maps, so divided by the number of methods).

# %% tags=["hide-input"]
n_done = {name: sum(p.value["curves"].shape[3] for p in parts) for name, parts in runs.items()}
rt_maps = pd.DataFrame({name: {ML[i]: n_done[name] / sum(p.value["map_seconds"][m] for p in parts)
                               for i, m in enumerate(methods)} for name, parts in runs.items()})
rt_metric = pd.DataFrame({name: {evaluation.variant(o, b): n_done[name] * len(methods)
                                 / sum(p.value["curve_seconds"][f"{o}/{b}"] for p in parts)
                                 for b in bls for o in evaluation.ORDERS} for name, parts in runs.items()})
display(rt_maps.style.format("{:.1f}").set_caption("Saliency maps: images per second"))
rt_metric.style.format("{:.1f}").set_caption(f"Metric curves ({P.metric_steps + 1} points): maps scored per second")

# %% [markdown]
# ## Against retraining (ROAR)
#
# ```{glue:md} roar_text
# :format: myst
# ```

# %% tags=["remove-cell"]
lines = []
for name in loaded:
    found = evaluation.roar_ranking(store, name)
    if found is None:
        lines.append(f"- **{name}**: the results store held no ROAR retraining results for this dataset when "
                     "this page ran, so there is no ROAR ranking to compare with.")
        continue
    acc, units, settings = found
    common = [m for m in methods if m in acc]
    roar_rank = reliability.method_ranks(-torch.tensor([[acc[m] for m in common]]))[0]
    idx = [methods.index(m) for m in common]
    rows = []
    for k in VARIANTS:
        r = evaluation.rankings({k: score[name][k][:, idx]})[k]
        rows.append(similarity.spearman(r[None], roar_rank[None]).item())
    rho = np.array(rows)
    lines.append(f"- **{name}**: ROAR ranks {', '.join(maps.LABELS[m] for m in np.array(common)[roar_rank.argsort().numpy()])} "
                 f"(best first; mean test accuracy over {units} stored retraining units: {(settings['config'] or {}).get('epochs')} "
                 f"epochs, {settings['n_train']:,} training images). The no-retrain variants' "
                 f"rankings of these {len(common)} methods correlate with it at Spearman {np.nanmedian(rho):.2f} "
                 f"(median; from {np.nanmin(rho):.2f} to {np.nanmax(rho):.2f}).")
glue("roar_text", Markdown("\n".join(lines) + "\n"), display=False)

# %% [markdown]
# ## Verdict on claim (c)
#
# **{glue:text}`c_verdict`.** A saliency metric should rank methods the same way from image to image
# and agree with other metrics of the same property. Here the median inter-rater reliability is
# {glue:text}`irr_median:.2f`, below Krippendorff's 0.8 for {glue:text}`irr_unreliable` of the
# {glue:text}`irr_total` variant-dataset pairs; the variants agree on the method ranking with α =
# {glue:text}`alpha_all:.2f`, and their per-image scores correlate at {glue:text}`cons_mean:.2f` on
# average. As the previous page showed for generating maps, so here for evaluating them:
# {glue:text}`c_winners`.

# %% tags=["remove-cell"]
glue("irr_unreliable", int((mean_irr < 0.8).sum()), display=False)
unreliable = (mean_irr < 0.8).mean() > 0.5 or float(agree.loc["all variants"].mean()) < 0.667
glue("c_verdict", "Supported" if unreliable else "Not supported", display=False)
nw = max(b.nunique() for b in best.values())
glue("c_winners", f"{nw} different methods come out best depending on the variant" if nw > 1
     else "every variant names the same best method, but they disagree below it", display=False)
page.finish();

# %% [markdown]
# ## Exercises
#
# Each exercise runs on a laptop CPU with the quick profile (a few dozen test images, short curves);
# this page took {glue:text}`page_minutes:.1f` minutes with the settings in its provenance block.
#
# 1. **Two baselines.** `python -m roarkit run saliency_metrics --profile quick -p baselines "[noisy_linear, zero]"`.
#    Occlusion and RISE now make their maps with noisy linear imputation (the first baseline), and only
#    two baselines score the maps. How many metric variants are left, how well do MoRF and LeRF agree
#    across the two baselines, and is claim (c) still supported?
# 2. **Finer curves.** `python -m roarkit run saliency_metrics --profile quick -p metric_steps 16`. With
#    more points per perturbation curve, does the inter-rater reliability rise, that is, was part of the
#    disagreement the coarseness of the curves?
# 3. **Fewer methods to rank.** `python -m roarkit run saliency_metrics --profile quick -p methods "[saliency, ig, occlusion, random]"`.
#    With four methods to rank, do the metric variants agree more often on the most faithful one, and
#    where does the random map rank?
