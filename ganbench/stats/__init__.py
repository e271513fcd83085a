"""Statistics over plain arrays of scores, below every other floor: nothing here knows about runs, metrics, studies
or reports, so the report's comparisons and a study's power calculation use the same functions.

  welch      t-interval, Welch's test, two one-sided tests of equivalence (TOST), Holm's correction, pairwise
  scale      the analysis scale: raw differences, or log values whose differences are ratios (FID, positive KID)
  ranktest   the exact Mann-Whitney test (adjacent ranks; arms with failed seeds) and its smallest possible p
  letters    the compact letter display of a set of pairwise decisions (Piepho 2004)
  rates      Clopper-Pearson intervals for a failure rate
  resample   bootstrap intervals: P(A better than B), Kendall's tau over seeds, expected best of k, rank correlation
"""
