# Two commands do everything, set-up included:
#   make book [PROFILE=quick|paper] [EXECUTOR=ray WORKERS=N|ADDRESS=host:port]
#                                     render the book (re-executing every page first when PROFILE is set)
#   make test                         unit tests, every page in the quick profile, book build, browser check
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
# The torch build that pip takes from this machine's disk; elsewhere pip downloads the same release.
TORCH  ?= torch==2.14.1 torchvision==0.29.1
# MNIST's offline copy sits beside the checkout on the build machines; elsewhere set ROARKIT_DATA or
# let torchvision download (ROARKIT_DOWNLOAD=1).
ifeq ($(origin ROARKIT_DATA), undefined)
ifneq ($(wildcard ../shared/data/mnist),)
export ROARKIT_DATA := $(abspath ../shared/data)
endif
endif
PROFILE ?=
# Where a page's units of work run (never changes a result): EXECUTOR=ray [WORKERS=N] [ADDRESS=host:port]
# [GPUS_PER_UNIT=0.25]; the ROARKIT_EXECUTOR, ... environment variables work as well.
EXECUTOR ?=
RUN_OPTS := $(if $(EXECUTOR),--executor $(EXECUTOR)) $(if $(WORKERS),--workers $(WORKERS)) \
            $(if $(ADDRESS),--address $(ADDRESS)) $(if $(GPUS_PER_UNIT),--gpus-per-unit $(GPUS_PER_UNIT))

.PHONY: setup system book test clean
setup: $(VENV)/.installed system

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q $(TORCH) -e ".[book,test]"
	touch $@

# Debian packages: the full Fashion-MNIST and Chromium for the browser check (root on Debian only).
system:
	@if [ -f /etc/debian_version ] && [ "$$(id -u)" = 0 ]; then \
	  need=""; [ -d /usr/share/datasets/fashion-mnist ] || need="$$need dataset-fashion-mnist"; \
	  command -v chromium >/dev/null || need="$$need chromium"; \
	  if [ -n "$$need" ]; then echo "apt-get install$$need"; apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$need >/dev/null; fi; \
	elif [ ! -d /usr/share/datasets/fashion-mnist ] && [ -z "$$ROARKIT_DATA" ]; then \
	  echo "note: no local data found. Install Debian's dataset-fashion-mnist (as root), set ROARKIT_DATA"; \
	  echo "      to a folder holding mnist/ and fashion_mnist/ IDX files, or set ROARKIT_DOWNLOAD=1 to let"; \
	  echo "      torchvision download them. The browser check needs Chromium (/usr/bin/chromium)."; \
	fi

book: setup
ifneq ($(PROFILE),)
	$(PY) -m roarkit run all --profile $(PROFILE) --no-build $(RUN_OPTS)
endif
	$(PY) -m roarkit build

test: setup
	$(PY) -m pytest -q

clean:
	rm -rf _build .roarkit-cache test-artifacts
