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
# (data-and-models)=
# # Data and models
#
# ```{glue:md} provenance
# :format: myst
# ```
#
# Every chapter of this book trains small convolutional networks on MNIST {cite}`lecun1998gradient`
# and Fashion-MNIST {cite}`xiao2017fashion` and then asks how faithful a saliency map of them is.
# Before any saliency method enters, this page shows exactly which images the book ran on and how
# well the base model of the ROAR chapter learns them. The numbers below come from the run recorded
# in the provenance block above; nothing is typed by hand.

# %% tags=["remove-cell"]
from IPython.display import display

from roarkit.book.page import Page
from roarkit.experiments import checks, data_and_models
from roarkit.figures import data as figs
from roarkit.figures import style

# %% tags=["parameters"]
profile = "paper"  # the settings this page runs with: "paper" or "quick"
datasets = ["mnist", "fashion_mnist"]
n_train = 0  # training images per dataset (0: every image available)
n_test = 0  # test images per dataset (0: every image available)
subset_seed = 0  # seed of the stratified subset when n_train or n_test is set
epochs = 10  # the ROAR report: 10 epochs
batch_size = 16  # not given by the report; see "Training the base model"
lr = 1e-3  # the ROAR report: SGD, learning rate 1e-3
momentum = 0.9  # the ROAR report: momentum 0.9
seed = 0  # seed of the one training run per dataset shown here
batch_sizes = [16, 32, 64, 128]  # the batch-size sweep on MNIST
device = "auto"  # "auto" uses a GPU when one is available
page = Page("data_and_models", globals())

# %% tags=["remove-cell"]
P = page.start(globals())
style()
R = data_and_models.run(P)
checks.data_and_models(R)  # sanity checks: a silently wrong run fails here (roarkit.experiments.checks)
page.use(R)  # the data it ran on; its numbers and Markdown glued for the prose

# %% [markdown]
# ## The data this book ran on
#
# The table lists every file read, its MD5 checksum as found on disk, and how many images were used.
# MNIST's offline copy on the machines that build this book holds the canonical 10,000 test images
# but only the *first 10,000* of the 60,000 training images; Fashion-MNIST is complete (Debian's
# `dataset-fashion-mnist`). Where a run used fewer images than the canonical split, every result
# built on it inherits that limit, and its page says so in its provenance block.

# %%
display(R.used)
display(R.files)

# %% [markdown]
# Inputs are scaled to [0, 1] and then normalised with the mean and standard deviation of the
# training images actually used (above), so the dataset mean becomes 0, the value that the ROAR
# chapter puts in place of removed pixels.
#
# ```{glue:figure} fig_samples
# :name: fig-samples
# :alt: A grid of training images, one row per class, for each dataset.
#
# The first training images of each class, one row per class (pixels shown in [0, 1], dark = high).
# ```

# %% tags=["remove-cell"]
fig = figs.fig_samples(R.datasets.values(), per_class=8)
page.figure("fig_samples", fig)

# %% [markdown]
# ```{glue:figure} fig_balance
# :name: fig-balance
# :alt: Bar charts of images per class in the train and test splits of each dataset.
#
# Images per class in the splits used. Subsets are drawn stratified by class, so a reduced run keeps
# the class balance of the full data.
# ```

# %% tags=["remove-cell"]
fig = figs.class_balance(list(R.datasets.values()))
page.figure("fig_balance", fig)

# %% [markdown]
# ## Training the base model
#
# The ROAR chapter's network (two 5×5 convolutions with 6 and 16 channels, each followed by 2×2
# max-pooling, and three fully connected layers 256→120→84→10) is trained with the report's
# settings: SGD, learning rate 0.001, momentum 0.9, 10 epochs. The report does not state the
# batch size; the page parameter `batch_size` (16) is this book's choice, justified by the sweep at
# the end of this page. Each run is a unit of the results store: it is trained once and read back
# from disk when the page is executed again with the same settings, data and code.

# %%
R.summary.style.format({"test accuracy": "{:.2%}", "report (MNIST)": "{:.0%}"}, na_rep="–")

# %% [markdown]
# The ROAR net reaches {glue:text}`acc_mnist:.2f` % test accuracy on MNIST in this run (the report:
# {glue:text}`acc_report:.0f` % on the full 60,000 training images) and {glue:text}`acc_fashion_mnist:.2f` %
# on Fashion-MNIST. Per-class precision and recall on the test split:

# %%
R.per_class.style.format("{:.3f}")

# %% [markdown]
# ```{glue:figure} fig_confusion
# :name: fig-confusion
# :alt: Confusion matrices of the base model on each dataset's test split.
#
# Confusion matrices on the test split (rows: true class, columns: predicted class).
# ```

# %% tags=["remove-cell"]
fig = figs.fig_confusion(R.confusion, {name: ds.classes for name, ds in R.datasets.items()})
page.figure("fig_confusion", fig)

# %% [markdown]
# ## Choosing the batch size
#
# With the report's learning rate of 0.001 and momentum 0.9, the batch size decides how many update
# steps 10 epochs contain. The sweep below trains the same network on MNIST with each batch size in
# `batch_sizes`; the batch size whose accuracy comes closest to the report's 98 % is the book's choice.

# %%
R.sweep.style.format({"test accuracy": "{:.2%}", "final training loss": "{:.3f}"})

# %% [markdown]
# In this run the batch size closest to the report's accuracy is {glue:text}`best_batch`.

# %% tags=["remove-cell"]
page.finish();

# %% [markdown]
# ## Exercises
#
# ```{glue:md} exercises_intro
# :format: myst
# ```
#
# 1. **Fewer, larger steps.** `python -m roarkit run data_and_models --profile quick -p batch_sizes "[16, 256]"`.
#    With the larger batch the same epochs take far fewer update steps (the sweep's `steps` column).
#    How much test accuracy does it lose, and does the batch size closest to the report's accuracy change?
# 2. **A larger learning rate.** `python -m roarkit run data_and_models --profile quick -p lr 0.01`. Does
#    the larger step make up for the quick profile's few epochs, and is the batch size closest to the
#    report's accuracy still the smallest one of the sweep?
# 3. **Another seed.** `python -m roarkit run data_and_models --profile quick -p seed 1`. How far does each
#    dataset's test accuracy move from the run with seed 0? Compare that with the differences between
#    batch sizes in the sweep: is the sweep's choice larger than the noise of a single training run?
