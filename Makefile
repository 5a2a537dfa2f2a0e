# dualsam developer entry points. Each target creates the virtual environment when it is missing.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.dualsam-installed

.PHONY: demo test test-slow bench install

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c constraints.txt -e ".[all,test]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(PY) examples/segment_point.py --out out/demo

test: $(STAMP)
	$(PY) -m pytest -q

# pytest exits 5 when a selection holds no tests: an error for `test`, accepted for the optional slow marker.
test-slow: $(STAMP)
	$(PY) -m pytest -q -m slow || { status=$$?; [ $$status -eq 5 ] && echo "no slow tests selected"; [ $$status -eq 5 ]; }

bench: $(STAMP)
	$(PY) bench/encoder.py
