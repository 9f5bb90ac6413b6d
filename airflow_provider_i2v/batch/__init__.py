"""What only the batch operator has: thousands of images in one task, one manifest.

Each item's paid create, its record and its wait go through the same modules as a single
task's (:mod:`airflow_provider_i2v.generation`); here live only:

* :mod:`.items`: reading ``images`` into items over shared defaults, and checking every one
  before the first create;
* :mod:`.finish`: after the wait, each item's outputs kept and record updated (one item's
  trouble is that item's failure);
* :mod:`.manifest`: the result: one line per item, totals, written to ``output_dir``.
"""
