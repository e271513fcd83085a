"""A study's results folder: the one owner of its file and folder names (read by the study command and the report).

study.json                               the study as planned, its estimate, and what has run
search/<variant>/<draw>/seed<k>/         stage 1 trials
selection.json                           per variant: every candidate with its value, and the chosen one
final/<variant>/{tuned,recipe}/seed<k>/  stage 2 trials; baselines under final/<name>/recipe/
"""

SEARCH, FINAL = "search", "final"  # the stages' folders
TUNED, RECIPE = "tuned", "recipe"  # stage 2's arms (the trial folder, and trial.json's "trial")
STUDY = "study.json"
SELECTION = "selection.json"
