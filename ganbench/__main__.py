"""`python -m ganbench ...`: the same command line as `ganbench ...`."""

from ganbench.commands import main

main()
