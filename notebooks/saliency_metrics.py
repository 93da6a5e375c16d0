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
import torch

from IPython.display import display

from roarkit.book.page import Page
from roarkit.experiments import checks, saliency_metrics
from roarkit.figures import perturbation as F
from roarkit.figures import style

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
methods = ["grad", "ig", "grad_sg", "gb", "deeplift", "occlusion", "rise", "random"]  # names: roarkit.core.saliency.METHODS
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
P = page.start(globals())
style()
R = saliency_metrics.run(P)  # every stored unit: base models, metric curves in chunks of 500 images, randomisation test
checks.saliency_metrics(R)  # sanity checks: a silently wrong run fails here (roarkit.experiments.checks)
page.use(R)  # the data it ran on, and its numbers glued for the prose


# %% [markdown]
# ## Maps and metrics
#
# Eight maps are evaluated for each test image: the gradient (Captum's Saliency, labelled Gradient),
# Integrated Gradients, SmoothGrad of the gradient and Guided Backprop with the ROAR chapter's
# settings, DeepLift {cite}`shrikumar2017learning`,
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
page.figure("fig_maps", F.fig_maps(R))

# %% [markdown]
# ```{glue:figure} fig_curves
# :name: fig-curves
# :alt: Mean MoRF and LeRF perturbation curves of every method, one panel per dataset, order and baseline.
#
# Mean probability of the true class as pixels are removed, per method: MoRF (upper row of each
# dataset) and LeRF (lower row), one column per baseline.
# ```

# %% tags=["remove-cell"]
page.figure("fig_curves", F.fig_curves(R))

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
page.figure("fig_rankings", F.fig_rankings(R))

# %% tags=["hide-input"]
R.rank_table.style.format("{:.1f}").set_caption("Rank of each method (1 = best) under each metric variant")

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

# %%
R.irr.style.format("{:.3f}").set_caption("Inter-rater reliability (Krippendorff's ordinal α over images)")

# %%
R.agreement.style.format("{:.3f}").set_caption("Agreement between metric variants on the method ranking (Krippendorff's α)")

# %% [markdown]
# ```{glue:figure} fig_consistency
# :name: fig-consistency
# :alt: Heat maps of the mean Spearman correlation over images between the scores of every pair of metric variants.
#
# Internal consistency: Spearman correlation over test images between the scores of two metric
# variants, averaged over the methods.
# ```

# %% tags=["remove-cell"]
page.figure("fig_consistency", F.fig_consistency(R))

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
page.figure("fig_sanity", F.fig_sanity(R))

# %% [markdown]
# The table gives the median correlation after the whole network is re-initialised, over
# {glue:text}`sanity_images` images per dataset (the random map, which ignores the model, stays at 1
# by construction).

# %%
R.sanity_final.style.format("{:.3f}").set_caption("Median Spearman with the trained-model map, all layers randomised")

# %% [markdown]
# ## Run time
#
# Images per second on the device in the provenance block: each saliency method's maps, and each
# metric (one order with one baseline, for all the methods' maps, so divided by the number of methods).

# %% tags=["hide-input"]
display(R.rates_maps.style.format("{:.1f}").set_caption("Saliency maps: images per second"))
R.rates_metric.style.format("{:.1f}").set_caption(f"Metric curves ({P.metric_steps + 1} points): maps scored per second")

# %% [markdown]
# ## Against retraining (ROAR)
#
# ```{glue:md} roar_text
# :format: myst
# ```

# %% tags=["remove-cell"]

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
page.finish(exercises="The quick profile evaluates a few dozen test images with short curves.");

# %% [markdown]
# ## Exercises
#
# ```{glue:md} exercises_intro
# :format: myst
# ```
#
# 1. **Two baselines.** `python -m roarkit run saliency_metrics --profile quick -p baselines "[noisy_linear, zero]"`.
#    Occlusion and RISE now make their maps with noisy linear imputation (the first baseline), and only
#    two baselines score the maps. How many metric variants are left, how well do MoRF and LeRF agree
#    across the two baselines, and is claim (c) still supported?
# 2. **Finer curves.** `python -m roarkit run saliency_metrics --profile quick -p metric_steps 16`. With
#    more points per perturbation curve, does the inter-rater reliability rise, that is, was part of the
#    disagreement the coarseness of the curves?
# 3. **Fewer methods to rank.** `python -m roarkit run saliency_metrics --profile quick -p methods "[grad, ig, occlusion, random]"`.
#    With four methods to rank, do the metric variants agree more often on the most faithful one, and
#    where does the random map rank?
