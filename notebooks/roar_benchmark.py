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
# (roar-benchmark)=
# # The ROAR benchmark
#
# ```{glue:md} provenance
# :format: myst
# ```
#
# {cite:t}`hooker2019benchmark` proposed ROAR to compare saliency estimators without trusting the
# model's behaviour on images it never saw in training: remove the pixels an estimator calls most
# important, retrain, and see how much accuracy is lost. A useful estimator must lose more than
# random removal does. On ImageNet they found that only the ensembles SmoothGrad² and VarGrad beat
# random; plain Gradient, Integrated Gradients and Guided Backprop, and their SmoothGrad averages,
# did not. This page runs their estimator set on MNIST and Fashion-MNIST, adds Keep And Retrain (KAR:
# keep the top t % and remove the rest, where a good estimator keeps accuracy *high*), and a control
# that trains on the removal mask alone: if the mask's shape predicts the class, ROAR measures the
# mask, not the information removed {cite}`rong2022consistent`.

# %% tags=["remove-cell"]
from IPython.display import display

from roarkit.book.page import Page
from roarkit.experiments import checks, roar_benchmark
from roarkit.figures import roar as figs
from roarkit.figures import style

# %% tags=["parameters"]
profile = "paper"  # the settings this page runs with: "paper" or "quick"
datasets = ["mnist", "fashion_mnist"]
estimators = ["grad", "grad_sg", "grad_sg2", "grad_var", "ig", "ig_sg", "ig_sg2", "ig_var",
              "gb", "gb_sg", "gb_sg2", "gb_var", "sobel", "random"]
modes = ["roar", "kar"]
thresholds = [10, 30, 50, 70, 90]
seeds = 5
leakage = True  # also train on the removal mask alone
n_train = 0  # training images per dataset (0: every image available)
n_train_by_dataset = {}  # n_train of named datasets, e.g. {"fashion_mnist": 20000}
n_test = 0  # test images per dataset (0: every image available)
subset_seed = 0
epochs = 10  # the ROAR report's training, as on the previous page
batch_size = 16
lr = 1e-3
momentum = 0.9
ig_steps = 50  # Captum's default
nt_samples = 15  # Hooker et al.: 15 noisy samples per SmoothGrad / SmoothGrad² / VarGrad estimate
device = "auto"
page = Page("roar_benchmark", globals())

# %% tags=["remove-cell"]
P = page.start(globals())
style()
R = roar_benchmark.run(P)
checks.roar_benchmark(R)  # sanity checks: a silently wrong run fails here (roarkit.experiments.checks)
page.use(R)  # the data it ran on; its numbers and Markdown glued for the prose

# %% [markdown]
# The page trained {glue:text}`n_trainings` networks (base models, ROAR and KAR retrainings, and the
# mask-only control), each with the same network and training as {ref}`roar-mnist`. Every estimator
# explains the base model of its seed, for the true class; Integrated Gradients integrates from the
# all-zero image (the dataset mean); SmoothGrad, SmoothGrad² and VarGrad average `nt_samples` copies
# of the image with Gaussian noise of standard deviation 0.15 × (max − min) of the batch. The Sobel
# control ranks pixels by edge strength and looks at no model; random ranks uniformly.
#
# ```{glue:figure} fig_bench_examples
# :name: fig-bench-examples
# :alt: A grid of one test image with pixels removed by each estimator at each threshold.
#
# One test image of each dataset after ROAR removal by every estimator (rows) at every threshold
# (columns); removed pixels take the dataset mean.
# ```

# %% tags=["remove-cell"]
fig = figs.fig_bench_examples(R.datasets, R.examples, P.thresholds)
page.figure("fig_bench_examples", fig)

# %% [markdown]
# ## Accuracy after removal
#
# ```{glue:figure} fig_bench_curves
# :name: fig-bench-curves
# :alt: Line plots of test accuracy against the share of pixels removed, one panel per dataset, mode and estimator family.
#
# Test accuracy of the retrained networks against the share of pixels removed (ROAR, top rows) or
# kept (KAR, bottom rows: the x-axis is then the share *kept*), mean over seeds with a 95 % confidence
# band (Student t over seeds). Random and Sobel appear in every panel for reference.
# ```

# %% tags=["remove-cell"]
fig = figs.fig_bench_curves(R.rows)
page.figure("fig_bench_curves", fig)

# %% [markdown]
# (roar-benchmark-verdicts)=
# ## Which estimators beat random?
#
# For each estimator the table gives the accuracy difference to random removal, averaged over the
# thresholds and paired by seed (the same seed trains both), with its 95 % confidence interval over
# seeds, in percentage points. Under ROAR an estimator beats random when the difference is negative
# and its interval excludes 0 (removing its pixels hurts more); under KAR when it is positive.

# %% tags=["remove-input"]
display(R.verdicts)
R.diffs.set_index(["dataset", "mode", "estimator"])[["difference (pp)", "95 % CI", "verdict"]].style.format({"difference (pp)": "{:+.2f}"})

# %% [markdown]
# ### Compared with Hooker et al.
#
# {glue:md}`hooker_verdict`
#
# ## The mask-leakage control
#
# ROAR's retrained network sees not only which information is missing but also *where* pixels were
# replaced. The control trains the same network on the removal mask alone (1 where a pixel is kept, 0
# where it is removed) and tests it on the test images' masks. Accuracy far above chance (10 %) means
# the mask's shape alone identifies the class, so a drop (or its absence) under ROAR is partly about
# the mask, not the information removed.

# %% tags=["remove-input"]
if len(R.leak_table):
    display(R.leak_table.style.set_caption("Accuracy (%) of a network trained on the removal mask alone, mean ± 95 % CI"))

# %% [markdown]
# The highest mask-only accuracy is {glue:text}`leak_max:.1f` % ({glue:md}`leak_where`). Where this
# is far above 10 %, ROAR's verdict for that estimator is confounded by the shape of what it removes.

# %% tags=["remove-cell"]
page.finish();

# %% [markdown]
# ## Exercises
#
# ```{glue:md} exercises_intro
# :format: myst
# ```
#
# 1. **More seeds.** With `-p seeds 4` the confidence intervals narrow. Which "no difference" verdicts
#    turn into "beats random" or "worse than random"?
# 2. **The mask alone.** Compare the mask-only accuracies of Sobel and random at 50 %. Why can an
#    edge filter that never looks at the model produce a mask that predicts the class?
# 3. **Hooker's ensembles.** Run `-p estimators "[grad, grad_sg, grad_sg2, grad_var, random]" -p datasets "[fashion_mnist]"`:
#    do the squared and variance ensembles separate from plain Gradient?
