"""The report's figures: one function per kind, used by every section (PNG, seaborn on matplotlib's Agg canvas).

canvas     the shared canvas, palette, placeholder and axis words
forest     a metric per group with its interval, seeds, letters and the scale's two ends
curves     a metric along training (against kimg or wall-clock), mean line and min-max band per group
samples    sample grids side by side
spread     each group's candidates over a search, the chosen one ringed
search     every candidate at every rung, and the expected best of k candidates
ranks      rank against budget
dynamics   losses, D outputs, throughput and memory
agreement  two studies' scales side by side
"""
