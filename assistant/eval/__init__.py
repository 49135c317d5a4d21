"""`medassist eval`: how well the assistant does the job, agent against bare model, on any model.

Modules: `items` (one question), `suite` (the declarative suite files in configs/eval),
`readers` and `readers_sets` (published formats), `metrics` and `scoring` (per item and
per set), `runner` (bare and agent runs, JSONL, resume, budgets), `summary` and `plot`
(Markdown, JSON and PNG), `cli` (the subcommand).
"""
