"""A study's results folder: the one owner of its file and folder names (read by the study command and the report).

study.json                               the study as planned: its analysis plan (and hash), its stages with their
                                         trials and selections, its estimate, and what has run ("format": 2)
<stage>/<variant>/<candidate>/seed<k>/   the trials of a candidate stage (search, successive-halving rungs)
final/<variant>/{tuned,recipe}/seed<k>/  the final stage's trials; baselines under final/<name>/recipe/
selection.json                           format 1 only: per variant, every candidate with its value, the chosen one
"""

SEARCH, FINAL = "search", "final"  # format 1's stages (and folders); format 2 names its stages in the study file
TUNED, RECIPE = "tuned", "recipe"  # the final stage's arms (the trial folder, and trial.json's "trial")
STUDY = "study.json"
SELECTION = "selection.json"  # format 1
SWEEP = "sweep.json"  # a sweep's results folder (ganbench sweep), read as a one-stage study by study.record
FORMAT = "format"  # study.json's key: 2 for a stage list (absent: format 1)
