"""Real-browser (JupyterLab + headless Chromium) tests; a package so helpers import as `.conftest`."""
