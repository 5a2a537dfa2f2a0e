# dualsam developer entry points. Each target creates the virtual environment when it is missing.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.dualsam-installed

# The reference implementations run in their own environment: Meta's segment-anything needs torchvision, which
# installs here only beside torch 2.14.1 (a large build, from local disk on these machines); onnx lets Meta's own
# exporter run (tests/test_onnx_meta_exporter.py). ORACLES=0 skips it;
# the tests that need it then skip with a reason.
META_VENV ?= .venv-meta
META_STAMP := $(META_VENV)/.dualsam-oracle-installed
ORACLES ?= 1
ifeq ($(ORACLES),1)
ORACLE_DEPS := $(META_STAMP)
endif

# Single-framework environments: each holds one backend only, and runs tests/single_framework on inputs and
# references that the full environment wrote (convert every source format, segment, generate, the install hint).
# The ONNX-only environment holds dualsam[onnx] and no framework, and runs the full environment's ONNX export
# (segment, generate, a dataset, SamPredictor and the mask generator on ONNX Runtime, the README's snippet).
# The LiteRT-only environment holds dualsam[tflite] (ai-edge-litert, no TensorFlow) and runs the same on the full
# environment's LiteRT export.
TORCH_VENV ?= .venv-torch
TF_VENV ?= .venv-tf
ONNX_VENV ?= .venv-onnx
TFLITE_VENV ?= .venv-tflite
SINGLE_FIXTURES ?= .single-fixtures
SINGLE_TESTS := -m single_framework tests/single_framework
ONNX_TESTS := -m onnx_only tests/single_framework/test_onnx_only.py
TFLITE_TESTS := -m tflite_only tests/single_framework/test_tflite_only.py

.PHONY: demo test test-slow bench install oracles lint test-torch-only test-tf-only test-onnx-only test-tflite-only test-single test-browser

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c constraints.txt -e ".[all,test]"
	touch $(STAMP)

install: $(STAMP)

$(META_STAMP):
	test -x $(META_VENV)/bin/python || python3 -m venv $(META_VENV)
	$(META_VENV)/bin/python -m pip install -q torch==2.14.1 torchvision==0.29.1 segment-anything==1.0 \
		numpy pillow safetensors pycocotools opencv-python-headless onnx
	touch $(META_STAMP)

oracles: $(META_STAMP)

demo: $(STAMP)
	$(VENV)/bin/dualsam segment --out out/demo

# The default suite in TEST_WORKERS processes (pytest-xdist), a whole file to each, so a module's fixtures are built
# once; tests/conftest.py gives each worker its share of the cores.
TEST_WORKERS ?= 2

test: $(STAMP) $(ORACLE_DEPS)
	$(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadfile

# pytest exits 5 when a selection holds no tests: an error for `test`, accepted for the optional slow marker.
test-slow: $(STAMP) $(ORACLE_DEPS)
	$(PY) -m pytest -q -m slow || { status=$$?; [ $$status -eq 5 ] && echo "no slow tests selected"; [ $$status -eq 5 ]; }

bench: $(STAMP)
	$(PY) bench/encoder.py

$(TORCH_VENV)/.dualsam-installed: pyproject.toml constraints.txt
	test -x $(TORCH_VENV)/bin/python || python3 -m venv $(TORCH_VENV)
	$(TORCH_VENV)/bin/python -m pip install -q --upgrade pip
	$(TORCH_VENV)/bin/python -m pip install -q -c constraints.txt -e ".[torch]" pytest
	touch $@

$(TF_VENV)/.dualsam-installed: pyproject.toml constraints.txt
	test -x $(TF_VENV)/bin/python || python3 -m venv $(TF_VENV)
	$(TF_VENV)/bin/python -m pip install -q --upgrade pip
	$(TF_VENV)/bin/python -m pip install -q -c constraints.txt -e ".[tf]" pytest
	touch $@

$(ONNX_VENV)/.dualsam-installed: pyproject.toml constraints.txt
	test -x $(ONNX_VENV)/bin/python || python3 -m venv $(ONNX_VENV)
	$(ONNX_VENV)/bin/python -m pip install -q --upgrade pip
	$(ONNX_VENV)/bin/python -m pip install -q -c constraints.txt -e ".[onnx]" pytest
	touch $@

$(TFLITE_VENV)/.dualsam-installed: pyproject.toml constraints.txt
	test -x $(TFLITE_VENV)/bin/python || python3 -m venv $(TFLITE_VENV)
	$(TFLITE_VENV)/bin/python -m pip install -q --upgrade pip
	$(TFLITE_VENV)/bin/python -m pip install -q -c constraints.txt -e ".[tflite]" pytest
	touch $@

$(SINGLE_FIXTURES)/sources.json: $(STAMP) tests/single_framework/make_fixtures.py
	$(PY) -m tests.single_framework.make_fixtures $(SINGLE_FIXTURES)

test-torch-only: $(TORCH_VENV)/.dualsam-installed $(SINGLE_FIXTURES)/sources.json
	DUALSAM_SINGLE_FIXTURES=$(abspath $(SINGLE_FIXTURES)) $(TORCH_VENV)/bin/python -m pytest -q $(SINGLE_TESTS)

test-tf-only: $(TF_VENV)/.dualsam-installed $(SINGLE_FIXTURES)/sources.json
	DUALSAM_SINGLE_FIXTURES=$(abspath $(SINGLE_FIXTURES)) $(TF_VENV)/bin/python -m pytest -q $(SINGLE_TESTS)

test-onnx-only: $(ONNX_VENV)/.dualsam-installed $(SINGLE_FIXTURES)/sources.json
	DUALSAM_SINGLE_FIXTURES=$(abspath $(SINGLE_FIXTURES)) $(ONNX_VENV)/bin/python -m pytest -q $(ONNX_TESTS)

test-tflite-only: $(TFLITE_VENV)/.dualsam-installed $(SINGLE_FIXTURES)/sources.json
	DUALSAM_SINGLE_FIXTURES=$(abspath $(SINGLE_FIXTURES)) $(TFLITE_VENV)/bin/python -m pytest -q $(TFLITE_TESTS)

test-single: test-torch-only test-tf-only test-onnx-only test-tflite-only

# The serve page in headless Chromium: Debian's chromium (as root, as CI runs) and Playwright's Python driver, which
# runs that browser through executable_path (it downloads none of its own). DUALSAM_SERVE_SCREENSHOT is the README's.
CHROMIUM ?= /usr/bin/chromium
test-browser: $(STAMP)
	test -x $(CHROMIUM) || { apt-get update -q && apt-get install -y -q chromium chromium-driver; }
	$(PY) -m pip install -q -c constraints.txt "playwright>=1.40"
	DUALSAM_CHROMIUM=$(CHROMIUM) DUALSAM_SERVE_SCREENSHOT=$(abspath docs/serve_page.png) \
		$(PY) -m pytest -q -m browser tests/test_serve_browser.py

# ruff (pinned in the test extra): lint rules and import order, as configured in pyproject.toml.
lint: $(STAMP)
	$(VENV)/bin/ruff check .
