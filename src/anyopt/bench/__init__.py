"""``anyopt bench``: time anyopt against each framework's own optimizers and a memory floor.

Modules: ``workloads`` (parameter trees and optimizer definitions), ``harness`` (timing,
state-size accounting, the anyopt step modes), ``floor`` (copy bandwidth), ``peers_*`` (one
per framework: its native optimizers and array conversion), ``report`` (console, JSON,
Markdown, PNG) and ``run`` (the command line). Importing this package imports no array
library; each framework is imported when its cases run.
"""
