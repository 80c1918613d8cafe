# The course's commands. Each works from a fresh clone with only Python 3 installed.
#   make lab       install the course into .venv, prepare the default dataset, start JupyterLab
#   make test      lint + unit tests + every notebook executed with nbval at COURSE_PRESET=ci
#   make quick     the fast unit tests only (skips those marked slow)
#   make browser   open the lab in Debian's Chromium (Playwright) and check what a learner sees
#   make reports PRESET=ci|binder|full   every notebook as a papermill report (+ HTML, index.html)
#   make site SITE_PRESET=binder|ci      the course as a static site to read (reports/site/index.html)
#   make data PRESET=binder              prepare the built-in dataset only
#   make pretrained  train 05-10 at binder and pack them into pretrained/ (about 3 hours on 2 cores)
#   make clean     remove generated reports and caches (keeps .venv and data/)

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PRESET ?= binder
PORT   ?= 8888
LAB_PRESET ?= binder
EXTRAS ?= cpu,dev
# UTF-8 everywhere (notebooks print ✅ and ·), whatever the machine's locale.
export PYTHONUTF8 := 1
comma  := ,
STAMP  := $(VENV)/.installed-$(subst $(comma),-,$(EXTRAS))

.PHONY: help setup lab test lint unit quick notebooks browser reports site data pretrained clean

help:
	@sed -n '1,11p' Makefile | sed 's/^# \{0,1\}//'

# (Re)install when pyproject.toml changes; a stamp per extras set.
$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[$(EXTRAS)]"
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 --display-name "Python 3" >/dev/null
	mkdir -p $(VENV)/share/jupyter/lab/settings
	cp binder/overrides.json $(VENV)/share/jupyter/lab/settings/overrides.json
	@touch $@

setup: $(STAMP)

data: setup
	$(BIN)/python -m course_utils data synthetic --preset $(PRESET)

# The venv's bin on PATH: kernels and TensorBoard find the course's own tools. The kernels run
# at LAB_PRESET (the data prepared for it) unless COURSE_PRESET says otherwise.
lab: setup
	$(BIN)/python -m course_utils data synthetic --preset $(LAB_PRESET)
	PATH="$(CURDIR)/$(BIN):$$PATH" COURSE_PRESET=$${COURSE_PRESET:-$(LAB_PRESET)} $(BIN)/jupyter lab --notebook-dir=notebooks --ip=127.0.0.1 --port=$(PORT) \
		$(if $(DISPLAY),,--no-browser) $(if $(filter 0,$(shell id -u)),--allow-root)

lint: setup
	$(BIN)/ruff check course_utils tests benchmarks tools notebooks

# Two pytest workers (pytest-xdist), one test module or notebook each at a time
# (loadscope keeps a notebook's cells in order, in one kernel): on 2 cores the idle time
# of one (imports, kernel start, plotting) is the other's compute time.
JOBS ?= 2
XDIST := -n $(JOBS) --dist loadscope

unit: setup
	$(BIN)/python -m pytest tests -m "not notebooks and not browser" -q $(XDIST)

# The fast unit tests only (no cohort generation, training, notebooks or processes): seconds.
quick: setup
	$(BIN)/python -m pytest tests -m "not notebooks and not slow and not browser" -q $(XDIST)

# Every notebook, top to bottom, at the ci preset; their metrics land in reports/ci,
# and tests marked `notebooks` then check what they achieved. Every exercise's worked
# solution is run and checked in its notebook's namespace (COURSE_VERIFY_SOLUTIONS=1).
notebooks: setup
	COURSE_PRESET=ci COURSE_REPORTS_DIR=$(CURDIR)/reports/ci COURSE_VERIFY_SOLUTIONS=1 \
		$(BIN)/python -m pytest --nbval-lax --nbval-cell-timeout=900 notebooks -q $(XDIST)
	COURSE_REPORTS_DIR=$(CURDIR)/reports/ci $(BIN)/python -m pytest tests -m notebooks -q

test: lint unit notebooks

# The lab as a learner meets it, in a real browser: Debian's Chromium (installed with apt
# where missing) driven by Playwright; screenshots in reports/browser/.
browser:
	command -v chromium >/dev/null || apt-get install -y chromium || sudo apt-get install -y chromium
	$(MAKE) setup EXTRAS=cpu,dev,browser
	$(BIN)/python -m pytest tests/browser -m browser -q -p no:xdist

reports: setup
	$(BIN)/python -m course_utils.reports --preset $(PRESET)

# The course to read without running: every notebook executed at SITE_PRESET by the reports
# runner (into reports/<preset>/; at binder 06-10 load the shipped pretrained models), then a static site of those pages (Sphinx + myst-nb:
# outputs, figures, page links, navigation, search; site/conf.py, tools/site.py) in
# reports/site/, and each page checked in Chromium where `make browser` installed it.
SITE_PRESET ?= binder
site:
	$(MAKE) setup EXTRAS=cpu,dev,site
	$(BIN)/python -m course_utils.reports --preset $(SITE_PRESET) --out reports $(if $(filter binder,$(SITE_PRESET)),--pretrained)
	$(BIN)/python tools/site.py --reports reports/$(SITE_PRESET) --out reports/site
	@if command -v chromium >/dev/null && $(BIN)/python -c "import playwright" 2>/dev/null; then \
		COURSE_SITE_DIR=$(CURDIR)/reports/site $(BIN)/python -m pytest tests/browser/test_site_in_chromium.py \
			-m browser -q -p no:xdist; \
	else echo "site: pages not checked in a browser (no chromium or Playwright): run make browser"; fi

# The pretrained models of 05-10 (course_utils/pretrained.py): each notebook trained at binder
# by the reports runner, with pretrained off and fresh run folders, then its finished run
# folder and recorded metrics packed into pretrained/<notebook>/ (tools/pretrained.py), checked.
PRETRAIN_REPORTS := reports/pretrained-train
pretrained: setup
	rm -rf $(PRETRAIN_REPORTS)
	$(BIN)/python -m course_utils.reports --preset binder --notebooks 05 06 07 08 09 10 \
		--out $(PRETRAIN_REPORTS)
	$(BIN)/python tools/pretrained.py pack --reports $(PRETRAIN_REPORTS)/binder --out pretrained

clean:
	rm -rf reports .pytest_cache .ruff_cache
	find . -name __pycache__ -not -path "./$(VENV)/*" -prune -exec rm -rf {} +
