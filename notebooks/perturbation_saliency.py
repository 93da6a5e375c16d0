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
import torch

from roarkit.book.page import Page
from roarkit.experiments import perturbation_saliency
from roarkit.figures import perturbation as F
from roarkit.figures import style

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
P = page.start(globals())
style()
R = perturbation_saliency.run(P)  # every stored unit: base models, then the maps' similarities in chunks of 250 images
page.use(R)  # the data it ran on, and its numbers glued for the prose


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
page.figure("fig_baselines", F.fig_baselines(R))

# %% [markdown]
# ## Computing the maps
#
# For every test image the page computes occlusion maps for every window and stride (a stride never
# exceeds its window) and RISE maps for every mask count, cell size and keep probability, each with
# every baseline; both explain the softmax probability of the true class. RISE's mask sets are
# nested (the first 500 masks of a seed are the same whatever the total), and RISE is run a second
# time with another mask seed at its first setting, to measure how much two RISE maps differ from
# Monte-Carlo noise alone. Work is stored in units of up to 250 images.

# %% [markdown]
# ## Are the baselines neutral?
#
# A neutral baseline should tell the model nothing: on the baseline image alone, the probability of
# the true class should sit near chance (0.1). The table shows the mean over the explained images.

# %% tags=["hide-input"]
R.neutral.style.format("{:.3f}").set_caption("Mean probability of the true class")

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
page.figure("fig_examples", F.fig_examples(R))

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
page.figure("fig_baseline_heat", F.fig_baseline_heat(R))

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
page.figure("fig_baseline_dist", F.fig_baseline_dist(R))

# %% [markdown]
# The table summarises every measure over all pairs of baselines and every setting of the grid
# (mean over images and pairs; in brackets the lowest median over images of any pair).

# %%
R.summary_baselines

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
page.figure("fig_config_heat", F.fig_config_heat(R))

# %% [markdown]
# ```{glue:figure} fig_config_dist
# :name: fig-config-dist
# :alt: Box plots over test images of the mean Spearman correlation between pairs of hyperparameter settings, one box per baseline.
#
# Per image, the mean Spearman correlation over all pairs of settings; one box per baseline.
# ```

# %% tags=["remove-cell"]
page.figure("fig_config_dist", F.fig_config_dist(R))

# %% tags=["hide-input"]
R.summary_configs

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
R.rates.style.format("{:.1f}").set_caption("Images per second, whole grid of settings")

# %% tags=["remove-cell"]
page.finish(exercises="The quick profile explains a few test images with a small grid. Noisy linear imputation "
            "dominates the run time (table above): leaving `noisy_linear` out of `baselines` makes any exercise faster.");

# %% [markdown]
# ## Exercises
#
# ```{glue:md} exercises_intro
# :format: myst
# ```
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
