# dualsam developer entry points. Each target creates the virtual environment when it is missing.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.dualsam-installed

# The reference implementations run in their own environment: Meta's segment-anything needs torchvision, which
# installs here only beside torch 2.14.1 (a large build, from local disk on these machines). ORACLES=0 skips it;
# the tests that need it then skip with a reason.
META_VENV ?= .venv-meta
META_STAMP := $(META_VENV)/.dualsam-oracle-installed
ORACLES ?= 1
ifeq ($(ORACLES),1)
ORACLE_DEPS := $(META_STAMP)
endif

.PHONY: demo test test-slow bench install oracles

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c constraints.txt -e ".[all,test]"
	touch $(STAMP)

install: $(STAMP)

$(META_STAMP):
	test -x $(META_VENV)/bin/python || python3 -m venv $(META_VENV)
	$(META_VENV)/bin/python -m pip install -q torch==2.14.1 torchvision==0.29.1 segment-anything==1.0 \
		numpy pillow safetensors pycocotools opencv-python-headless
	touch $(META_STAMP)

oracles: $(META_STAMP)

demo: $(STAMP)
	$(VENV)/bin/dualsam segment --out out/demo

test: $(STAMP) $(ORACLE_DEPS)
	$(PY) -m pytest -q

# pytest exits 5 when a selection holds no tests: an error for `test`, accepted for the optional slow marker.
test-slow: $(STAMP) $(ORACLE_DEPS)
	$(PY) -m pytest -q -m slow || { status=$$?; [ $$status -eq 5 ] && echo "no slow tests selected"; [ $$status -eq 5 ]; }

bench: $(STAMP)
	$(PY) bench/encoder.py
