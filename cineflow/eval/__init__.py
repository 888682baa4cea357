"""The Flatland benchmark (docs/eval.md): `cineflow eval`.

- suites.py: the suites and their cases, ground-truth scenes asked with held-out captions;
- run.py: sources (a model folder, the world's own render, that render through a VAE) -> frames -> the
  oracle's checks;
- stats.py: Wilson intervals for rates, Newcombe intervals for their differences;
- report.py: JSON + Markdown + HTML report, a frame strip per case.
"""
