"""Batch rendering: a queue folder of story files, rendered unattended and resumably.

`story` reads a story file (a full config, or a short one that extends a base config),
`queue` keeps each story's state in SQLite in the queue folder, with leases so that two
processes never render one story, and `runner` renders pending stories several at once.
The unit of work is `ttv.pipeline.run(config, run_dir)`, which knows nothing of queues.
"""
